"""The one durable outbox: kinds, statuses, errors, the Sender protocol, ``enqueue``.

Outbound work (a reply e-mail, an SMS, a call, a webhook) is a row inserted in the same
transaction as the change that asks for it: if the change commits, the work exists; if it
rolls back, nothing is sent. A worker (``center.outbox.worker``) sends it afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from aiohttp import web
from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from center.outbox.models import OutboxItem
from center.records.base import utcnow
from center.records.models import Message

OUTBOX = OutboxItem.__table__
MESSAGES = Message.__table__


class OutboxKind(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    CALL = "call"
    WEBHOOK = "webhook"


class OutboxStatus(StrEnum):
    QUEUED = "queued"  # waiting for its next attempt (first or retry)
    SENDING = "sending"  # a worker holds the lease and is sending now
    SENT = "sent"
    FAILED = "failed"  # permanent: the reason is in last_error


class RetryableSendError(Exception):
    """The provider is away or said "try later" (SMTP 4xx, HTTP 5xx/429, a timeout before
    anything was handed over): the row is retried with exponential backoff."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PermanentSendError(Exception):
    """The provider refused for good (SMTP 5xx, a bad number): the row fails, reason kept."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Item:
    """What a Sender is given: one claimed outbox row."""

    id: int
    kind: OutboxKind
    key: str
    payload: dict[str, Any]
    attempts: int  # including this one (1 on the first try)
    customer_id: int | None
    interaction_id: int | None
    ticket_id: int | None
    message_id: int | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Item:
        m = row._mapping
        return cls(
            id=m["id"],
            kind=OutboxKind(m["kind"]),
            key=m["key"],
            payload=m["payload"] or {},
            attempts=m["attempts"],
            customer_id=m["customer_id"],
            interaction_id=m["interaction_id"],
            ticket_id=m["ticket_id"],
            message_id=m["message_id"],
            created_at=m["created_at"],
        )


class Sender(Protocol):
    """Sends one kind of outbox item. Returns the provider's result (stored on the row and
    in the message's delivery meta: an SMTP reply, a Twilio SID); raises
    RetryableSendError or PermanentSendError.

    ``idempotent``: True only when sending the same item twice cannot reach the recipient
    twice (the provider dedupes on ``item.key``). A row whose send was interrupted by a
    crash is retried only for such senders; for the others it fails as "interrupted"
    (the agent may resend), because we cannot know whether it left."""

    idempotent: bool

    async def send(self, item: Item) -> dict[str, Any]: ...


# kind -> Sender; filled at app build by each channel (register_sender).
SENDERS = web.AppKey("outbox_senders", dict)


def register_sender(app: web.Application, kind: OutboxKind, sender: Sender) -> None:
    """A channel adapter's sender for ``kind``, called while the app is built."""
    app.setdefault(SENDERS, {})[OutboxKind(kind)] = sender


def senders(app: web.Application) -> dict[OutboxKind, Sender]:
    return app.setdefault(SENDERS, {})


async def enqueue(
    conn: AsyncConnection,
    kind: OutboxKind,
    payload: dict[str, Any],
    *,
    key: str,
    customer_id: int | None,
    interaction_id: int | None = None,
    ticket_id: int | None = None,
    message_id: int | None = None,
    not_before: datetime | None = None,
) -> int:
    """Insert an outbox row in the caller's transaction; the row's id.

    ``key`` is an idempotency key: the same key again (a webhook retried, a request
    replayed) is a no-op returning the first row's id. ``not_before`` delays the first try.
    """
    now = utcnow()
    values = {
        "kind": OutboxKind(kind).value,
        "key": key,
        "payload": payload,
        "status": OutboxStatus.QUEUED.value,
        "attempts": 0,
        "next_attempt_at": not_before or now,
        "customer_id": customer_id,
        "interaction_id": interaction_id,
        "ticket_id": ticket_id,
        "message_id": message_id,
        "created_at": now,
    }
    dialect = conn.dialect.name
    stmt: Any
    if dialect == "postgresql":
        stmt = (
            postgresql.insert(OUTBOX).values(values).on_conflict_do_nothing(index_elements=["key"])
        )
    elif dialect == "sqlite":
        stmt = sqlite.insert(OUTBOX).values(values).on_conflict_do_nothing(index_elements=["key"])
    else:  # pragma: no cover - only the two backends are supported
        stmt = insert(OUTBOX).values(values)
    row = (await conn.execute(stmt.returning(OUTBOX.c.id))).first()
    if row is not None:
        if message_id is not None:  # the console shows "queued" from the start
            await set_delivery(
                conn, message_id, {"status": OutboxStatus.QUEUED.value, "attempts": 0}
            )
        return int(row[0])
    existing = await conn.scalar(select(OUTBOX.c.id).where(OUTBOX.c.key == key))
    return int(existing)


async def status_of(conn: AsyncConnection, item_id: int) -> dict[str, Any] | None:
    """An outbox row's public state: status, attempts, last_error, result, times."""
    row = (await conn.execute(select(OUTBOX).where(OUTBOX.c.id == item_id))).first()
    return None if row is None else outbox_json(row._mapping)


def outbox_json(m: Any) -> dict[str, Any]:
    return {
        "id": m["id"],
        "kind": m["kind"],
        "status": m["status"],
        "attempts": m["attempts"],
        "last_error": m["last_error"],
        "next_attempt_at": m["next_attempt_at"].isoformat() if m["next_attempt_at"] else None,
        "sent_at": m["sent_at"].isoformat() if m["sent_at"] else None,
        "result": m["result"],
        "message_id": m["message_id"],
    }


async def set_delivery(conn: AsyncConnection, message_id: int, delivery: dict[str, Any]) -> None:
    """``messages.meta["delivery"]`` = ``delivery`` (the row is locked: read, merge, write)."""
    stmt = select(MESSAGES.c.meta).where(MESSAGES.c.id == message_id)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    meta = await conn.scalar(stmt)
    if meta is None and not await conn.scalar(
        select(MESSAGES.c.id).where(MESSAGES.c.id == message_id)
    ):
        return
    merged = {**(meta or {}), "delivery": delivery}
    await conn.execute(update(MESSAGES).where(MESSAGES.c.id == message_id).values(meta=merged))
