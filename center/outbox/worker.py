"""The outbox worker every process runs: claim due rows, send, record the outcome.

How a row is sent exactly once, whatever crashes:

1. **Claim** (one transaction, committed before anything is sent): due ``queued`` rows
   become ``sending`` with ``attempts + 1``, this worker's id and a lease
   (``lease_until``). PostgreSQL: ``FOR UPDATE SKIP LOCKED`` in the claiming UPDATE, so
   two processes never claim the same row; SQLite: the claim is one ``BEGIN IMMEDIATE``
   write transaction, and SQLite runs one writer at a time, so the same holds.
2. **Send** outside any transaction, bounded by ``send_timeout_s`` (< the lease).
3. **Record** (one transaction): the row's outcome, the linked message's
   ``meta["delivery"]`` and the timeline event together, only if this worker still
   holds the lease (``status = 'sending' AND lease_owner = me``).
4. **After a crash** between 1 and 3 the row stays ``sending`` until its lease expires;
   then the next worker decides: a sender that declares itself ``idempotent`` (the
   provider dedupes on the row's key) gets the row back as ``queued``; any other row
   becomes ``failed`` with the reason "interrupted", because it may already have left and
   sending it again could deliver it twice. The agent sees that and may resend
   (``requeue``). Nothing is deleted, so nothing is lost.

An outage (``RetryableSendError``) puts the row back to ``queued`` with exponential
backoff until ``max_attempts``; then it fails with the last reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from center import loops
from center.outbox.core import (
    OUTBOX,
    Item,
    OutboxKind,
    OutboxStatus,
    PermanentSendError,
    RetryableSendError,
    Sender,
    set_delivery,
)
from center.records import events
from center.records.base import utcnow
from center.records.db import Database
from center.records.enums import ActorKind

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
# Told after each recorded outcome (after commit): the console's queued -> sent / failed.
Notify = Callable[[dict[str, Any]], Awaitable[None]]


class DeliveryEvent(StrEnum):
    SENT = "delivery.sent"
    RETRYING = "delivery.retrying"
    FAILED = "delivery.failed"
    REQUEUED = "delivery.requeued"


@dataclass(frozen=True, slots=True)
class DeliveryPayload(events.Payload):
    type: ClassVar[Any] = DeliveryEvent.SENT
    outbox_id: int
    kind: str
    message_id: int | None
    attempts: int
    reason: str | None = None
    result: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Sent(DeliveryPayload):
    type: ClassVar[Any] = DeliveryEvent.SENT


@dataclass(frozen=True, slots=True)
class Retrying(DeliveryPayload):
    type: ClassVar[Any] = DeliveryEvent.RETRYING


@dataclass(frozen=True, slots=True)
class Failed(DeliveryPayload):
    type: ClassVar[Any] = DeliveryEvent.FAILED


@dataclass(frozen=True, slots=True)
class Requeued(DeliveryPayload):
    type: ClassVar[Any] = DeliveryEvent.REQUEUED


@dataclass
class WorkerOptions:
    batch: int = 20
    poll_s: float = 1.0
    lease_s: float = 120.0
    send_timeout_s: float = 60.0  # must stay below lease_s
    max_attempts: int = 8
    backoff_first_s: float = 10.0
    backoff_max_s: float = 3600.0


@dataclass
class OutboxWorker:
    db: Database
    senders: Mapping[OutboxKind, Sender]
    options: WorkerOptions = field(default_factory=WorkerOptions)
    clock: Clock = utcnow
    notify: Notify | None = None
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    # SQLite has one writer: outcomes recorded concurrently would wait in its busy handler
    # (which sleeps), so this process records them one at a time there.
    _writing: asyncio.Lock = field(default_factory=asyncio.Lock)

    def backoff(self, attempts: int) -> timedelta:
        delay = self.options.backoff_first_s * (2 ** max(0, attempts - 1))
        return timedelta(seconds=min(self.options.backoff_max_s, delay))

    def wake(self) -> None:
        """Send now rather than at the next poll (call after committing an enqueue)."""
        self._wake.set()

    async def run(self) -> None:
        backoff = loops.Backoff("outbox worker")
        while True:
            # (Cleared before looking: a row enqueued while this turn runs wakes the next.)
            self._wake.clear()
            try:
                busy = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await loops.pause(max(self.options.poll_s, backoff.failed(exc)))
                continue
            backoff.succeeded()
            if busy:
                continue
            await loops.woken_or_after(self._wake, self.options.poll_s)

    async def run_once(self) -> int:
        """Recover expired leases, claim due rows, send them; how many were handled."""
        if not await self._anything_due():
            return 0
        await self.recover()
        items = await self.claim()
        if items:
            await asyncio.gather(*(self._send_one(i) for i in items))
        return len(items)

    async def _anything_due(self) -> bool:
        """A read first (no write lock on SQLite, no row locks on PostgreSQL): an idle
        worker polling every second must not take the database's write lock each time."""
        kinds = [k.value for k in self.senders]
        if not kinds:
            return False
        now = self.clock()
        due = or_(
            and_(OUTBOX.c.status == OutboxStatus.QUEUED.value, OUTBOX.c.next_attempt_at <= now),
            and_(OUTBOX.c.status == OutboxStatus.SENDING.value, OUTBOX.c.lease_until < now),
        )
        async with self.db.read_step() as c:
            found = await c.scalar(
                select(OUTBOX.c.id).where(due, OUTBOX.c.kind.in_(kinds)).limit(1)
            )
        return found is not None

    # -- claim ---------------------------------------------------------------------------

    async def claim(self) -> list[Item]:
        kinds = [k.value for k in self.senders]
        if not kinds:
            return []
        now = self.clock()
        due = (
            select(OUTBOX.c.id)
            .where(
                OUTBOX.c.status == OutboxStatus.QUEUED.value,
                OUTBOX.c.next_attempt_at <= now,
                OUTBOX.c.kind.in_(kinds),
            )
            .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
            .limit(self.options.batch)
        )
        if self.db.dialect == "postgresql":
            due = due.with_for_update(skip_locked=True)
        stmt = (
            update(OUTBOX)
            .where(OUTBOX.c.id.in_(due.scalar_subquery()))
            .values(
                status=OutboxStatus.SENDING.value,
                attempts=OUTBOX.c.attempts + 1,
                lease_owner=self.owner,
                lease_until=now + timedelta(seconds=self.options.lease_s),
            )
            .returning(OUTBOX)
        )
        async with self.db.step() as c:
            rows = (await c.execute(stmt)).all()
        return sorted((Item.from_row(r) for r in rows), key=lambda i: i.id)

    # -- send and record -----------------------------------------------------------------

    async def _send_one(self, item: Item) -> None:
        sender = self.senders[item.kind]
        try:
            async with asyncio.timeout(self.options.send_timeout_s):
                result = await sender.send(item)
        except RetryableSendError as exc:
            await self._retry_or_fail(item, exc.reason)
        except PermanentSendError as exc:
            await self._finish(item, OutboxStatus.FAILED, reason=exc.reason)
        except TimeoutError:
            # It may have been handed over before the timeout: only an idempotent sender
            # may try again.
            reason = f"timed out after {self.options.send_timeout_s:g} s"
            if getattr(sender, "idempotent", False):
                await self._retry_or_fail(item, reason)
            else:
                await self._finish(item, OutboxStatus.FAILED, reason=f"{reason}; not resent")
        except Exception as exc:  # a bug in a sender: kept as a retryable reason
            log.exception("outbox sender for %s failed on row %d", item.kind, item.id)
            await self._retry_or_fail(item, f"sender error: {exc!r}"[:500])
        else:
            await self._finish(item, OutboxStatus.SENT, result=result or {})

    async def _retry_or_fail(self, item: Item, reason: str) -> None:
        if item.attempts >= self.options.max_attempts:
            await self._finish(item, OutboxStatus.FAILED, reason=reason)
        else:
            await self._finish(item, OutboxStatus.QUEUED, reason=reason)

    async def _finish(
        self,
        item: Item,
        status: OutboxStatus,
        *,
        reason: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> None:
        now = self.clock()
        values: dict[str, Any] = {
            "status": status.value,
            "lease_owner": None,
            "lease_until": None,
            "last_error": reason,
        }
        delivery: dict[str, Any] = {"status": status.value, "attempts": item.attempts}
        if status is OutboxStatus.SENT:
            values.update(sent_at=now, result=result)
            delivery.update(sent_at=now.isoformat(), result=result)
            payload: DeliveryPayload = Sent(
                item.id, item.kind.value, item.message_id, item.attempts, result=result
            )
        elif status is OutboxStatus.QUEUED:
            at = now + self.backoff(item.attempts)
            values["next_attempt_at"] = at
            delivery.update(reason=reason, next_attempt_at=at.isoformat())
            payload = Retrying(item.id, item.kind.value, item.message_id, item.attempts, reason)
        else:
            delivery.update(reason=reason, failed_at=now.isoformat())
            payload = Failed(item.id, item.kind.value, item.message_id, item.attempts, reason)
        async with self._record_lock(), self.db.step() as c:
            done = await c.execute(
                update(OUTBOX)
                .where(
                    OUTBOX.c.id == item.id,
                    OUTBOX.c.status == OutboxStatus.SENDING.value,
                    OUTBOX.c.lease_owner == self.owner,
                )
                .values(**values)
            )
            if done.rowcount != 1:  # the lease was taken from us: the other worker decides
                log.warning("outbox row %d: lease lost before its outcome was recorded", item.id)
                return
            await _record(c, item.customer_id, item.ticket_id, item.interaction_id, payload)
            if item.message_id is not None:
                await set_delivery(c, item.message_id, delivery)
        await self._tell(item, delivery)

    def _record_lock(self) -> Any:
        return self._writing if self.db.dialect == "sqlite" else contextlib.nullcontext()

    async def recover(self) -> int:
        """Rows whose worker died mid-send (lease expired): back to queued if their sender
        is idempotent, else failed as interrupted (see the module's docstring)."""
        now = self.clock()
        stmt = select(OUTBOX).where(
            OUTBOX.c.status == OutboxStatus.SENDING.value, OUTBOX.c.lease_until < now
        )
        if self.db.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        told: list[tuple[Item, dict[str, Any]]] = []
        async with self.db.step() as c:
            for row in (await c.execute(stmt)).all():
                item = Item.from_row(row)
                sender = self.senders.get(item.kind)
                if sender is not None and getattr(sender, "idempotent", False):
                    await c.execute(
                        update(OUTBOX)
                        .where(OUTBOX.c.id == item.id)
                        .values(status="queued", lease_owner=None, lease_until=None)
                    )
                    continue
                reason = "interrupted while sending (the process stopped); not resent automatically"
                await c.execute(
                    update(OUTBOX)
                    .where(OUTBOX.c.id == item.id)
                    .values(status="failed", lease_owner=None, lease_until=None, last_error=reason)
                )
                delivery = {"status": "failed", "reason": reason, "attempts": item.attempts}
                payload = Failed(item.id, item.kind.value, item.message_id, item.attempts, reason)
                await _record(c, item.customer_id, item.ticket_id, item.interaction_id, payload)
                if item.message_id is not None:
                    await set_delivery(c, item.message_id, delivery)
                told.append((item, delivery))
        for item, delivery in told:
            await self._tell(item, delivery)
        return len(told)

    async def _tell(self, item: Item, delivery: dict[str, Any]) -> None:
        if self.notify is None:
            return
        notice = {
            "outbox_id": item.id,
            "kind": item.kind.value,
            "message_id": item.message_id,
            "ticket_id": item.ticket_id,
            "interaction_id": item.interaction_id,
            "delivery": delivery,
        }
        try:
            await self.notify(notice)
        except Exception:  # a lost notice, never a lost record (the console can re-read)
            log.warning("outbox notice for row %d not delivered", item.id, exc_info=True)


async def requeue(conn: AsyncConnection, item_id: int, *, actor_id: int | None) -> bool:
    """A failed row back to queued (the agent's "resend"); False if it was not failed."""
    row = (
        await conn.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == item_id, OUTBOX.c.status == OutboxStatus.FAILED.value)
            .values(status="queued", next_attempt_at=utcnow(), last_error=None)
            .returning(OUTBOX)
        )
    ).first()
    if row is None:
        return False
    item = Item.from_row(row)
    payload = Requeued(item.id, item.kind.value, item.message_id, item.attempts)
    await _record(conn, item.customer_id, item.ticket_id, item.interaction_id, payload, actor_id)
    if item.message_id is not None:
        await set_delivery(conn, item.message_id, {"status": "queued", "attempts": item.attempts})
    return True


async def _record(
    conn: AsyncConnection,
    customer_id: int | None,
    ticket_id: int | None,
    interaction_id: int | None,
    payload: DeliveryPayload,
    actor_id: int | None = None,
) -> None:
    row = events.row(
        payload,
        customer_id=customer_id,
        actor_kind=ActorKind.AGENT if actor_id else ActorKind.SYSTEM,
        actor_id=actor_id,
    )
    row.update(ticket_id=ticket_id, interaction_id=interaction_id)
    await events.write(conn, row)
