"""PostgreSQL: a step's statements straight to asyncpg, on connections the step keeps.

The hot path's steps are one statement each on PostgreSQL (center/interactions/
one_statement.py, state_statements.py), and through SQLAlchemy's async engine each cost
about 0.3 ms of CPU besides asyncpg's own 0.06 ms (measured in one process: a connection
checked out and in of the pool, three greenlet switches, an execution context, the
adapted cursor). ``Connections`` keeps a few of the engine's own connections checked out
(their codecs, search path and prepared statements set up by the engine as for any other),
and a step's ``PgConnection`` runs its Core statements on the asyncpg connection directly:
compiled once for the dialect with SQLAlchemy's own bind and result processing
(center/records/compiled.py), errors translated into SQLAlchemy's as the engine does. So
the body a step runs is the same code whichever connection it gets, and the caller cannot
tell (tests/records/test_pg_call.py pins rows, types and errors against the engine's).

A statement the direct path does not take (an expanding ``IN``, a plain ``text()``,
RETURNING from several rows) goes through the engine on the same connection. When every
kept connection is busy, a step waits for one, as it waited for the engine's pool.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.expression import Executable

from center.records.compiled import Result, Statements, statements

T = TypeVar("T")

# Kept connections per process, out of the engine's 30 (records/db.py): steps are most of
# a busy process's statements, and the rest (ORM sessions, reports) keep 10. A saturated
# process holds each step's connection across many turns of its event loop, so steps at
# once outnumber the steps the database runs at once; past these, a step waits for one,
# as a step waited for the engine's pool.
KEPT = 20
WAIT_S = 30.0  # (the engine's pool timeout: past it, SQLAlchemy's TimeoutError, an outage)


class _Kept:
    """One of the engine's connections, kept checked out for steps."""

    __slots__ = ("adapted", "driver", "engine_conn")

    def __init__(self, engine_conn: AsyncConnection, adapted: Any) -> None:
        self.engine_conn = engine_conn  # (for the statements the direct path does not take)
        self.adapted = adapted  # SQLAlchemy's adapted connection: its error translation
        self.driver = adapted._connection  # the asyncpg connection


class PgConnection:
    """What a step's body awaits of its connection (``execute``, ``scalar``), as
    SQLAlchemy's AsyncConnection answers them, run on asyncpg directly."""

    def __init__(self, kept: _Kept, cache: Statements, dialect: Any) -> None:
        self._kept, self._cache, self._dialect = kept, cache, dialect
        self.in_flight = False  # (left True by a command interrupted before its answer)

    async def execute(self, stmt: Executable, values: Any = None) -> Any:
        many = isinstance(values, list)
        first = (values[0] if values else {}) if many else (values or {})
        compiled = self._cache.get(stmt, first)
        if not (compiled.direct and compiled.declared) or (many and compiled.columns):
            return await self.run(self._kept.engine_conn.execute(stmt, values), None)
        driver, sql = self._kept.driver, compiled.sql
        if many:
            await self.run(driver.executemany(sql, [compiled.params(v) for v in values]), sql)
            return Result([], -1)
        params = compiled.params(first)
        if compiled.columns:
            rows = await self.run(driver.fetch(sql, *params), sql)
            return compiled.result(rows, len(rows), list(rows[0].keys()) if rows else None)
        return Result([], _rowcount(await self.run(driver.execute(sql, *params), sql)))

    async def run(self, command: Awaitable[T], sql: str | None) -> T:
        """``command``'s answer; asyncpg's errors as the engine raises them (``sql`` None:
        the engine's own call, already translated)."""
        self.in_flight = True
        try:
            answer = await command
        except Exception as error:
            self.in_flight = False
            if sql is None:
                raise
            raise self._translated(error, sql) from error
        self.in_flight = False
        return answer

    async def scalar(self, stmt: Executable, values: Any = None) -> Any:
        return (await self.execute(stmt, values)).scalar()

    async def scalars(self, stmt: Executable, values: Any = None) -> Any:
        return (await self.execute(stmt, values)).scalars()

    def __getattr__(self, name: str) -> Any:
        # The rest of AsyncConnection (``stream``, ``run_sync``: off the hot path) as the
        # engine answers it, on this same connection.
        return getattr(self._kept.engine_conn, name)

    def _translated(self, error: Exception, sql: str) -> BaseException:
        """``error`` as the engine would raise it: asyncpg's errors as SQLAlchemy's DBAPIError
        subclasses (IntegrityError, OperationalError, ...); anything else (an OSError) as is."""
        dbapi_error = self._dialect.loaded_dbapi.Error
        try:
            self._kept.adapted._handle_exception(error)
        except dbapi_error as translated:
            return exc.DBAPIError.instance(
                sql, None, translated, dbapi_error, dialect=self._dialect,
                connection_invalidated=self._kept.driver.is_closed(),
            )  # fmt: skip
        except Exception as other:
            return other
        return error  # (not reached: _handle_exception always raises)


