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
import weakref
from collections.abc import Callable, Coroutine, Iterator, Mapping
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

    def run(self, stmt: Executable, values: Mapping[str, Any] | list[Any] | None) -> _Result:
        """The statement with ``values`` (a list: one execution per item), as a result."""
        many = isinstance(values, list)
        first = (values[0] if values else {}) if many else (values or {})
        keys = tuple(sorted(first))
        compiled = self._cache.get((stmt, keys))
        if compiled is None:
            compiled = self._cache[(stmt, keys)] = _Compiled(stmt, keys, self._dialect)
        if many and compiled.columns:  # (sqlite3 returns no rows from executemany)
            raise NotImplementedError("a one-call step cannot RETURNING from several rows")
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
        return _Result(compiled.mappings(rows), cursor.rowcount)


class _Row(tuple):  # type: ignore[type-arg]
    """A result row as SQLAlchemy's Row is used: by position, by name, and ``_mapping``."""

    _mapping: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_mapping"][name]
        except KeyError:
            raise AttributeError(name) from None


class _Result:
    """The part of SQLAlchemy's Result the hot path's steps use."""

    def __init__(self, mappings: list[dict[str, Any]], rowcount: int) -> None:
        self.mappings, self.rowcount = mappings, rowcount
        self._rows = []
        for m in mappings:
            row = _Row(m.values())
            row._mapping = m
            self._rows.append(row)

    def __iter__(self) -> Iterator[_Row]:
        return iter(self._rows)

    def first(self) -> _Row | None:
        return self._rows[0] if self._rows else None

    def one(self) -> _Row:
        if len(self._rows) != 1:
            raise exc.NoResultFound() if not self._rows else exc.MultipleResultsFound()
        return self._rows[0]

    def all(self) -> list[_Row]:
        return list(self._rows)

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalars(self) -> _Scalars:
        return _Scalars(r[0] for r in self._rows)


class _Scalars(list):  # type: ignore[type-arg]
    """The first column of each row, read as SQLAlchemy's ScalarResult is."""

    def all(self) -> list[Any]:
        return list(self)

    def first(self) -> Any:
        return self[0] if self else None


class StepConnection:
    """What a step's body awaits of its connection (``execute``, ``scalar``), answered on
    the connection's thread at once: the body's coroutine never waits, so it runs there
    from start to end in one call (``run_step``)."""

    def __init__(self, call: Call) -> None:
        self._call = call

    async def execute(self, stmt: Executable, values: Any = None) -> _Result:
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
    cache: dict[Any, Any],
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


# Statements compiled for each engine's dialect (a dialect lives as long as its engine).
_CACHES: weakref.WeakKeyDictionary[Dialect, dict[Any, Any]] = weakref.WeakKeyDictionary()


async def run_step(
    engine: AsyncEngine, body: Callable[..., Coroutine[Any, Any, T]], *args: Any
) -> T:
    """A step's body, ``body(c, *args)`` (the same code ``Database.step()`` runs), as one
    call: its coroutine is driven on the connection's thread with a ``StepConnection``."""

    def work(call: Call) -> T:
        return _drive(body(StepConnection(call), *args))

    dialect = engine.sync_engine.dialect
    cache = _CACHES.setdefault(dialect, {})
    async with engine.connect() as conn:
        fairy = await conn.get_raw_connection()
        adapted = fairy.dbapi_connection  # sqlite_hop.OneHopConnection
        aio = adapted._connection  # type: ignore[union-attr]
        async with adapted._execute_mutex:  # type: ignore[union-attr]
            job = partial(_in_transaction, aio._conn, dialect, cache, work)
            return await aio._execute(job)  # type: ignore[no-any-return]
