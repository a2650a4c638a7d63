"""Webhook replays: the same (Sid, status) makes one record and one event.

``first_delivery`` inserts the pair in the caller's transaction (``Database.step()``) with
``ON CONFLICT DO NOTHING``; the step acts only when it returns True. A replay racing the
original waits on the unique index and then finds the row, so two processes never both act.
"""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from center.records.base import utcnow
from center.records.models import TwilioWebhook

TABLE = TwilioWebhook.__table__


async def first_delivery(conn: AsyncConnection, sid: str, status: str) -> bool:
    """True the first time (sid, status) is seen; False for a replay."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(TABLE)
        .values(sid=sid, status=status[:64], received_at=utcnow())
        .on_conflict_do_nothing(index_elements=["sid", "status"])
        .returning(TABLE.c.id)
    )
    return (await conn.execute(stmt)).first() is not None
