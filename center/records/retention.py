"""Deleting rows that have done their work, a batch a transaction.

Used for sent outbox rows (center/outbox/retention.py) and acted-on webhooks
(center/channels/twilio/inbox.py). A read first: an idle purge takes no write lock
(SQLite) and locks nothing; then batches, so a long purge never holds SQLite's one write
lock (or a PostgreSQL row range) for long.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, delete, select

from center.records.db import Database

BATCH = 1000


async def delete_in_batches(db: Database, table: Table, *where: Any, batch: int = BATCH) -> int:
    """Delete the rows matching ``where``, oldest id first, ``batch`` a transaction; how many."""
    async with db.read_step() as c:
        if await c.scalar(select(table.c.id).where(*where).limit(1)) is None:
            return 0
    total = 0
    while True:
        oldest = select(table.c.id).where(*where).order_by(table.c.id).limit(batch)
        async with db.step() as c:
            gone = (await c.execute(delete(table).where(table.c.id.in_(oldest)))).rowcount
        total += gone
        if gone < batch:
            return total
