"""Core statements run beneath SQLAlchemy's engine, with SQLAlchemy's own processing.

A hot-path step's statements are few and fixed (module constants), and on both backends the
engine's per-statement machinery (an execution context, a greenlet, a pool checkout per
connection) costs far more CPU than the database's own work. ``sqlite_call`` and
``pg_call`` run such statements on the driver's connection instead: each statement is
compiled ONCE for the engine's dialect (``Compiled``), its values go in through each bind
type's own bind processor and its rows come out through each column type's own result
processor, exactly as the engine applies them, so what is written and read is what the
engine writes and reads (tests/records pins it on both backends). ``Result`` is the part of
SQLAlchemy's result that the steps use.
"""

from __future__ import annotations

import contextlib
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import TextClause

# Statements built per call (``update(...).where(col == value)``) are new objects each time:
# the cache holds the most recently used, not every one ever run.
CACHE_SIZE = 500


class Compiled:
    """One Core statement for one set of value keys: its SQL, and how values go in and rows
    come out (the types' own processors, as SQLAlchemy applies them). ``direct`` is False for
    a statement whose SQL is only final per execution (an expanding ``IN``): the caller runs
    that one through the engine."""

    __slots__ = (
        "_processors",
        "binds",
        "columns",
        "declared",
        "defaults",
        "direct",
        "names",
        "sql",
    )

    def __init__(self, stmt: Any, keys: tuple[str, ...], dialect: Dialect) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(keys))
        self.sql = str(compiled)
        self.direct = not (compiled.post_compile_params or compiled.literal_execute_params)
        # (A plain ``text()`` declares no columns: what it returns is known from the cursor.)
        self.declared = not isinstance(stmt, TextClause)
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

    def result(self, rows: list[Any], rowcount: int, names: list[str] | None) -> Result:
        """The driver's rows, each value through its column's result processor. ``names``:
        the columns the database returned, for a textual statement that declared fewer or
        others (matched by name then, as the engine does)."""
        columns = self.columns
        if rows and names is not None and (len(names) != len(columns) or not self.declared):
            declared = dict(columns)
            columns = [(name, declared.get(name)) for name in names]
        keys = [key for key, _ in columns]
        out = []
        for raw in rows:
            values = [
                process(value) if process is not None else value
                for (_, process), value in zip(columns, raw, strict=True)
            ]
            row = Row(values)
            row._mapping = _Mapping(zip(keys, values, strict=True))  # (a repeated key: the last)
            out.append(row)
        return Result(out, rowcount)


class Statements:
    """Statements compiled for one dialect, the most recently used ``CACHE_SIZE``."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._cache: OrderedDict[tuple[Any, tuple[str, ...]], Compiled] = OrderedDict()

    def get(self, stmt: Any, values: Mapping[str, Any]) -> Compiled:
        keys = tuple(sorted(values))
        key = (stmt, keys)
        compiled = self._cache.get(key)
        if compiled is None:
            compiled = self._cache[key] = Compiled(stmt, keys, self._dialect)
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        else:
            # (SQLite's one-call steps run this on each pooled connection's own thread: the
            # entry may have just been evicted by another; it is still the right one.)
            with contextlib.suppress(KeyError):
                self._cache.move_to_end(key)
        return compiled


# One cache per engine's dialect (a dialect lives as long as its engine).
_CACHES: weakref.WeakKeyDictionary[Dialect, Statements] = weakref.WeakKeyDictionary()


def statements(dialect: Dialect) -> Statements:
    found = _CACHES.get(dialect)
    if found is None:
        found = _CACHES[dialect] = Statements(dialect)
    return found


class _Mapping(dict):  # type: ignore[type-arg]
    """A row's ``_mapping``: by name, or by the column object as SQLAlchemy's RowMapping."""

    def __missing__(self, key: Any) -> Any:
        name = getattr(key, "key", None)
        if isinstance(name, str) and name in self:
            return self[name]
        raise KeyError(key)


class Row(tuple):  # type: ignore[type-arg]
    """A result row as SQLAlchemy's Row is used: by position, by name, and ``_mapping``."""

    _mapping: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_mapping"][name]
        except KeyError:
            raise AttributeError(name) from None


class Result:
    """The part of SQLAlchemy's Result the hot path's steps use."""

    def __init__(self, rows: list[Row], rowcount: int) -> None:
        self.rowcount = rowcount
        self._rows = rows

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows)

    def first(self) -> Row | None:
        return self._rows[0] if self._rows else None

    def one(self) -> Row:
        if len(self._rows) != 1:
            raise exc.NoResultFound() if not self._rows else exc.MultipleResultsFound()
        return self._rows[0]

    def one_or_none(self) -> Row | None:
        if len(self._rows) > 1:
            raise exc.MultipleResultsFound()
        return self.first()

    def all(self) -> list[Row]:
        return list(self._rows)

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalar_one_or_none(self) -> Any:
        row = self.one_or_none()
        return None if row is None else row[0]

    def scalars(self) -> Scalars:
        return Scalars(r[0] for r in self._rows)


class Scalars(list):  # type: ignore[type-arg]
    """The first column of each row, read as SQLAlchemy's ScalarResult is."""

    def all(self) -> list[Any]:
        return list(self)

    def first(self) -> Any:
        return self[0] if self else None
