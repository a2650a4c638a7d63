"""The embedded SQLite backend: each statement one call on aiosqlite's thread, with the
results, row counts, ids and errors a DBAPI cursor gives."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import IntegrityError

from center.records.db import Database
from center.records.models import Customer, Identity

CUSTOMERS = Customer.__table__


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The calls made on aiosqlite's connection threads (the library's queue, counted)."""
    seen: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kw: Any) -> Any:
        seen.append(getattr(fn, "__name__", None) or getattr(fn.func, "__name__", "?"))
        return await original(self, fn, *args, **kw)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return seen


async def test_a_transaction_of_three_statements_is_four_hops(
    sqlite: Database, hops: list[str]
) -> None:
    async with sqlite.step() as c:  # (warm: the pool's connection is open)
        await c.execute(select(1))
    hops.clear()
    async with sqlite.step() as c:
        new = await c.execute(
            insert(CUSTOMERS).values(display_name="Ann").returning(CUSTOMERS.c.id)
        )
        cid = new.scalar_one()
        changed = await c.execute(
            update(CUSTOMERS).where(CUSTOMERS.c.id == cid).values(display_name="Ann B")
        )
        assert changed.rowcount == 1
        names = (await c.execute(select(CUSTOMERS.c.display_name))).scalars().all()
        assert names == ["Ann B"]
    # BEGIN IMMEDIATE with the first statement, the other two, COMMIT: one call on the
    # thread each (it was four per statement: open a cursor, execute, fetch, close; BEGIN
    # on its own; and the pool's rollback when the connection went back, after the commit).
    assert len(hops) == 4, hops


async def test_a_transaction_that_ran_nothing_makes_no_call(
    sqlite: Database, hops: list[str]
) -> None:
    async with sqlite.step() as c:
        await c.execute(select(1))
    hops.clear()
    async with sqlite.step():
        pass
    with pytest.raises(RuntimeError):
        async with sqlite.step():
            raise RuntimeError("refused before any statement")
    assert hops == []


def _try_write_lock(path: Path) -> str:
    """(In a thread.) Whether another connection can take the write lock now."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return "free"
    except sqlite3.OperationalError as exc:
        return str(exc)
    finally:
        other.close()


async def test_a_step_holds_the_write_lock_from_its_first_statement(
    sqlite: Database, tmp_path: Path
) -> None:
    # BEGIN IMMEDIATE, sent with the first statement, still takes the write lock there: a
    # step that reads and then writes never fails to upgrade its lock.
    path = tmp_path / "center.db"
    async with sqlite.step() as c:
        await c.execute(select(CUSTOMERS.c.id))
        assert await asyncio.to_thread(_try_write_lock, path) == "database is locked"
    assert await asyncio.to_thread(_try_write_lock, path) == "free"


async def test_many_rows_ids_and_errors_are_as_a_cursor_gives_them(sqlite: Database) -> None:
    async with sqlite.step() as c:
        done = await c.execute(insert(CUSTOMERS), [{"display_name": f"c{n}"} for n in range(3)])
        assert done.rowcount == 3
        raw = await c.exec_driver_sql(
            "INSERT INTO customers (display_name, created_at) VALUES ('d', '2026-12-04')"
        )
        assert raw.lastrowid == 4
        assert (await c.execute(text("SELECT count(*) FROM customers"))).scalar() == 4
    identity = {"customer_id": 1, "kind": "phone", "value": "+14155550100", "verified": True}
    async with sqlite.step() as c:
        await c.execute(insert(Identity.__table__).values(**identity))
    with pytest.raises(IntegrityError):  # (the DBAPI's error, as SQLAlchemy wraps it)
        async with sqlite.step() as c:
            await c.execute(insert(Identity.__table__).values(**identity))
    async with sqlite.read() as s:  # (the failed transaction rolled back; the pool is fine)
        assert await s.scalar(select(Identity.__table__.c.value)) == "+14155550100"
