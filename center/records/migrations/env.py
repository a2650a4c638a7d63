"""Alembic environment: runs the async engine in this (worker) thread's own event loop."""

from __future__ import annotations

import asyncio
import logging

from alembic import context
from sqlalchemy.engine import Connection

import center.channels.email.models
import center.knowledge_base.models
import center.outbox.models
import center.records.models  # (registers the tables)
import center.records.queues
import center.tickets.models  # noqa: F401
from center.records.base import Base
from center.records.db import _make_engine

config = context.config
# Alembic's INFO lines ("Context impl ...", "Will assume ...") are noise in every command and
# at each start; a logging set-up that asks for them (a level on "alembic") still gets them.
if logging.getLogger("alembic").level == logging.NOTSET:
    logging.getLogger("alembic").setLevel(logging.WARNING)
MIGRATION_LOCK = 0x63656E746572  # "center": one advisory lock id for every schema migration
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Many `center serve` processes start at once against one database: one migrates
            # while the others wait here, then find nothing left to do. Without the lock two
            # of them race on CREATE SCHEMA / CREATE EXTENSION and one fails at start-up.
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            schema = config.attributes.get("schema")
            if schema:
                connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        context.run_migrations()


async def _online() -> None:
    engine = _make_engine(
        config.attributes["url"], schema=config.attributes.get("schema"), echo=False
    )
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.attributes["url"], target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_online())