def _rowcount(status: str) -> int:
    """The rows a command touched, from its status ("UPDATE 3", "INSERT 0 1", "SELECT 2")."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else -1


class Connections:
    """Up to ``kept`` of an autocommit engine's connections, kept for steps (most recently
    used first, so a moderate load runs on a few warm ones). Steps that find none free
    wait in line, and a connection coming back goes to the first of them: a step arriving
    meanwhile never takes it ahead of those waiting (under a saturated load that barging
    left some steps waiting over a second)."""

    def __init__(self, autocommit: AsyncEngine, *, kept: int = KEPT) -> None:
        self._engine, self._limit = autocommit, kept
        self._idle: list[_Kept] = []
        self._count = 0
        # Each resolves to a connection handed over, or None: room to open a new one.
        self._waiters: deque[asyncio.Future[_Kept | None]] = deque()
        self._closing: set[asyncio.Task[None]] = set()
        self._dialect = autocommit.sync_engine.dialect
        self._cache = statements(self._dialect)

    @asynccontextmanager
    async def connection(self, *, transaction: bool) -> AsyncIterator[Any]:
        """A step's connection: in a transaction (BEGIN … COMMIT, rolled back on error) or
        in autocommit (one statement, its own transaction)."""
        kept = await self._take()
        step = PgConnection(kept, self._cache, self._dialect)
        try:
            if not transaction:
                yield step
                return
            tx = kept.driver.transaction()
            await step.run(tx.start(), "BEGIN")
            try:
                yield step
            except BaseException:
                # (Not over a command still in flight: that connection is discarded, and
                # PostgreSQL rolls back what it closes. A failed rollback likewise.)
                if not step.in_flight:
                    with contextlib.suppress(Exception):
                        await step.run(tx.rollback(), "ROLLBACK")
                raise
            await step.run(tx.commit(), "COMMIT")
        finally:
            # A step interrupted with a command in flight (cancelled), or a lost connection:
            # that one goes back to the engine to be discarded, not reused.
            driver = kept.driver
            if step.in_flight or driver.is_closed() or driver.is_in_transaction():
                self._discard(kept)
            else:
                self._give_back(kept)

    async def _take(self) -> _Kept:
        while not self._waiters:
            if self._idle:
                kept = self._idle.pop()
                if not kept.driver.is_closed():
                    return kept
                self._discard(kept)
            elif self._count < self._limit:
                return await self._new()
            else:
                break
        waiter: asyncio.Future[_Kept | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            handed = await asyncio.wait_for(waiter, WAIT_S)
        except BaseException as error:
            if waiter.done() and not waiter.cancelled():  # (handed over, but leaving)
                handed = waiter.result()
                if handed is None:
                    self._hand(None)
                else:
                    self._give_back(handed)
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            if isinstance(error, TimeoutError):
                raise exc.TimeoutError(
                    f"no database connection for a step within {WAIT_S:g} s"
                ) from None
            raise
        if handed is None:
            return await self._new()
        if handed.driver.is_closed():
            self._discard(handed)
            return await self._take()
        return handed

    def _hand(self, kept: _Kept | None) -> bool:
        """``kept`` (None: room for a new one) to the first step waiting, if any."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(kept)
                return True
        return False

    def _give_back(self, kept: _Kept) -> None:
        if not self._hand(kept):
            self._idle.append(kept)

    async def _new(self) -> _Kept:
        self._count += 1
        try:
            conn = await self._engine.connect()
            try:
                fairy = await conn.get_raw_connection()
            except BaseException:
                await conn.close()
                raise
        except BaseException:
            self._count -= 1
            self._hand(None)
            raise
        return _Kept(conn, fairy.dbapi_connection)

    def _discard(self, kept: _Kept) -> None:
        self._count -= 1
        self._hand(None)  # (room for a new one)

        async def close() -> None:
            with contextlib.suppress(Exception):
                await kept.engine_conn.invalidate()
            with contextlib.suppress(Exception):
                await kept.engine_conn.close()

        task = asyncio.ensure_future(close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """Every kept connection back to the engine (before it is disposed)."""
        idle, self._idle = self._idle, []
        for kept in idle:
            self._count -= 1
            with contextlib.suppress(Exception):
                await kept.engine_conn.close()
        if self._closing:
            await asyncio.wait(set(self._closing), timeout=5)
