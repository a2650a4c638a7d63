"""Webhook replays: the same (Sid, status) makes one record and one event.

``first_delivery`` inserts the pair in the caller's transaction (``Database.step()``) with
``ON CONFLICT DO NOTHING``; the step acts only when it returns True. A replay racing the
original waits on the unique index and then finds the row, so two processes never both act.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from center.records.base import utcnow
from center.records.models import TwilioWebhook

TABLE = TwilioWebhook.__table__
# Built once per dialect (every status callback runs one): see center/interactions/rows.py.
_FIRST = {
    d.dialect.name: d.insert(TABLE)
    .on_conflict_do_nothing(index_elements=["sid", "status"])
    .returning(TABLE.c.id)
    for d in (postgresql, sqlite)
}
_SEEN = select(TABLE.c.id).where(
    TABLE.c.sid == bindparam("b_sid"), TABLE.c.status == bindparam("b_status")
)


async def first_delivery(conn: AsyncConnection, sid: str, status: str) -> bool:
    """True the first time (sid, status) is seen; False for a replay."""
    stmt = _FIRST["postgresql" if conn.dialect.name == "postgresql" else "sqlite"]
    values = {"sid": sid, "status": status[:64], "received_at": utcnow()}
    return (await conn.execute(stmt, values)).first() is not None


async def seen(conn: AsyncConnection, sid: str, status: str) -> bool:
    """Whether (sid, status) was handled already: a read, so a replay can be answered
    without a write transaction (``first_delivery`` stays the guard that decides)."""
    found = await conn.scalar(_SEEN, {"b_sid": sid, "b_status": status[:64]})
    return found is not None


def guard_cte(source: str) -> str:
    """The replay guard as a CTE ``g`` of a one-statement step: a row per (``:sid``,
    ``:status``) the first time, from the rows of ``source`` (none: nothing to guard);
    ``g`` is empty for a replay, so what selects from it writes nothing. Binds: ``:sid``,
    ``:status``, ``:now``."""
    return f"""g AS (
    INSERT INTO {TABLE.name} (sid, status, received_at)
    SELECT CAST(:sid AS varchar), CAST(:status AS varchar), CAST(:now AS timestamptz)
    FROM {source}
    ON CONFLICT (sid, status) DO NOTHING
    RETURNING id
)"""
