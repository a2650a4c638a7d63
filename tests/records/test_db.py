"""The connection pool survives the database dropping its connections (restart, failover)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from center.records.db import Database
from center.records.models import Customer


async def test_requests_after_the_server_drops_connections_succeed(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SQLite has no server to drop connections")
    pids: set[int] = set()

    async def hold() -> None:  # fill the pool with a few connections, noting their backends
        async with db.read() as s:
            pids.add(int(await s.scalar(text("SELECT pg_backend_pid()")) or 0))
            await asyncio.sleep(0.05)

    await asyncio.gather(*(hold() for _ in range(4)))
    assert len(pids) >= 2
    # What a PostgreSQL restart does to the pool: every one of those backends goes away.
    outsider = create_async_engine(db.url, poolclass=NullPool)
    try:
        async with outsider.connect() as conn:
            killed = await conn.scalar(
                text(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))"
                    " FROM unnest(CAST(:p AS int[])) AS pid"
                ),
                {"p": sorted(pids)},
            )
    finally:
        await outsider.dispose()
    assert killed == len(pids)
    await asyncio.sleep(0.2)  # the sockets' EOF reaches asyncpg

    async def count() -> int:  # each checks a dead connection out of the pool first
        async with db.read() as s:
            return int(await s.scalar(select(func.count()).select_from(Customer)) or 0)

    assert await asyncio.gather(*(count() for _ in range(4))) == [0, 0, 0, 0]
