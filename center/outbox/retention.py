"""Sent outbox rows are deleted after ``CENTER_OUTBOX_KEEP_DAYS`` (30).

A sent row has done its work: the message carries its delivery status, the customer's
timeline its ``delivery.*`` events, so the row is only the worker's bookkeeping. Left alone,
the table grows with every reply, SMS and callback ever sent, and every due-row look reads
past them. Failed and queued rows are kept (an agent may still resend a failed one). The
idempotency key goes with the row: a request replayed after the retention is a new one,
which no client retries that long.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from center.outbox.core import OUTBOX, OutboxStatus
from center.outbox.worker import Clock
from center.records.base import utcnow
from center.records.db import Database

BATCH = 1000  # rows a transaction: a long purge never holds SQLite's write lock for long


async def purge_sent(
    db: Database, *, keep: timedelta, clock: Clock = utcnow, batch: int = BATCH
) -> int:
    """Delete sent rows created before ``keep`` ago, a batch a transaction; how many."""
    old = (OUTBOX.c.status == OutboxStatus.SENT.value, OUTBOX.c.created_at < clock() - keep)
    async with db.read_step() as c:  # (an idle purge takes no write lock)
        if await c.scalar(select(OUTBOX.c.id).where(*old).limit(1)) is None:
            return 0
    total = 0
    while True:
        oldest = select(OUTBOX.c.id).where(*old).order_by(OUTBOX.c.id).limit(batch)
        async with db.step() as c:
            gone = (await c.execute(delete(OUTBOX).where(OUTBOX.c.id.in_(oldest)))).rowcount
        total += gone
        if gone < batch:
            return total
