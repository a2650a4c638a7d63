"""Sent outbox rows go after the retention; failed, queued and recent ones stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from center.outbox import OutboxKind, enqueue
from center.outbox.core import OUTBOX
from center.outbox.retention import purge_sent
from center.records.base import utcnow
from tests.tickets.support import make_customer


async def test_only_sent_rows_older_than_the_retention_are_deleted(db) -> None:
    customer = await make_customer(db)
    now = utcnow()
    rows = {  # key -> (status, age in days)
        "old-sent-1": ("sent", 40), "old-sent-2": ("sent", 31), "new-sent": ("sent", 29),
        "old-failed": ("failed", 40), "old-queued": ("queued", 40),
    }  # fmt: skip
    async with db.step() as c:
        for key, (status, days) in rows.items():
            row_id = await enqueue(c, OutboxKind.WEBHOOK, {}, key=key, customer_id=customer)
            await c.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id == row_id)
                .values(status=status, created_at=now - timedelta(days=days))
            )
    # Batches of 1: the loop goes on until a batch comes back short.
    assert await purge_sent(db, keep=timedelta(days=30), batch=1) == 2
    async with db.read_step() as c:
        left = set(await c.scalars(select(OUTBOX.c.key)))
    assert left == {"new-sent", "old-failed", "old-queued"}
    assert await purge_sent(db, keep=timedelta(days=30)) == 0  # nothing more (read only)
