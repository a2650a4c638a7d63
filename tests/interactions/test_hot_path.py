"""The hot path's Core statements (center/interactions/rows.py, events.write): each step's
rows and events are stored, in order, before anyone is told, and a refused step stores
nothing. Real server, real sockets, the database read directly."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from center.records.models import Event, Interaction, Message
from tests.support import Customer, Server, signed_in_agent


async def _events(server: Server, iid: int) -> list[Event]:
    async with server.db.read() as s:
        return list(
            await s.scalars(select(Event).where(Event.interaction_id == iid).order_by(Event.id))
        )


async def _message(server: Server, message_id: int) -> Message | None:
    async with server.db.read() as s:
        return await s.get(Message, message_id)


async def test_every_ack_comes_after_its_row_and_event_are_stored(server: Server) -> None:
    alice = await signed_in_agent(server, "alice")
    customer = Customer(server.url)
    await customer.connect(name="Dana")
    try:
        ack = await customer.say("first")
        iid = ack["interaction_id"]
        # Acknowledged: the interaction, the message and its events are already committed.
        stored = await _message(server, ack["message_id"])
        assert stored is not None and stored.body == "first"
        types = [e.type for e in await _events(server, iid)]
        assert types[:3] == ["interaction.started", "message.received", "interaction.queued"]

        offer = await alice.next("offer")
        accepted = await alice.call("accept", {"interaction_id": offer["id"]})
        assert accepted["ok"], accepted
        async with server.db.read() as s:
            row = await s.get(Interaction, iid)
            assert row is not None and row.state.value == "assigned" and row.assigned_at

        sent = await alice.call("message", {"interaction_id": iid, "text": "reply é \u00e9"})
        assert sent["ok"], sent
        stored = await _message(server, sent["message_id"])
        assert stored is not None and stored.body == "reply é \u00e9"
        assert stored.direction.value == "outbound"
        got = await customer.next("message")
        assert got["id"] == sent["message_id"]

        second = await customer.say("second")
        assert (await _message(server, second["message_id"])) is not None
        assert (await alice.next("message"))["id"] == second["message_id"]

        closed = await alice.call("close", {"interaction_id": iid, "note": "n", "disposition": "x"})
        assert closed["ok"], closed
        async with server.db.read() as s:
            row = await s.get(Interaction, iid)
            assert row is not None and row.state.value == "closed" and row.ended_at
            assert (row.wrap_up_note, row.disposition) == ("n", "x")
    finally:
        await customer.close()
        await alice.close()

    timeline = await _events(server, iid)
    # (The e2e test pins the whole sequence; here, what the statements must keep.)
    assert len(timeline) == 9
    assert [e.type for e in timeline][-2:] == ["interaction.wrap_up", "interaction.closed"]
    # Ids follow the statements' order and time never runs backwards along them (the
    # events of one step are one executemany: its rows keep the order given).
    stamps = [e.created_at for e in timeline]
    assert stamps == sorted(stamps)
    # Each message event names the message it records.
    by_type = {e.type: e for e in timeline}
    assert by_type["message.sent"].data["message_id"] == sent["message_id"]
    assert by_type["message.received"].data["message_id"] == second["message_id"]
    assert by_type["interaction.accepted"].data["agent_id"] == accepted["interaction"]["agent_id"]
    assert all(e.customer_id == timeline[0].customer_id for e in timeline)


async def test_a_refused_step_stores_nothing(server: Server) -> None:
    alice = await signed_in_agent(server, "alice")
    customer = Customer(server.url)
    await customer.connect(name="Eve")
    try:
        iid = (await customer.say("help"))["interaction_id"]
        await alice.next("offer")
        # Not accepted yet: an agent's message on it is refused, and leaves no trace.
        refused = await alice.call("message", {"interaction_id": iid, "text": "too early"})
        assert not refused.get("ok") and refused["code"] == "not_yours"
        refused = await alice.call("close", {"interaction_id": iid, "note": ""})
        assert not refused.get("ok")
    finally:
        await customer.close()
        await alice.close()
    async with server.db.read() as s:
        bodies = list(await s.scalars(select(Message.body).where(Message.interaction_id == iid)))
    assert bodies == ["help"]
    types = [e.type for e in await _events(server, iid)]
    assert "message.sent" not in types and "interaction.closed" not in types


async def test_message_steps_write_the_rows_their_event_classes_define(server: Server) -> None:
    """On PostgreSQL a message in and a message out are one statement each
    (one_statement.py) and on SQLite one call on its thread (one_call.py): both write the
    same rows, field for field, as the event classes and rows.insert_message define them."""
    alice = await signed_in_agent(server, "alice")
    customer = Customer(server.url)
    await customer.connect(name="Fay")
    try:
        iid = (await customer.say("first"))["interaction_id"]
        offer = await alice.next("offer")
        assert (await alice.call("accept", {"interaction_id": offer["id"]}))["ok"]
        sent = await alice.call("message", {"interaction_id": iid, "text": 'say "hi" \\ \u2603'})
        assert sent["ok"], sent
        second = await customer.say("line one\nline two \u00e9")
        assert (await alice.next("message"))["id"] == second["message_id"]
    finally:
        await customer.close()
        await alice.close()
    timeline = await _events(server, iid)
    received = [e for e in timeline if e.type == "message.received"][-1]
    out = next(e for e in timeline if e.type == "message.sent")
    assert received.data == {"message_id": second["message_id"], "body": "line one\nline two é"}
    assert (received.actor_kind.value, received.actor_id) == ("customer", None)
    assert out.data == {
        "message_id": sent["message_id"],
        "body": 'say "hi" \\ \u2603',
        "agent_id": out.actor_id,
    }
    assert out.actor_kind.value == "agent" and out.actor_id is not None
    assert {e.customer_id for e in timeline} == {timeline[0].customer_id}
    assert received.id > out.id  # (in the order the steps ran)
    for message_id, direction in (
        (sent["message_id"], "outbound"),
        (second["message_id"], "inbound"),
    ):
        m = await _message(server, message_id)
        assert m is not None and m.direction.value == direction
        assert (m.content_type, m.meta, m.interaction_id) == ("text/plain", {}, iid)
        assert m.author_id == (out.actor_id if direction == "outbound" else None)


async def test_start_offer_accept_close_write_the_rows_their_event_classes_define(
    server: Server,
) -> None:
    """On PostgreSQL a conversation's start, offer, accept and close are one statement each
    (state_statements.py) and on SQLite a transaction each: the same rows and events, field
    for field, in the order of the timeline; the accepting agent is shown the messages."""
    alice = await signed_in_agent(server, "alice")
    customer = Customer(server.url)
    await customer.connect(name="Gus")
    try:
        first = await customer.say("my parcel \u2603 is late")
        iid = first["interaction_id"]
        offer = await alice.next("offer")
        assert offer["id"] == iid and offer["preview"] == "my parcel \u2603 is late"
        assert offer["state"] == "offered"
        assert (await alice.call("accept", {"interaction_id": iid}))["ok"]
        assigned = await alice.next("assigned")
        assert assigned["state"] == "assigned"
        assert [m["id"] for m in assigned["messages"]] == [first["message_id"]]
        closed = await alice.call(
            "close", {"interaction_id": iid, "note": 'sent "again"', "disposition": "resolved"}
        )
        assert closed["ok"], closed
    finally:
        await customer.close()
        await alice.close()
    async with server.db.read() as s:
        i = await s.get(Interaction, iid)
    assert i is not None and i.state.value == "closed"
    assert (i.channel.value, i.queue, i.priority, i.required_skills) == ("chat", "default", 0, {})
    assert (i.wrap_up_note, i.disposition) == ('sent "again"', "resolved")
    assert i.queued_at is not None and i.assigned_at is not None and i.ended_at is not None
    assert i.created_at <= i.queued_at <= i.assigned_at <= i.ended_at
    timeline = [e for e in await _events(server, iid) if e.type != "customer.left"]
    agent_id = i.agent_id
    assert [(e.type, e.actor_kind.value, e.actor_id) for e in timeline] == [
        ("interaction.started", "customer", None),
        ("message.received", "customer", None),
        ("interaction.queued", "system", None),
        ("interaction.offered", "system", None),
        ("interaction.accepted", "agent", agent_id),
        ("interaction.wrap_up", "agent", agent_id),
        ("interaction.closed", "agent", agent_id),
    ]
    data = [e.data for e in timeline]
    assert data[0] == {"channel": "chat"}
    assert data[1] == {"message_id": first["message_id"], "body": "my parcel \u2603 is late"}
    assert data[2] == {"queue": "default", "priority": 0}
    assert data[3]["agent_id"] == agent_id and data[3]["timeout_s"] > 0
    assert data[4]["agent_id"] == agent_id and data[4]["wait_s"] >= 0
    assert data[5] == {"agent_id": agent_id, "note": 'sent "again"', "disposition": "resolved"}
    handle = (i.ended_at - i.assigned_at).total_seconds()
    assert data[6]["handle_s"] == pytest.approx(handle, abs=0.0011)
    assert {e.customer_id for e in timeline} == {i.customer_id}
    m = await _message(server, first["message_id"])
    assert m is not None and (m.direction.value, m.author_id, m.meta) == ("inbound", None, {})
