"""SQLite's one-call steps (center/records/sqlite_call.py): the same Core statements run on
the connection's thread in one transaction, with the values and rows SQLAlchemy's own
processing gives, all or nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from center.interactions import rows
from center.records import events
from center.records.base import transient, utcnow
from center.records.db import Database
from center.records.enums import ActorKind, Channel, Direction, InteractionState
from center.records.models import Customer, Event, Identity, Interaction, Message
from center.records.sqlite_call import Call

CUSTOMERS = Customer.__table__
IDENTITIES = Identity.__table__


async def _conversation(db: Database) -> Interaction:
    async with db.step() as c:
        cid = (
            await c.execute(
                insert(CUSTOMERS)
                .values(display_name="Ann", created_at=utcnow())
                .returning(CUSTOMERS.c.id)
            )
        ).scalar_one()
        return await rows.insert_interaction(
            c, customer_id=cid, channel=Channel.CHAT, queue="default", priority=0,
            state=InteractionState.QUEUED, queued_at=utcnow(), required_skills={"fr": 2},
        )  # fmt: skip


def _message_and_event(call: Call, iid: int, body: str) -> tuple[Interaction, Message]:
    i = transient(Interaction, call.execute(rows.BY_ID, {"b_id": iid})[0])
    values = rows.message_values(i.id, Direction.INBOUND, body, meta={"k": [1, "é"]})
    m = transient(Message, {"id": call.execute(rows.INSERT_MESSAGE, values)[0]["id"], **values})
    received = events.MessageReceived(message_id=m.id, body=body)
    call.execute(events.INSERT, events.row(received, interaction=i, actor_kind=ActorKind.CUSTOMER))
    return i, m


async def test_rows_in_and_out_are_what_the_engine_reads_and_writes(sqlite: Database) -> None:
    made = await _conversation(sqlite)
    got = await sqlite.one_call(_message_and_event, made.id, 'say "hi" \u2603')
    assert got is not None
    i, m = got
    # The interaction read in the call equals the engine's own read, type for type.
    async with sqlite.step() as c:
        again = await rows.interaction(c, made.id)
    columns = [col.key for col in rows.INTERACTIONS.c]
    assert {k: getattr(i, k) for k in columns} == {k: getattr(again, k) for k in columns}
    assert i.state is InteractionState.QUEUED and i.channel is Channel.CHAT
    assert i.created_at.tzinfo is UTC and i.required_skills == {"fr": 2}
    # What the call wrote reads back through the ORM as it was given.
    async with sqlite.read() as s:
        stored = await s.get(Message, m.id)
        event = await s.scalar(select(Event).where(Event.interaction_id == i.id))
    assert stored is not None
    assert (stored.body, stored.direction, stored.meta) == (
        'say "hi" \u2603',
        Direction.INBOUND,
        {"k": [1, "é"]},
    )
    assert stored.created_at == m.created_at
    assert event is not None and event.data == {"message_id": m.id, "body": 'say "hi" \u2603'}
    assert (event.type, event.customer_id) == ("message.received", made.customer_id)


def _write_then(call: Call, outcome: str) -> Any:
    call.execute(
        insert(IDENTITIES),
        {"customer_id": 1, "kind": "phone", "value": "+14155550100", "verified": True},
    )
    if outcome == "nothing":
        return None
    if outcome == "again":  # (the unique verified owner: the second insert is refused)
        call.execute(
            insert(IDENTITIES),
            {"customer_id": 1, "kind": "phone", "value": "+14155550100", "verified": True},
        )
    return outcome


async def _identities(db: Database) -> list[str]:
    async with db.read() as s:
        return list(await s.scalars(select(Identity.value)))


async def test_all_or_nothing(sqlite: Database) -> None:
    await _conversation(sqlite)  # (customer 1)
    # None: the step is not the plain case, and nothing it wrote stays.
    assert await sqlite.one_call(_write_then, "nothing") is None
    assert await _identities(sqlite) == []
    # An error rolls the whole call back, as SQLAlchemy's own error type.
    with pytest.raises(IntegrityError):
        await sqlite.one_call(_write_then, "again")
    assert await _identities(sqlite) == []
    assert await sqlite.one_call(_write_then, "kept") == "kept"
    assert await _identities(sqlite) == ["+14155550100"]


async def test_a_step_is_one_call_on_the_thread(
    sqlite: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await _conversation(sqlite)
    await sqlite.one_call(_message_and_event, made.id, "warm")
    seen: list[Any] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kw: Any) -> Any:
        seen.append(fn)
        return await original(self, fn, *args, **kw)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    # Three statements and the transaction around them: one call (a transaction of the
    # same statements through the engine is four).
    await sqlite.one_call(_message_and_event, made.id, "counted")
    assert len(seen) == 1


async def test_concurrent_calls_and_steps_serialise_on_the_write_lock(sqlite: Database) -> None:
    made = await _conversation(sqlite)

    async def through_the_engine(n: int) -> None:
        async with sqlite.step() as c:
            await rows.insert_message(c, made.id, Direction.OUTBOUND, f"step {n}")

    await asyncio.gather(
        *(sqlite.one_call(_message_and_event, made.id, f"call {n}") for n in range(20)),
        *(through_the_engine(n) for n in range(20)),
    )
    async with sqlite.read() as s:
        bodies = list(await s.scalars(select(Message.body)))
    assert sorted(bodies) == sorted(
        [f"call {n}" for n in range(20)] + [f"step {n}" for n in range(20)]
    )
