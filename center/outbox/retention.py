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

from center.outbox.core import OUTBOX, OutboxStatus
from center.outbox.worker import Clock
from center.records.base import utcnow
from center.records.db import Database
from center.records.retention import BATCH, delete_in_batches


async def purge_sent(
    db: Database, *, keep: timedelta, clock: Clock = utcnow, batch: int = BATCH
) -> int:
    """Delete sent rows created before ``keep`` ago, a batch a transaction; how many."""
    old = (OUTBOX.c.status == OutboxStatus.SENT.value, OUTBOX.c.created_at < clock() - keep)
    return await delete_in_batches(db, OUTBOX, *old, batch=batch)
