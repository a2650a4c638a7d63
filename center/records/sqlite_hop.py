"""SQLite through aiosqlite with one thread hop per statement, not four.

aiosqlite runs every call of its connection on the connection's own thread. SQLAlchemy's
adapter makes four such calls per statement (open a cursor, execute, fetch the rows, close
the cursor), and each is a queue put, a wake of that thread, a future resolved from it and
a wake of the event loop: on the embedded defaults, about 400 hops per chat, the largest
cost the SQLite backend has over PostgreSQL. Here the cursor's work is one function run on
the connection's thread: execute, fetch, read the description, row count and last row id,
close; a transaction's BEGIN goes with its first statement (``defer_begin``), and a
transaction that ran nothing commits or rolls back without a hop; and the pool's rollback
of a connection with no transaction open is skipped.
Everything else (transactions, the connection, server-side cursors) is SQLAlchemy's
aiosqlite adapter unchanged. ``Database`` passes it as the engine's DBAPI module.
"""

from __future__ import annotations

import collections
import sqlite3
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_


def _run(
    connection: aiosqlite.Connection,
    operation: str,
    parameters: Any,
    many: bool,
    begin: str | None,
) -> tuple[Any, list[Any], int, int | None]:
    """(On the connection's thread.) The whole of a cursor's life, its results kept; first
    the transaction's BEGIN when this is its first statement."""
    conn: sqlite3.Connection = connection._conn
    if begin is not None:
        conn.execute(begin)
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement is one call on the connection's thread."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:
        # (No aiosqlite cursor: the parent's constructor would open one, a hop.)
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        return None  # (closed on its thread already)

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        return self._call(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        return self._call(operation, seq_of_parameters, many=True)

    def _call(self, operation: Any, parameters: Any, *, many: bool) -> Any:
        # (The driver's errors mapped as SQLAlchemy's adapter maps them.)
        try:
            return await_(self._run(operation, parameters, many=many))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _run(self, operation: Any, parameters: Any, *, many: bool) -> None:
        adapt = self._adapt_connection
        async with adapt._execute_mutex:
            begin, adapt._begin = adapt._begin, None
            work = partial(_run, self._connection, operation, parameters, many, begin)
            result = await self._connection._execute(work)
        self._description, rows, self._rowcount, self._lastrowid = result
        self._rows = collections.deque(rows)


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_begin",)
    _cursor_cls = OneHopCursor

    def __init__(self, dbapi: Any, connection: aiosqlite.Connection) -> None:
        super().__init__(dbapi, connection)
        self._begin: str | None = None  # a BEGIN not yet sent: it goes with the next statement

    def defer_begin(self, sql: str) -> None:
        """Begin the transaction with ``sql`` in the same hop as its first statement: a
        step is then its statements and COMMIT, one hop fewer. (A busy lock is reported
        by that statement, inside the transaction's block, as BEGIN's own would be.)"""
        self._begin = sql

    def cursor(self, server_side: bool = False) -> Any:
        if server_side and self._begin is not None:
            # (A streaming cursor runs its statement its own way: BEGIN goes first, alone.)
            self.execute("SELECT 1")
        return super().cursor(server_side)

    def commit(self) -> None:
        if self._begin is not None:  # (nothing ran: nothing to commit)
            self._begin = None
            return
        super().commit()

    def rollback(self) -> None:
        if self._begin is not None:  # (nothing ran: nothing to roll back)
            self._begin = None
            return
        # The pool rolls back every connection returned to it; after a commit nothing is
        # open, and that rollback was a hop for nothing. (sqlite3 reads the flag from the
        # library's state without touching the connection: aiosqlite's in_transaction.)
        if self._connection._connection is not None and not self._connection.in_transaction:
            return
        super().rollback()


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """aiosqlite's DBAPI adapter, its connections' cursors ``OneHopCursor``."""

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        adapted = super().connect(*arg, **kw)
        return OneHopConnection(self, adapted._connection)


def dbapi() -> OneHopDBAPI:
    return OneHopDBAPI(aiosqlite, sqlite3)
