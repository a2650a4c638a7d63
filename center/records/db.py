"""The database engine: SQLite (embedded default) or PostgreSQL, migrations on start.

SQLite notes: WAL so readers never block the writer, a busy timeout so concurrent writers
wait instead of failing, and ``BEGIN IMMEDIATE`` so a transaction that reads and then writes
takes the write lock up front (a deferred one can fail to upgrade under load).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from center import fastjson
from center.records import pg_call, sqlite_call, sqlite_hop

MIGRATIONS = Path(__file__).with_name("migrations")
T = TypeVar("T")


class Database:
    def __init__(self, url: str, *, schema: str | None = None, echo: bool = False) -> None:
        self.url = url
        self.schema = schema
        self.dialect = make_url(url).get_backend_name()
        self.engine: AsyncEngine = _make_engine(url, schema=schema, echo=echo)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite: reads get their own engine with deferred BEGIN, so they never take the
        # write lock (WAL readers see a snapshot and never block or get blocked).
        # PostgreSQL: reads share the pool in autocommit, so a read costs its queries and
        # no BEGIN/ROLLBACK round trips (each statement sees the latest committed data).
        self.read_engine: AsyncEngine = (
            _make_engine(url, schema=schema, echo=echo, for_reads=True)
            if self.dialect == "sqlite"
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self.read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False)
        # (Decided once: every SQLite step asks.)
        self._one_call_steps = self.dialect == "sqlite" and isinstance(
            self.engine.sync_engine.dialect.loaded_dbapi, sqlite_hop.OneHopDBAPI
        )
        # PostgreSQL: steps and reads run their statements on asyncpg directly, on a few
        # connections kept for them (center/records/pg_call.py).
        self._kept: pg_call.Connections | None = None
        if self.dialect == "postgresql" and make_url(url).get_driver_name() == "asyncpg":
            self._kept = pg_call.Connections(self.read_engine)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One short write transaction: commit on success, roll back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def step(self) -> AsyncIterator[AsyncConnection]:
        """One hot-path step's transaction on a plain connection (Core statements, no ORM
        session): commit on success, roll back on error. See docs/hot-path.md."""
        async with self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read_step(self) -> AsyncIterator[AsyncConnection]:
        """``read`` for Core statements: a connection that never takes the write lock (on
        PostgreSQL in autocommit, its statements straight to asyncpg: pg_call.py)."""
        if self._kept is not None:
            async with self._kept.connection(transaction=False) as conn:
                yield conn
            return
        async with self.read_engine.connect() as conn:
            yield conn

    @property
    def single_statement_steps(self) -> bool:
        """Whether a step may be one data-modifying statement (PostgreSQL's CTEs)."""
        return self.dialect == "postgresql"

    @property
    def one_call_steps(self) -> bool:
        """Whether a step may run as one call on SQLite's thread (center/records/sqlite_call.py):
        the embedded default, through our one-hop aiosqlite adapter."""
        return self._one_call_steps

    async def run_step(
        self, body: Callable[..., Coroutine[Any, Any, T]], *args: Any, one_call: bool = True
    ) -> T:
        """One hot-path step: ``body(c, *args)`` in ``step()``'s transaction; on SQLite the
        same body as ONE call on the connection's thread (sqlite_call.run_step), so its
        statements cost no hop each. Such a body awaits nothing but ``c``; ``one_call=False``
        for one that may (a channel's hook inside the step)."""
        if one_call and self.one_call_steps:
            return await sqlite_call.run_step(self.engine, body, *args)
        if one_call and self._kept is not None:
            async with self._kept.connection(transaction=True) as c:
                return await body(c, *args)
        async with self.step() as c:
            return await body(c, *args)

    @asynccontextmanager
    async def statement(self) -> AsyncIterator[AsyncConnection]:
        """PostgreSQL: a connection in autocommit for a step that is ONE statement, which is
        then its own transaction, without BEGIN and COMMIT round trips
        (center/interactions/one_statement.py)."""
        if not self.single_statement_steps:
            raise RuntimeError("single-statement steps need PostgreSQL")
        async with self.read_step() as conn:  # (the same autocommit connection)
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self.read_sessions() as session:
            yield session

    async def migrate(self) -> None:
        """Bring the schema to the newest revision (Alembic), off the event loop."""
        await asyncio.to_thread(_ensure_sqlite_dir, self.url)
        await asyncio.to_thread(upgrade_in_thread, self.url, self.schema)

    async def dispose(self) -> None:
        if self._kept is not None:
            await self._kept.close()
        await self.engine.dispose()
        if self.dialect == "sqlite":  # its own pool; PostgreSQL's reads share the one above
            await self.read_engine.dispose()


def _make_engine(
    url: str, *, schema: str | None, echo: bool, for_reads: bool = False
) -> AsyncEngine:
    parsed = make_url(url)
    # JSON columns (event data, message meta) through orjson: a third of the cost of json.
    kwargs: dict[str, Any] = {
        "echo": echo,
        "json_serializer": fastjson.dumps,
        "json_deserializer": fastjson.loads,
    }
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        kwargs["connect_args"] = {"timeout": 30}
        if parsed.get_driver_name() == "aiosqlite":
            kwargs["module"] = sqlite_hop.dbapi()  # (one thread hop per statement)
    elif backend == "postgresql":
        # Kept connections for a busy process's concurrent steps, and no overflow: an
        # overflow connection is closed when returned, and its replacement pays a connect
        # and re-prepares every statement it runs. Under a load past the pool, that churn
        # was most of each request's CPU (bench/webhooks.py voice_new_caller: 9-12 ms a
        # call at 20 + 10, and the process never caught up); past 30 a step now waits for
        # a kept connection. At most 30 per process, as PostgreSQL's default 100
        # connections must serve several.
        kwargs["pool_size"] = 30
        kwargs["max_overflow"] = 0
        # The most recently returned first: a moderate load runs on a few hot connections
        # (their statements prepared, their PostgreSQL backends warm) instead of rotating
        # through all 30.
        kwargs["pool_use_lifo"] = True
        kwargs["pool_recycle"] = 1800
        # asyncpg prepares every statement once per connection and caches it (SQLAlchemy's
        # default holds 100); the whole app's distinct statements fit in 500, so a busy
        # connection never re-prepares the hot path's after a burst of other queries.
        connect_args: dict[str, Any] = {"prepared_statement_cache_size": 500}
        if schema:
            connect_args["server_settings"] = {"search_path": f"{schema},public"}
        kwargs["connect_args"] = connect_args
    engine = create_async_engine(url, **kwargs)
    if backend == "sqlite":
        _tune_sqlite(engine, begin="BEGIN" if for_reads else "BEGIN IMMEDIATE")
    elif backend == "postgresql":
        _check_on_checkout(engine)
    return engine


# A pooled connection idle this long is pinged before use; a busier one is only checked
# locally (a server restart closes its socket, which asyncpg has already seen).
IDLE_PING_S = 10.0


def _check_on_checkout(engine: AsyncEngine) -> None:
    """Pessimistic disconnect handling that costs nothing on a busy pool.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout; with asyncpg that is three
    extra round trips (BEGIN, a query, ROLLBACK) before every transaction. Here a connection
    is pinged only after sitting idle, and otherwise checked for
    a closed socket. A stale connection raises DisconnectionError, which makes the pool
    replace it and retry, so the caller never sees the dead one.
    """
    dialect = engine.sync_engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["checked_in"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        raw = getattr(dbapi_conn, "_connection", None)
        if raw is not None and raw.is_closed():
            raise exc.DisconnectionError("connection closed by the server")
        idle = time.monotonic() - record.info.get("checked_in", time.monotonic())
        if idle > IDLE_PING_S:
            try:
                dialect.do_ping(dbapi_conn)
            except Exception as error:
                raise exc.DisconnectionError(f"ping failed: {error}") from error


def _ensure_sqlite_dir(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def _tune_sqlite(engine: AsyncEngine, *, begin: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        dbapi_conn = conn.connection.dbapi_connection
        if isinstance(dbapi_conn, sqlite_hop.OneHopConnection):
            dbapi_conn.defer_begin(begin)  # (sent with the first statement: one hop fewer)
        else:
            conn.exec_driver_sql(begin)


def alembic_config(url: str, schema: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url
    cfg.attributes["schema"] = schema
    return cfg


def upgrade_in_thread(url: str, schema: str | None) -> None:
    """Runs in a worker thread: Alembic reads its scripts from disk (blocking I/O)."""
    command.upgrade(alembic_config(url, schema), "head")
