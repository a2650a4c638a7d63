"""A client cannot send the events socket.io raises itself (connect, disconnect): sending
one changes nothing and, when the client asks for an answer, is refused as reserved."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from center.records.enums import InteractionState, Presence
from center.records.models import Interaction, User
from tests.support import Customer, Server, signed_in_agent

POLL_S = 0.05
POLLS = 400  # a bound for a loaded machine, not a timing claim


async def _until(check: Callable[[], Awaitable[bool]]) -> None:
    for _ in range(POLLS):
        if await check():
            return
        await asyncio.sleep(POLL_S)
    raise AssertionError("the server never got there")


async def _state(server: Server, iid: int) -> InteractionState:
    async with server.db.read() as s:
        row = await s.get(Interaction, iid)
        assert row is not None
        return row.state


async def _presence(server: Server, user_id: int) -> Presence:
    async with server.db.read() as s:
        row = await s.get(User, user_id)
        assert row is not None
        return row.presence


def _refused(ack: object, event: str) -> None:
    assert isinstance(ack, dict), ack
    assert ack["ok"] is False and ack["code"] == "reserved" and ack["event"] == event, ack


async def test_a_client_sent_disconnect_does_not_abandon_the_waiting_chat(server: Server) -> None:
    stays, leaves = Customer(server.url), Customer(server.url)
    await stays.connect()
    await leaves.connect()
    try:
        waiting = (await stays.say("my parcel is lost"))["interaction_id"]
        _refused(await stays.call("disconnect", "client namespace disconnect"), "disconnect")
        # A real departure, started after the fake one and with the same grace: once it has
        # been abandoned, the fake one's grace check would have run too.
        gone = (await leaves.say("anyone?"))["interaction_id"]
        await leaves.close()
        await _until(lambda: _is(server, gone, InteractionState.ABANDONED))

        assert await _state(server, waiting) is InteractionState.QUEUED
        ack = await stays.say("still here")
        assert ack["ok"] and ack["interaction_id"] == waiting, ack
    finally:
        await stays.close()


async def _is(server: Server, iid: int, state: InteractionState) -> bool:
    return await _state(server, iid) is state


async def test_a_client_sent_connect_does_not_switch_the_socket_to_other_credentials(
    server: Server,
) -> None:
    victim, attacker = Customer(server.url), Customer(server.url)
    theirs = await victim.connect()
    mine = await attacker.connect()
    try:
        await victim.say("my address is 1 Main St")
        _refused(await attacker.call("connect", {"token": theirs["token"]}), "connect")
        ack = await attacker.say("hello")
        # Still the attacker's own session: a chat of their own, no second welcome.
        assert ack["ok"], ack
        assert attacker.pending("welcome") == []
        async with server.db.read() as s:
            row = await s.get(Interaction, ack["interaction_id"])
            assert row is not None and row.customer_id == mine["customer_id"]
            assert row.customer_id != theirs["customer_id"]
    finally:
        await victim.close()
        await attacker.close()


async def test_a_console_sent_disconnect_leaves_the_agent_available(server: Server) -> None:
    alice = await signed_in_agent(server, "alice")
    bob = await signed_in_agent(server, "bob")
    bob_id = (await bob.get("/api/me"))[1]["user"]["id"]
    alice_id = (await alice.get("/api/me"))[1]["user"]["id"]
    customer = Customer(server.url)
    try:
        _refused(await alice.call("disconnect", "client namespace disconnect"), "disconnect")
        # Bob really goes, after alice's fake departure and with the same grace.
        await bob.close()
        await _until(lambda: _offline(server, bob_id))

        assert await _presence(server, alice_id) is Presence.AVAILABLE
        await customer.connect()
        iid = (await customer.say("hello?"))["interaction_id"]
        assert (await alice.next("offer", timeout=10))["id"] == iid
    finally:
        await customer.close()
        await alice.close()


async def _offline(server: Server, user_id: int) -> bool:
    return await _presence(server, user_id) is Presence.OFFLINE


async def test_an_event_without_an_ack_is_dropped_and_the_socket_keeps_working(
    server: Server,
) -> None:
    customer = Customer(server.url)
    await customer.connect()
    try:
        await customer.sio.emit("disconnect", namespace="/chat")
        await customer.sio.emit("connect_error", {"message": "x"}, namespace="/chat")
        ack = await customer.say("hello")
        assert ack["ok"], ack
        assert customer.sio.connected
    finally:
        await customer.close()
