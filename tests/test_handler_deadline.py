"""A stalled database: a socket.io handler past its deadline answers ``unavailable``.

The stall is real: another connection holds the write lock (SQLite) or an exclusive lock
on the messages table (PostgreSQL), so the customer's message cannot be stored. The
client must get an error ack naming the deadline, not an empty ack (python-socketio
turns the deadline's cancellation into ``None``) and not silence; nothing half-stored is
acknowledged; once the lock goes, the same socket works again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import func, select, text

from center.config import Settings
from center.records.db import Database
from center.records.models import Message
from tests.support import Customer, serve_app


@asynccontextmanager
async def _stalled(db: Database) -> AsyncIterator[None]:
    """Hold the lock a message insert needs until the block ends."""
    async with db.engine.connect() as conn:
        if db.dialect == "sqlite":
            # The engine begins every transaction with BEGIN IMMEDIATE: the write lock.
            await conn.exec_driver_sql("SELECT 1")
        else:
            await conn.begin()
            await conn.execute(text("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            await conn.rollback()


async def test_a_handler_past_its_deadline_answers_unavailable(
    settings: Settings, db: Database
) -> None:
    quick = settings.model_copy(update={"socket_handler_timeout_s": 1.0})
    async with serve_app(quick, db) as server:
        customer = Customer(server.url)
        try:
            await customer.connect()
            async with _stalled(db):
                ack = await customer.call("message", {"text": "hello?"}, timeout=20)
            assert isinstance(ack, dict), ack  # an answer, not an empty ack
            assert ack["ok"] is False and ack["code"] == "unavailable", ack
            assert ack["event"] == "message" and "within 1 s" in ack["error"], ack
            async with db.read() as s:
                assert await s.scalar(select(func.count()).select_from(Message)) == 0

            ack = await customer.call("message", {"text": "hello again"}, timeout=20)
            assert ack["ok"] is True, ack
        finally:
            await customer.close()
