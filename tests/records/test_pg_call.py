"""PostgreSQL's direct steps (center/records/pg_call.py): a step's statements straight to
asyncpg on kept connections give the rows, types, errors and all-or-nothing the engine
gives, and a cancelled step, a lost server connection or a burst past the kept connections
never leaves a step failing."""

from __future__ import annotations

import asyncio
from datetime import UTC

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from center.interactions import rows
from center.records import pg_call
from center.records.db import Database
from center.records.enums import InteractionState
from center.records.models import Event, Identity, Message
from tests.records.test_sqlite_call import (
    _conversation,
    _identities,
    _message_and_event,
    _queue_by_name,
    _queues,
    _write_then,
)


@pytest.fixture
def pg(db: Database) -> Database:
    if db.dialect != "postgresql":
        pytest.skip("PostgreSQL's direct steps")
    return db


async def test_a_body_reads_and_writes_as_through_the_engine(pg: Database) -> None:
    made = await _conversation(pg)
    i, m, listed = await pg.run_step(_message_and_event, made.id, 'say "hi" \u2603')
    async with pg.step() as c:  # (the engine's own connection and processing)
        again = await rows.interaction(c, made.id)
    columns = [col.key for col in rows.INTERACTIONS.c]
    assert {k: getattr(i, k) for k in columns if k != "priority"} == {
        k: getattr(again, k) for k in columns if k != "priority"
    }
    assert (i.priority, again.priority) == (3, 3)
    assert i.state is InteractionState.QUEUED and i.created_at.tzinfo is UTC
    assert i.required_skills == {"fr": 2}
    assert [x.id for x in listed] == [m.id] and listed[0].meta == {"k": [1, "é"]}
    assert await pg.run_step(_queue_by_name) == "default"
    assert await pg.run_step(_queues) == ["default"]
    async with pg.read() as s:
        stored = await s.get(Message, m.id)
        timeline = list(await s.scalars(select(Event).order_by(Event.id)))
    assert stored is not None and stored.meta == {"k": [1, "é"]}
    assert stored.created_at == m.created_at
    assert [e.type for e in timeline] == ["message.received", "interaction.queued"]
    assert timeline[0].data == {"message_id": m.id, "body": 'say "hi" \u2603'}
    # Reads and single statements take the same path; an expanding IN (compiled per
    # execution) goes through the engine on the same connection, with the same answer.
    async with pg.read_step() as c:
        assert isinstance(c, pg_call.PgConnection)
        ids = rows.INTERACTIONS.c.id
        assert (await c.scalars(select(ids).where(ids.in_([made.id, -1])))).all() == [made.id]
        updated = await c.execute(
            rows.INTERACTIONS.update().where(ids == made.id).values(priority=4)
        )
        assert updated.rowcount == 1


async def test_all_or_nothing_and_the_connection_kept_after_an_error(pg: Database) -> None:
    await _conversation(pg)  # (customer 1)
    with pytest.raises(LookupError):
        await pg.run_step(_write_then, "refused")
    with pytest.raises(IntegrityError):  # the database's refusal, as SQLAlchemy's error
        await pg.run_step(_write_then, "again")
    assert await _identities(pg) == []
    assert await pg.run_step(_write_then, "kept") == "kept"
    assert await _identities(pg) == ["+14155550100"]
    async with pg.statement() as c:  # a one-statement step's refusal, the same error
        with pytest.raises(IntegrityError):
            await c.execute(
                insert(Identity.__table__),
                {"customer_id": 999, "kind": "email", "value": "x@example.com"},
            )


async def _backend(c: AsyncConnection) -> int:
    return int(await c.scalar(text("SELECT pg_backend_pid()")))


async def test_a_cancelled_step_does_not_leave_its_connection_to_the_next(pg: Database) -> None:
    async def sleeper() -> None:
        async with pg.read_step() as c:
            await c.execute(text("SELECT pg_sleep(30)"))

    task = asyncio.create_task(sleeper())
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Every step after it answers at once (none waits behind the cancelled command).
    answers = await asyncio.wait_for(
        asyncio.gather(*(pg.run_step(_backend) for _ in range(12))), timeout=10
    )
    assert all(a > 0 for a in answers)


async def test_steps_survive_the_server_dropping_the_kept_connections(pg: Database) -> None:
    async def hold() -> int:
        async with pg.read_step() as c:
            pid = await _backend(c)
            await asyncio.sleep(0.05)
            return pid

    pids = set(await asyncio.gather(*(hold() for _ in range(4))))
    outsider = create_async_engine(pg.url, poolclass=NullPool)
    try:
        async with outsider.connect() as conn:
            await conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:p AS int[])) AS pid"),
                {"p": sorted(pids)},
            )
    finally:
        await outsider.dispose()
    await asyncio.sleep(0.2)  # the sockets' EOF reaches asyncpg

    async def count() -> int:
        async with pg.read_step() as c:
            return int(await c.scalar(select(func.count()).select_from(rows.INTERACTIONS)))

    assert await asyncio.gather(*(count() for _ in range(4))) == [0, 0, 0, 0]
    assert not pids & set(await asyncio.gather(*(hold() for _ in range(4))))


async def test_a_burst_past_the_kept_connections_waits_for_them(pg: Database) -> None:
    async def slow(n: int) -> int:
        async with pg.statement() as c:
            return int(await c.scalar(text("SELECT CAST(:n AS int) FROM pg_sleep(0.05)"), {"n": n}))

    n = pg_call.KEPT * 3
    assert await asyncio.gather(*(slow(k) for k in range(n))) == list(range(n))


async def test_a_connection_coming_back_goes_to_the_step_waiting_for_it(pg: Database) -> None:
    steps = pg_call.Connections(pg.read_engine, kept=1)
    began, release = asyncio.Event(), asyncio.Event()
    order: list[str] = []

    async def step(name: str, hold: asyncio.Event | None = None) -> None:
        async with steps.connection(transaction=False) as c:
            order.append(name)
            began.set()
            await c.execute(select(func.now()))
            if hold is not None:
                await hold.wait()

    try:
        first = asyncio.create_task(step("first", release))
        await asyncio.wait_for(began.wait(), timeout=10)
        waiting = asyncio.create_task(step("waiting"))
        await asyncio.sleep(0.1)  # (in line for the one connection)
        release.set()
        # A step arriving as the connection comes back does not take it ahead of the one
        # that has waited for it.
        late = asyncio.create_task(step("late"))
        await asyncio.wait_for(asyncio.gather(first, waiting, late), timeout=10)
        assert order == ["first", "waiting", "late"]
    finally:
        await steps.close()
