"""Statement benchmark: the CPU one hot-path statement costs the process, beside the driver.

    python bench/statements.py                   # SQLite file in a temporary directory
    CENTER_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test python bench/statements.py

N times, one after another, a hot-path write (a customer row inserted, RETURNING its id) and
a read (an interaction by id), each as its own step, three ways in the same run:
  engine   through SQLAlchemy's async engine (a pooled connection per step, as before);
  step     as the hot path runs them (``Database.statement()``/``read_step()`` on PostgreSQL:
           center/records/pg_call.py; ``Database.run_step`` on SQLite: sqlite_call.py);
  driver   the anchor: the same SQL on one bare asyncpg / aiosqlite connection (on SQLite
           the write's BEGIN IMMEDIATE, INSERT and COMMIT are three calls on its thread,
           where a one-call step makes one).
Prints CPU (process time) and wall time per statement, and each as a ratio of the driver's.
Figures only: nothing here asserts on timing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.engine import make_url

from center.interactions import rows
from center.records.base import utcnow
from center.records.db import Database
from center.records.models import Customer

CUSTOMERS = Customer.__table__
INSERT = insert(CUSTOMERS).returning(CUSTOMERS.c.id)
READ = select(rows.INTERACTIONS).where(rows.INTERACTIONS.c.id == bindparam("b_id"))


async def timed(n: int, op: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    for _ in range(min(200, n)):  # (warm: connections made, statements prepared)
        await op()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        await op()
    return (time.process_time() - cpu) / n * 1e6, (time.perf_counter() - wall) / n * 1e6


async def main(n: int) -> None:
    url = os.environ.get("CENTER_DATABASE_URL")
    tmp = tempfile.TemporaryDirectory()
    schema = f"bench_{uuid.uuid4().hex[:8]}" if url else None
    url = url or f"sqlite+aiosqlite:///{Path(tmp.name) / 'bench.db'}"
    db = Database(url, schema=schema)
    await db.migrate()
    pg = db.dialect == "postgresql"
    values = {"display_name": "Ann", "created_at": utcnow()}
    interaction = {
        "channel": "chat", "state": "queued", "queue": "default", "priority": 0,
        "created_at": utcnow(),
    }  # fmt: skip
    async with db.step() as c:  # (one interaction to read)
        interaction["customer_id"] = (await c.execute(INSERT, values)).scalar_one()
        made = insert(rows.INTERACTIONS).returning(rows.INTERACTIONS.c.id)
        iid = (await c.execute(made, interaction)).scalar_one()
    by_id = {"b_id": iid}

    async def engine_write() -> None:
        async with db.read_engine.connect() if pg else db.step() as c:
            (await c.execute(INSERT, values)).scalar_one()

    async def engine_read() -> None:
        async with db.read_engine.connect() if pg else db.step() as c:
            (await c.execute(READ, by_id)).one()

    async def write_body(c: Any) -> int:
        return (await c.execute(INSERT, values)).scalar_one()  # type: ignore[no-any-return]

    async def read_body(c: Any) -> Any:
        return (await c.execute(READ, by_id)).one()

    async def step_write() -> None:
        if pg:
            async with db.statement() as c:
                await write_body(c)
        else:
            await db.run_step(write_body)

    async def step_read() -> None:
        if pg:
            async with db.read_step() as c:
                await read_body(c)
        else:
            await db.run_step(read_body)

    dialect = db.engine.sync_engine.dialect
    insert_sql = str(INSERT.compile(dialect=dialect, column_keys=["display_name", "created_at"]))
    read_sql = str(READ.compile(dialect=dialect))
    now = utcnow()
    if pg:
        parsed = make_url(url)
        dsn = (
            f"postgresql://{parsed.username}@{parsed.host}:{parsed.port or 5432}/{parsed.database}"
        )
        bare = await asyncpg.connect(dsn, server_settings={"search_path": f"{schema},public"})

        async def driver_write() -> None:
            await bare.fetchval(insert_sql, "Ann", now)

        async def driver_read() -> None:
            await bare.fetchrow(read_sql, iid)
    else:
        lite = await aiosqlite.connect(str(Path(tmp.name) / "bench.db"), isolation_level=None)

        async def driver_write() -> None:  # (its own transaction, as a step's)
            await lite.execute("BEGIN IMMEDIATE")
            await (await lite.execute(insert_sql, ("Ann", now.isoformat()))).fetchall()
            await lite.execute("COMMIT")

        async def driver_read() -> None:
            await (await lite.execute(read_sql, (iid,))).fetchall()

    print(f"center bench/statements: {db.dialect}, {n} statements each, one at a time")
    figures: dict[str, dict[str, tuple[float, float]]] = {}
    for what, ops in (
        ("write", {"engine": engine_write, "step": step_write, "driver": driver_write}),
        ("read", {"engine": engine_read, "step": step_read, "driver": driver_read}),
    ):
        figures[what] = {way: await timed(n, op) for way, op in ops.items()}
        anchor_cpu, anchor_wall = figures[what]["driver"]
        for way, (cpu, wall) in figures[what].items():
            print(
                f"  {what:5} {way:6}  cpu {cpu:7.1f} us ({cpu / anchor_cpu:4.1f}x driver)"
                f"   wall {wall:7.1f} us ({wall / anchor_wall:4.1f}x)"
            )
    w, r = figures["write"], figures["read"]
    print(
        f"SUMMARY statements {db.dialect} n={n}"
        f" write_cpu_engine={w['engine'][0]:.0f}us write_cpu_step={w['step'][0]:.0f}us"
        f" write_cpu_driver={w['driver'][0]:.0f}us read_cpu_engine={r['engine'][0]:.0f}us"
        f" read_cpu_step={r['step'][0]:.0f}us read_cpu_driver={r['driver'][0]:.0f}us"
        f" step_vs_engine_write={w['step'][0] / w['engine'][0]:.2f}x"
        f" step_vs_engine_read={r['step'][0] / r['engine'][0]:.2f}x"
    )
    if pg:
        await bare.close()
        async with db.engine.begin() as c:
            await c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    else:
        await lite.close()
    await db.dispose()
    tmp.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--statements", type=int, default=3000)
    asyncio.run(main(parser.parse_args().statements))
