"""The /agent namespace: offers, races, timeouts, and refusals of bad or foreign actions."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from center.records.models import Interaction, Message
from tests.support import Agent, Customer, Server, signed_in_agent


async def _waiting_chat(server: Server, text: str = "help please") -> tuple[Customer, int]:
    customer = Customer(server.url)
    await customer.connect()
    ack = await customer.say(text)
    return customer, ack["interaction_id"]


async def test_malformed_payloads_get_error_events_and_change_nothing(server: Server) -> None:
    alice = await signed_in_agent(server, "alice")
    customer, iid = await _waiting_chat(server)
    try:
        await alice.next("offer")
        cases = [
            ("accept", "not-an-object", "malformed"),
            ("accept", {"interaction_id": "7"}, "malformed"),
            ("accept", {"interaction_id": -1}, "malformed"),
            ("message", {"interaction_id": iid}, "malformed"),
            ("presence", {"presence": "sleeping"}, "malformed"),
            ("close", {"interaction_id": iid, "note": 5}, "malformed"),
        ]
        for event, payload, code in cases:
            ack = await alice.call(event, payload)
            assert ack["ok"] is False and ack["code"] == code, (event, ack)
            err = await alice.next("error")
            assert err["event"] == event and err["error"]
        async with server.db.read() as s:
            assert (await s.get(Interaction, iid)).state.value == "offered"
    finally:
        await customer.close()
        await alice.close()


async def test_acting_on_an_interaction_that_is_not_yours_is_refused(server: Server) -> None:
    alice = await signed_in_agent(server, "alice")
    bob = await signed_in_agent(server, "bob", available=False)
    customer, iid = await _waiting_chat(server)
    try:
        await alice.next("offer")
        assert (await bob.call("accept", {"interaction_id": iid}))["code"] == "not_yours"
        assert (await alice.call("accept", {"interaction_id": iid}))["ok"]
        for event, payload in [
            ("message", {"interaction_id": iid, "text": "hi, I am bob"}),
            ("close", {"interaction_id": iid, "note": "x"}),
            ("typing", {"interaction_id": iid}),
        ]:
            ack = await bob.call(event, payload)
            assert ack["ok"] is False and ack["code"] == "not_yours", event
        async with server.db.read() as s:
            bodies = list(
                await s.scalars(select(Message.body).where(Message.interaction_id == iid))
            )
        assert bodies == ["help please"]
    finally:
        for c in (customer, alice, bob):
            await c.close()


async def test_two_consoles_racing_to_accept_one_offer_one_wins(server: Server) -> None:
    alice = await signed_in_agent(server, "alice")
    alice_tab2 = await signed_in_agent(server, "alice-2", available=False)
    customer, iid = await _waiting_chat(server)
    # A second console of the same agent (same cookie) races the first.
    second = Agent(server.url)
    second.cookie = alice.cookie
    await second.connect()
    try:
        await alice.next("offer")
        acks = await asyncio.gather(
            alice.call("accept", {"interaction_id": iid}),
            second.call("accept", {"interaction_id": iid}),
            alice_tab2.call("accept", {"interaction_id": iid}),
        )
        assert sum(1 for a in acks if a["ok"]) == 1
        assert {a.get("code") for a in acks if not a["ok"]} <= {"not_offered", "not_yours"}
        await customer.next("agent_joined")
        assert customer.pending("agent_joined") == []  # joined once
    finally:
        for c in (customer, alice, second, alice_tab2):
            await c.close()


async def test_customer_message_is_stored_before_ack_and_oversize_is_refused(
    server: Server,
) -> None:
    customer = Customer(server.url)
    await customer.connect()
    try:
        ack = await customer.say("my parcel is lost")
        async with server.db.read() as s:
            m = await s.get(Message, ack["message_id"])
        assert m is not None and m.body == "my parcel is lost"
        too_long = await customer.say("x" * (server.settings.max_message_chars + 1))
        assert too_long["ok"] is False and too_long["code"] == "too_long"
        assert (await customer.next("error"))["event"] == "message"
        for bad in (None, "text", {"text": ""}, {"text": ["a"]}):
            nack = await customer.call("message", bad)
            assert nack["ok"] is False, bad
        async with server.db.read() as s:
            count = len(list(await s.scalars(select(Message.id))))
        assert count == 1
    finally:
        await customer.close()


async def test_reloaded_console_gets_its_open_chats_back(server: Server) -> None:
    alice = await signed_in_agent(server, "alice")
    customer, iid = await _waiting_chat(server)
    try:
        await alice.next("offer")
        await alice.call("accept", {"interaction_id": iid})
        await alice.sio.disconnect()
        again = Agent(server.url)
        again.cookie = alice.cookie
        hello = await again.connect()
        assert [i["id"] for i in hello["interactions"]] == [iid]
        assert hello["interactions"][0]["messages"][0]["body"] == "help please"
        await again.close()
    finally:
        await customer.close()
        await alice.close()
