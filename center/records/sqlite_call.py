"""SQLite: a whole step as ONE call on the connection's thread.

On PostgreSQL the busiest steps are one statement each (center/interactions/one_statement.py):
one round trip. SQLite has no data-modifying CTEs, so the same step is a transaction of
three statements, and there each statement through SQLAlchemy's async engine costs far more
than SQLite's own work: a thread hop, a greenlet, an execution context, about 0.3 ms of CPU
for a read by primary key that SQLite answers in microseconds. Here the whole step runs on
aiosqlite's thread, inside ``BEGIN IMMEDIATE`` … ``COMMIT``, executing the same Core
statements (compiled once for the engine's dialect) with SQLAlchemy's own bind and result
processing per column, so rows and values are exactly what the engine writes and reads.

The step's body is the very code ``Database.step()`` runs (``Database.run_step``): an async
function of its connection. Its awaits on a ``StepConnection`` complete at once, so its
coroutine runs on the thread from start to end (``_drive``); a body that awaited anything
else (Redis, a socket) would need the event loop, and is refused. Errors come out as
SQLAlchemy's ``DBAPIError`` subclasses, as from any statement, and roll the step back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Coroutine, Mapping
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.expression import Executable

from center.records.compiled import Result, Statements, statements

T = TypeVar("T")


class Call:
    """(On the connection's thread.) Core statements run on the raw sqlite3 connection."""

    def __init__(self, conn: sqlite3.Connection, dialect: Dialect, cache: Statements) -> None:
        self._conn, self._dialect, self._cache = conn, dialect, cache

    def run(self, stmt: Executable, values: Mapping[str, Any] | list[Any] | None) -> Result:
        """The statement with ``values`` (a list: one execution per item), as a result."""
        many = isinstance(values, list)
        first = (values[0] if values else {}) if many else (values or {})
        compiled = self._cache.get(stmt, first)
        if many and compiled.columns:  # (sqlite3 returns no rows from executemany)
            raise NotImplementedError("a one-call step cannot RETURNING from several rows")
        if not compiled.direct:
            raise NotImplementedError("a one-call step cannot run an expanding IN")
        params: Any = [compiled.params(v) for v in values] if many else compiled.params(first)
        try:
            if many:
                cursor = self._conn.executemany(compiled.sql, params)
            else:
                cursor = self._conn.execute(compiled.sql, params)
            rows = cursor.fetchall() if cursor.description else []
        except sqlite3.Error as error:
            raise exc.DBAPIError.instance(
                compiled.sql, params, error, sqlite3.Error, dialect=self._dialect
            ) from error
        names = [d[0] for d in cursor.description] if cursor.description else None
        return compiled.result(rows, cursor.rowcount, names)


class StepConnection:
    """What a step's body awaits of its connection (``execute``, ``scalar``), answered on
    the connection's thread at once: the body's coroutine never waits, so it runs there
    from start to end in one call (``run_step``)."""

    def __init__(self, call: Call) -> None:
        self._call = call

    async def execute(self, stmt: Executable, values: Any = None) -> Result:
        return self._call.run(stmt, values)

    async def scalar(self, stmt: Executable, values: Any = None) -> Any:
        return self._call.run(stmt, values).scalar()


def _drive(body: Coroutine[Any, Any, T]) -> T:
    """(On the connection's thread.) A step's coroutine run to its end; it must await
    nothing but its connection (Redis, a socket, a lock would need the event loop)."""
    try:
        body.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    body.close()
    raise RuntimeError("a one-call step awaited something besides its connection")


def _in_transaction(
    conn: sqlite3.Connection,
    dialect: Dialect,
    cache: Statements,
    work: Callable[[Call], T],
) -> T:
    """(On the connection's thread.) ``work`` inside BEGIN IMMEDIATE … COMMIT; rolled back
    when it raises."""
    _control(conn, dialect, "BEGIN IMMEDIATE")
    try:
        result = work(Call(conn, dialect, cache))
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    _control(conn, dialect, "COMMIT")
    return result


def _control(conn: sqlite3.Connection, dialect: Dialect, sql: str) -> None:
    try:
        conn.execute(sql)
    except sqlite3.Error as error:  # (a busy lock past the timeout, a full disk)
        if sql == "COMMIT" and conn.in_transaction:
            conn.execute("ROLLBACK")
        raise exc.DBAPIError.instance(sql, (), error, sqlite3.Error, dialect=dialect) from error


async def run_step(
    engine: AsyncEngine, body: Callable[..., Coroutine[Any, Any, T]], *args: Any
) -> T:
    """A step's body, ``body(c, *args)`` (the same code ``Database.step()`` runs), as one
    call: its coroutine is driven on the connection's thread with a ``StepConnection``."""

    def work(call: Call) -> T:
        return _drive(body(StepConnection(call), *args))

    dialect = engine.sync_engine.dialect
    cache = statements(dialect)
    async with engine.connect() as conn:
        fairy = await conn.get_raw_connection()
        adapted = fairy.dbapi_connection  # sqlite_hop.OneHopConnection
        aio = adapted._connection  # type: ignore[union-attr]
        async with adapted._execute_mutex:  # type: ignore[union-attr]
            job = partial(_in_transaction, aio._conn, dialect, cache, work)
            return await aio._execute(job)  # type: ignore[no-any-return]
