"""Outbox benchmark: rows/s enqueued and sent through the real worker, beside an anchor.

    python bench/outbox.py                       # SQLite file in a temporary directory
    CENTER_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test python bench/outbox.py

N rows (each with its outbound message) are enqueued in transactions of 50, then sent by
``OutboxWorker.run_once`` with a sender that answers at once, so what is measured is the
outbox's own cost: claim (one UPDATE per batch), and per row one transaction recording the
outcome, the message's delivery meta and the timeline event. The anchor, in the same run on
the same database: the bare minimum a durable per-row outcome costs, one transaction per
row with a single UPDATE. Figures only: nothing here asserts on timing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text, update

from center.outbox import Item, OutboxKind, OutboxWorker, WorkerOptions, enqueue
from center.outbox.core import OUTBOX
from center.records.base import utcnow
from center.records.db import Database
from center.records.enums import Channel, Direction, InteractionState
from center.records.models import Customer, Interaction, Message


class Instant:
    idempotent = False

    async def send(self, item: Item) -> dict[str, Any]:
        return {"ok": True}


async def main(rows: int, batch: int) -> None:
    url = os.environ.get("CENTER_DATABASE_URL")
    schema = None
    tmp = tempfile.TemporaryDirectory()
    if url:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
    else:
        url = f"sqlite+aiosqlite:///{Path(tmp.name) / 'bench.db'}"
    db = Database(url, schema=schema)
    await db.migrate()
    try:
        async with db.step() as c:
            cid = (
                await c.execute(
                    insert(Customer.__table__).values(created_at=utcnow()).returning(text("id"))
                )
            ).scalar_one()
            iid = (
                await c.execute(
                    insert(Interaction.__table__)
                    .values(customer_id=cid, channel=Channel.EMAIL, state=InteractionState.ASSIGNED,
                            queue="default", priority=0, required_skills={}, created_at=utcnow())
                    .returning(text("id"))
                )
            ).scalar_one()  # fmt: skip
        messages = []
        t0 = time.perf_counter()
        for start in range(0, rows, 50):
            async with db.step() as c:
                for n in range(start, min(rows, start + 50)):
                    mid = (
                        await c.execute(
                            insert(Message.__table__)
                            .values(interaction_id=iid, direction=Direction.OUTBOUND, body="x",
                                    content_type="text/plain", meta={}, created_at=utcnow())
                            .returning(text("id"))
                        )
                    ).scalar_one()  # fmt: skip
                    messages.append(mid)
                    await enqueue(c, OutboxKind.EMAIL, {"n": n}, key=f"b{n}", customer_id=cid,
                                  interaction_id=iid, message_id=mid)  # fmt: skip
        enqueue_s = time.perf_counter() - t0
        worker = OutboxWorker(db, {OutboxKind.EMAIL: Instant()}, WorkerOptions(batch=batch))
        t0 = time.perf_counter()
        sent = 0
        while n := await worker.run_once():
            sent += n
        send_s = time.perf_counter() - t0
        # Anchor: one transaction and one UPDATE per row, nothing else.
        t0 = time.perf_counter()
        for mid in messages:
            async with db.step() as c:
                await c.execute(
                    update(OUTBOX)
                    .where(OUTBOX.c.message_id == mid)
                    .values(attempts=OUTBOX.c.attempts)
                )
        anchor_s = time.perf_counter() - t0
        print(f"backend: {db.dialect}; rows: {rows}; worker batch: {batch}")
        print(f"enqueue (with its message, 50 per transaction): {rows / enqueue_s:8.0f} rows/s")
        print(f"sent through the worker:                        {sent / send_s:8.0f} rows/s")
        print(f"anchor (1 transaction + 1 UPDATE per row):      {rows / anchor_s:8.0f} rows/s")
        print(f"worker / anchor:                                {anchor_s / send_s:8.2f}")
    finally:
        if schema:
            async with db.engine.begin() as c:
                await c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await db.dispose()
        tmp.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.batch))
