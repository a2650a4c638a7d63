"""SQLite's one-call steps (center/records/sqlite_call.py, ``Database.run_step``): a step's
own body run on the connection's thread in one transaction, its Core statements with the
values and rows SQLAlchemy's own processing gives, all or nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from center.interactions import rows
from center.records import events
from center.records.base import utcnow
from center.records.db import Database
from center.records.enums import ActorKind, Channel, Direction, InteractionState
from center.records.models import Customer, Event, Identity, Interaction, Message

CUSTOMERS = Customer.__table__
IDENTITIES = Identity.__table__


async def _conversation(db: Database) -> Interaction:
    async with db.step() as c:
        new = insert(CUSTOMERS).values(display_name="Ann", created_at=utcnow())
        cid = (await c.execute(new.returning(CUSTOMERS.c.id))).scalar_one()
        return await rows.insert_interaction(
            c, customer_id=cid, channel=Channel.CHAT, queue="default", priority=0,
            state=InteractionState.QUEUED, queued_at=utcnow(), required_skills={"fr": 2},
        )  # fmt: skip


async def _message_and_event(
    c: AsyncConnection, iid: int, body: str
) -> tuple[Interaction, Message, list[Message]]:
    """A step's body as the services write them: rows.py and events.write on ``c``."""
    i = await rows.interaction(c, iid, lock=True)
    m = await rows.insert_message(c, i.id, Direction.INBOUND, body, meta={"k": [1, "é"]})
    received = events.MessageReceived(message_id=m.id, body=body)
    await events.write(
        c,
        events.row(received, interaction=i, actor_kind=ActorKind.CUSTOMER),
        events.row(events.Queued(queue="default", priority=0), interaction=i),
    )
    await rows.set_interaction(c, i, priority=3)
    return i, m, await rows.messages(c, i.id)


async def _queue_by_name(c: AsyncConnection) -> str:
    return (await c.execute(select(rows.INTERACTIONS.c.queue))).one().queue


async def _queues(c: AsyncConnection) -> list[str]:
    return (await c.execute(select(rows.INTERACTIONS.c.queue))).scalars().all()


async def test_a_body_reads_and_writes_as_through_the_engine(sqlite: Database) -> None:
    made = await _conversation(sqlite)
    assert sqlite.one_call_steps
    i, m, listed = await sqlite.run_step(_message_and_event, made.id, 'say "hi" \u2603')
    # What the call read equals the engine's own read, type for type.
    async with sqlite.step() as c:
        again = await rows.interaction(c, made.id)
    columns = [col.key for col in rows.INTERACTIONS.c]
    assert {k: getattr(i, k) for k in columns if k != "priority"} == {
        k: getattr(again, k) for k in columns if k != "priority"
    }
    assert (i.priority, again.priority) == (3, 3)
    assert i.state is InteractionState.QUEUED and i.channel is Channel.CHAT
    assert i.created_at.tzinfo is UTC and i.required_skills == {"fr": 2}
    assert [x.id for x in listed] == [m.id] and listed[0].meta == {"k": [1, "é"]}
    async with sqlite.step() as c:  # (rows by name too, as SQLAlchemy's rows are read)
        by_name = (await c.execute(select(rows.INTERACTIONS.c.queue))).one().queue
    by_call = await sqlite.run_step(_queue_by_name)
    assert by_call == by_name == "default"
    assert await sqlite.run_step(_queues) == ["default"]
    # What the call wrote reads back through the ORM as it was given, events in order.
    async with sqlite.read() as s:
        stored = await s.get(Message, m.id)
        timeline = list(await s.scalars(select(Event).order_by(Event.id)))
    assert stored is not None
    assert (stored.body, stored.direction, stored.meta, stored.created_at) == (
        'say "hi" \u2603',
        Direction.INBOUND,
        {"k": [1, "é"]},
        m.created_at,
    )
    assert [e.type for e in timeline] == ["message.received", "interaction.queued"]
    assert timeline[0].data == {"message_id": m.id, "body": 'say "hi" \u2603'}
    assert timeline[0].customer_id == made.customer_id


async def _write_then(c: AsyncConnection, outcome: str) -> str:
    # (created_at left to the column's Python default, as the engine would fill it)
    mine = {"customer_id": 1, "kind": "phone", "value": "+14155550100", "verified": True}
    await c.execute(insert(IDENTITIES), mine)
    if outcome == "again":  # (the unique verified owner: the second insert is refused)
        await c.execute(insert(IDENTITIES), mine)
    if outcome == "refused":
        raise LookupError("refused after writing")
    return outcome


async def _identities(db: Database) -> list[str]:
    async with db.read() as s:
        return list(await s.scalars(select(Identity.value)))


async def test_all_or_nothing(sqlite: Database) -> None:
    await _conversation(sqlite)  # (customer 1)
    with pytest.raises(LookupError):  # a refusal after a write leaves nothing
        await sqlite.run_step(_write_then, "refused")
    with pytest.raises(IntegrityError):  # the database's refusal, as SQLAlchemy's error
        await sqlite.run_step(_write_then, "again")
    assert await _identities(sqlite) == []
    assert await sqlite.run_step(_write_then, "kept") == "kept"
    assert await _identities(sqlite) == ["+14155550100"]


async def _waits_on_the_loop(c: AsyncConnection) -> None:
    await c.execute(insert(IDENTITIES), {"customer_id": 1, "kind": "k", "value": "v"})
    await asyncio.sleep(0)  # (not the step's connection: needs the event loop)


async def test_a_body_that_waits_on_anything_else_is_refused_and_rolled_back(
    sqlite: Database,
) -> None:
    await _conversation(sqlite)
    with pytest.raises(RuntimeError, match="awaited something besides its connection"):
        await sqlite.run_step(_waits_on_the_loop)
    assert await _identities(sqlite) == []
    # The same body through the engine's transaction (one_call=False) is fine.
    await sqlite.run_step(_waits_on_the_loop, one_call=False)
    assert await _identities(sqlite) == ["v"]


async def test_a_step_is_one_call_on_the_thread(
    sqlite: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await _conversation(sqlite)
    await sqlite.run_step(_message_and_event, made.id, "warm")
    seen: list[Any] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kw: Any) -> Any:
        seen.append(fn)
        return await original(self, fn, *args, **kw)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    # Five statements and the transaction around them: one call (through the engine's
    # transaction the same body is six).
    await sqlite.run_step(_message_and_event, made.id, "counted")
    assert len(seen) == 1
    seen.clear()
    await sqlite.run_step(_message_and_event, made.id, "counted", one_call=False)
    assert len(seen) == 6


async def test_concurrent_calls_and_steps_serialise_on_the_write_lock(sqlite: Database) -> None:
    made = await _conversation(sqlite)

    async def through_the_engine(n: int) -> None:
        async with sqlite.step() as c:
            await rows.insert_message(c, made.id, Direction.OUTBOUND, f"step {n}")

    await asyncio.gather(
        *(sqlite.run_step(_message_and_event, made.id, f"call {n}") for n in range(20)),
        *(through_the_engine(n) for n in range(20)),
    )
    async with sqlite.read() as s:
        bodies = sorted(await s.scalars(select(Message.body)))
    assert bodies == sorted([f"call {n}" for n in range(20)] + [f"step {n}" for n in range(20)])
