"""Declarative base and column types shared by every model (records and knowledge base)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, TypeDecorator, column
from sqlalchemy.orm import DeclarativeBase, configure_mappers

# Stable constraint names so Alembic migrations are reproducible on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL, INTEGER on SQLite (where only INTEGER PRIMARY KEY autoincrements).
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


M = TypeVar("M", bound="Base")


def transient(model: type[M], values: Mapping[str, Any]) -> M:
    """A row read by a Core statement as a transient object of its model (no session), its
    values taken as loaded, as a query would: the constructor instead records each as a
    change through the attribute events, 13 times the cost (34 µs for an Interaction here), on
    every step of the hot path. Setting attributes afterwards works as on any object."""
    if not model.__mapper__.configured:  # (the constructor would configure them first)
        configure_mappers()
    obj = model._sa_class_manager.new_instance()
    obj.__dict__.update(values)
    return obj


def split_row(row: Any, *models: type[Base]) -> tuple[Any, ...]:
    """A row of a Core join over these models' tables, as one transient object of each
    (the hot path's reads: one statement, no ORM session)."""
    m = row._mapping
    return tuple(transient(model, {c.name: m[c] for c in model.__table__.c}) for model in models)


def aliased_columns(alias: str, model: type[Base]) -> str:
    """``alias.col AS alias_col, …`` for a textual statement that returns several tables'
    rows side by side (their columns share names); read back with ``split_aliased``."""
    return ", ".join(f"{alias}.{c.name} AS {alias}_{c.name}" for c in model.__table__.c)


def aliased_result(aliases: str, models: tuple[type[Base], ...]) -> list[Any]:
    """The result columns ``aliased_columns`` names, typed (for ``text(...).columns``)."""
    return [
        column(f"{alias}_{c.name}", c.type)
        for alias, model in zip(aliases, models, strict=True)
        for c in model.__table__.c
    ]


def split_aliased(row: Any, aliases: str, models: tuple[type[Base], ...]) -> list[Any]:
    """One transient object of each model from a row of ``aliased_columns``."""
    m = row._mapping
    return [
        transient(model, {c.name: m[f"{alias}_{c.name}"] for c in model.__table__.c})
        for alias, model in zip(aliases, models, strict=True)
    ]
