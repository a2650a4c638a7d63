"""The SLA loop: warnings and breaches that came due become timeline events.

Each look claims the tickets whose ``sla_check_at`` has passed (PostgreSQL: ``FOR UPDATE
SKIP LOCKED``, so several processes share the work; SQLite: one writer at a time), writes
the events and the new flags and next check in the same transaction. An event is written
once: the flag that says it was given changes in the same statement's transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from center.records import events
from center.records.base import utcnow
from center.records.db import Database
from center.records.enums import TicketStatus
from center.tickets import clocks
from center.tickets import events as te
from center.tickets.service import TICKETS

Clock = Callable[[], datetime]
# Told after commit with [{ticket_id, number, target, kind, due_at, assignee_id}, ...].
Notify = Callable[[list[dict[str, Any]]], Awaitable[None]]


class SlaMonitor:
    def __init__(
        self,
        db: Database,
        *,
        clock: Clock = utcnow,
        notify: Notify | None = None,
        batch: int = 200,
        close_after: timedelta | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.notify = notify
        self.batch = batch
        # A solved ticket nobody reopened within this long is closed (None: never).
        self.close_after = close_after

    async def _any(self, *where: Any) -> bool:
        """A read first: an idle loop takes no write lock (SQLite) and locks no rows."""
        async with self.db.read_step() as c:
            return await c.scalar(select(TICKETS.c.id).where(*where).limit(1)) is not None

    async def step(self) -> None:
        """One turn of the loop: SLA warnings and breaches, then solved tickets to close."""
        await self.check()
        await self.close_solved()

    async def close_solved(self) -> int:
        """Close solved tickets older than ``close_after`` (ticket.status_changed, reason
        "auto_close"); a later reply to one opens a follow-up ticket."""
        if self.close_after is None:
            return 0
        now = self.clock()
        due = (
            TICKETS.c.status == TicketStatus.SOLVED.value,
            TICKETS.c.solved_at <= now - self.close_after,
        )
        if not await self._any(*due):
            return 0
        stmt = (
            select(TICKETS.c.id, TICKETS.c.customer_id)
            .where(*due)
            .order_by(TICKETS.c.id)
            .limit(self.batch)
        )
        if self.db.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        async with self.db.step() as c:
            found = (await c.execute(stmt)).all()
            if not found:
                return 0
            await c.execute(
                update(TICKETS)
                .where(TICKETS.c.id.in_([r.id for r in found]))
                .values(status=TicketStatus.CLOSED.value, closed_at=now, updated_at=now)
            )
            await events.write(
                c,
                *(
                    te.ticket_row(
                        te.StatusChanged(old="solved", new="closed", reason="auto_close"),
                        customer_id=r.customer_id,
                        ticket_id=r.id,
                    )
                    for r in found
                ),
            )
        return len(found)

    async def check(self) -> list[dict[str, Any]]:
        """One look: the warnings and breaches given (also written to the timeline)."""
        now = self.clock()
        due = (
            TICKETS.c.sla_check_at <= now,
            TICKETS.c.status.in_([TicketStatus.OPEN.value, TicketStatus.PENDING.value]),
        )
        said: list[dict[str, Any]] = []
        if not await self._any(*due):
            return said
        stmt = select(TICKETS).where(*due).order_by(TICKETS.c.sla_check_at).limit(self.batch)
        if self.db.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        async with self.db.step() as c:
            for row in (await c.execute(stmt)).all():
                t = row._mapping
                flags, changes = clocks.evaluate(t["sla_flags"] or {}, now)
                rows = []
                for target, kind, due in changes:
                    payload = (te.SlaBreached if kind == "breach" else te.SlaWarning)(
                        target=target, due_at=due
                    )
                    rows.append(
                        te.ticket_row(payload, customer_id=t["customer_id"], ticket_id=t["id"])
                    )
                    said.append(
                        {
                            "ticket_id": t["id"],
                            "number": t["number"],
                            "target": target,
                            "kind": kind,
                            "due_at": due,
                            "assignee_id": t["assignee_id"],
                        }
                    )
                await c.execute(
                    update(TICKETS)
                    .where(TICKETS.c.id == t["id"])
                    .values(sla_flags=flags, sla_check_at=clocks.next_check(flags))
                )
                await events.write(c, *rows)
        if said and self.notify is not None:
            await self.notify(said)
        return said
