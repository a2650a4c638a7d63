"""The webhook inbox: a signed, parsed webhook stored in ONE statement, acted on later.

``accept`` is all a handler writes before it answers Twilio (``INSERT … ON CONFLICT DO
NOTHING``: a replay is no second row). On PostgreSQL that statement runs in autocommit
(its own transaction, no BEGIN/COMMIT round trips). Nothing is acknowledged before it is
stored, so nothing acknowledged is lost. ``claim`` / ``finish`` are the processor's side
(center/channels/sms/drain.py): prebuilt Core statements, in id order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from center.records.base import utcnow
from center.records.db import Database
from center.records.models import TwilioInbox
from center.records.retention import BATCH, delete_in_batches

TABLE = TwilioInbox.__table__
C = TABLE.c
MAX_ERROR = 2000


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    key: str
    form: dict[str, Any]


def _insert(dialect: Any) -> Any:
    return (
        dialect.insert(TABLE)
        .on_conflict_do_nothing(index_elements=["kind", "sid", "status"])
        .returning(C.id)
    )


_INSERTS = {"postgresql": _insert(postgresql), "sqlite": _insert(sqlite)}
_PENDING = select(C.id, C.key, C.form).where(C.processed_at.is_(None), C.kind == bindparam("k"))
_BLOCKED = (
    select(C.key)
    .where(
        C.processed_at.is_(None),
        C.kind == bindparam("k"),
        C.id < bindparam("below"),
        C.id.not_in(bindparam("mine", expanding=True)),
        C.key.in_(bindparam("keys", expanding=True)),
    )
    .distinct()
)
_FINISH = (
    update(TABLE)
    .where(C.id == bindparam("row_id"))
    .values(processed_at=bindparam("at"), error=bindparam("err"))
)


async def accept(
    db: Database, kind: str, sid: str, fields: dict[str, Any], *, key: str = "", status: str = ""
) -> bool:
    """Store one webhook; True if new, False for a replay (already stored)."""
    values = {
        "kind": kind,
        "sid": sid,
        "status": status[:64],
        "key": key[:256],
        "form": fields,
        "received_at": utcnow(),
    }
    stmt = _INSERTS[db.dialect]
    if db.single_statement_steps:
        async with db.statement() as c:
            return (await c.execute(stmt, values)).first() is not None
    async with db.step() as c:
        return (await c.execute(stmt, values)).first() is not None


async def claim(c: AsyncConnection, kind: str, limit: int) -> list[Row]:
    """The oldest unprocessed rows of ``kind``, at most ``limit``, in id order.

    PostgreSQL: locked in ``c``'s transaction (``FOR UPDATE SKIP LOCKED``, so processes
    share the work), minus any row whose sender has an earlier row still unprocessed
    outside this claim (another process holds it): one customer's texts stay in order.
    SQLite: one writer, one processor per database; a plain read."""
    pending = _PENDING.order_by(C.id).limit(limit)
    if c.dialect.name != "postgresql":
        rows = (await c.execute(pending, {"k": kind})).all()
        return [Row(r.id, r.key, r.form) for r in rows]
    rows = (await c.execute(pending.with_for_update(skip_locked=True), {"k": kind})).all()
    if not rows:
        return []
    mine = [r.id for r in rows]
    keys = sorted({r.key for r in rows})
    blocked = set(
        (
            await c.execute(_BLOCKED, {"k": kind, "below": max(mine), "mine": mine, "keys": keys})
        ).scalars()
    )
    return [Row(r.id, r.key, r.form) for r in rows if r.key not in blocked]


async def finish(c: AsyncConnection, done: Sequence[tuple[int, str | None]]) -> None:
    """Mark rows processed (with the error, if acting on one raised): never claimed again."""
    if done:
        at = utcnow()
        await c.execute(
            _FINISH,
            [{"row_id": i, "at": at, "err": None if e is None else e[:MAX_ERROR]} for i, e in done],
        )


async def purge_processed(db: Database, *, keep: timedelta, batch: int = BATCH) -> int:
    """Delete rows acted on without error before ``keep`` ago (the message, its events and
    the replay guard hold what they did); failed rows stay for whoever looks into them."""
    old = (C.processed_at < utcnow() - keep, C.error.is_(None))
    return await delete_in_batches(db, TABLE, *old, batch=batch)


async def pending(db: Database, kind: str) -> int:
    """How many rows of ``kind`` wait (for tests, the bench and health)."""
    from sqlalchemy import func

    async with db.read_step() as c:
        n = await c.scalar(select(func.count()).where(C.processed_at.is_(None), C.kind == kind))
    return int(n or 0)
