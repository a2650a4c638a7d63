"""SQLite: a whole step as ONE call on the connection's thread.

On PostgreSQL the busiest steps are one statement each (center/interactions/one_statement.py):
one round trip. SQLite has no data-modifying CTEs, so the same step is a transaction of
three statements, and there each statement through SQLAlchemy's async engine costs far more
than SQLite's own work: a thread hop, a greenlet, an execution context, about 0.3 ms of CPU
for a read by primary key that SQLite answers in microseconds. Here the step is a plain
function run on aiosqlite's thread, inside ``BEGIN IMMEDIATE`` … ``COMMIT``, executing the
SAME Core statements (compiled once for the engine's dialect) with SQLAlchemy's own bind
and result processing per column, so rows and values are exactly what the transactional
path writes and reads.

``work(call, *args)`` returns its result, or None to write nothing (rolled back: the caller
then takes the ordinary path, as with a one-statement step). Errors come out as SQLAlchemy's
``DBAPIError`` subclasses, as from any statement.
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.expression import Executable

T = TypeVar("T")


class _Compiled:
    """One Core statement for one set of value keys: its SQL, and how values go in and rows
    come out (the types' own processors, as SQLAlchemy applies them)."""

    __slots__ = ("_processors", "binds", "columns", "defaults", "names", "sql")

    def __init__(self, stmt: Any, keys: tuple[str, ...], dialect: Dialect) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(keys))
        self.sql = str(compiled)
        self.names = list(compiled.positiontup or ())
        self.binds = compiled.construct_params  # (bind name -> value, literals included)
        # An insert's Python-side column defaults (``default=utcnow``) are run by the
        # engine's execution context, not the compiled statement: run them here.
        table = getattr(stmt, "table", None)
        self.defaults = [
            (col.key, col.default)
            for col in (table.c if table is not None and stmt.is_insert else ())
            if col.key not in keys
            and col.key in self.names
            and col.default is not None
            and (col.default.is_callable or col.default.is_scalar)
        ]
        self._processors = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for name, bind in compiled.binds.items()
        }
        cols = list(getattr(stmt, "exported_columns", ()) or ())
        # (The dialect's own form of each type, as SQLAlchemy's result processing uses.)
        self.columns = [
            (c.key, c.type.dialect_impl(dialect).result_processor(dialect, None)) for c in cols
        ]

    def params(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        given = dict(values)
        for key, default in self.defaults:
            given[key] = default.arg(None) if default.is_callable else default.arg
        bound = self.binds(given)
        out = []
        for name in self.names:
            value, process = bound[name], self._processors.get(name)
            out.append(process(value) if process is not None else value)  # (None too, as ours)
        return tuple(out)

    def mappings(self, rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        return [
            {
                key: (process(value) if process is not None else value)
                for (key, process), value in zip(self.columns, row, strict=True)
            }
            for row in rows
        ]


class Call:
    """(On the connection's thread.) Core statements run on the raw sqlite3 connection."""

    def __init__(self, conn: sqlite3.Connection, dialect: Dialect, cache: dict[Any, Any]) -> None:
        self._conn, self._dialect, self._cache = conn, dialect, cache

    def execute(self, stmt: Executable, values: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The statement with ``values``; its rows (RETURNING or SELECT) as mappings."""
        keys = tuple(sorted(values))
        compiled = self._cache.get((stmt, keys))
        if compiled is None:
            compiled = self._cache[(stmt, keys)] = _Compiled(stmt, keys, self._dialect)
        params = compiled.params(values)
        try:
            cursor = self._conn.execute(compiled.sql, params)
            rows = cursor.fetchall() if cursor.description else []
        except sqlite3.Error as error:
            raise exc.DBAPIError.instance(
                compiled.sql, params, error, sqlite3.Error, dialect=self._dialect
            ) from error
        return compiled.mappings(rows)


def _in_transaction(
    conn: sqlite3.Connection,
    dialect: Dialect,
    cache: dict[Any, Any],
    work: Callable[..., T | None],
    args: tuple[Any, ...],
) -> T | None:
    """(On the connection's thread.) ``work`` inside BEGIN IMMEDIATE … COMMIT; rolled back
    when it raises or returns None."""
    _control(conn, dialect, "BEGIN IMMEDIATE")
    try:
        result = work(Call(conn, dialect, cache), *args)
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    _control(conn, dialect, "COMMIT" if result is not None else "ROLLBACK")
    return result


def _control(conn: sqlite3.Connection, dialect: Dialect, sql: str) -> None:
    try:
        conn.execute(sql)
    except sqlite3.Error as error:  # (a busy lock past the timeout, a full disk)
        if sql == "COMMIT" and conn.in_transaction:
            conn.execute("ROLLBACK")
        raise exc.DBAPIError.instance(sql, (), error, sqlite3.Error, dialect=dialect) from error


# Statements compiled for each engine's dialect (a dialect lives as long as its engine).
_CACHES: weakref.WeakKeyDictionary[Dialect, dict[Any, Any]] = weakref.WeakKeyDictionary()


async def run(engine: AsyncEngine, work: Callable[..., T | None], *args: Any) -> T | None:
    """Run ``work(call, *args)`` as one transaction in one call on a pooled connection's
    thread (the write engine's: BEGIN IMMEDIATE takes the write lock first)."""
    dialect = engine.sync_engine.dialect
    cache = _CACHES.setdefault(dialect, {})
    async with engine.connect() as conn:
        fairy = await conn.get_raw_connection()
        adapted = fairy.dbapi_connection  # sqlite_hop.OneHopConnection
        aio = adapted._connection  # type: ignore[union-attr]
        async with adapted._execute_mutex:  # type: ignore[union-attr]
            job = partial(_in_transaction, aio._conn, dialect, cache, work, args)
            return await aio._execute(job)
