"""A chat whose customer has left is never handed on (issue 9, item 9): not when its agent
goes away, not by a transfer, not by the audit's repairs. It ends, with its events.

Before the fix, an agent who closed their tab after the customer pressed "End chat" had
the chat offered to the next agent about 15 s later, again and again, ahead of live
customers, and the supervisor board showed it waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from center.appkeys import ROUTER, SERVICE
from center.records import events
from center.records.enums import Channel, InteractionState
from center.records.models import Interaction
from tests.agent_ui.routing_support import Desk
from tests.support import Server

POLL_S, POLLS = 0.05, 200  # a bound on waiting for the grace task, not a timing claim


@pytest.fixture
async def desk(server: Server) -> AsyncIterator[Desk]:
    desk = Desk(server)
    yield desk
    await desk.close()


async def _left_chat(desk: Desk, agent_name: str = "alice") -> tuple[int, int]:
    """A chat accepted by an agent, then ended by the customer ("End chat")."""
    alice = await desk.agent(agent_name)
    customer = desk.customer()
    await customer.connect()
    iid = (await customer.say("my order never came"))["interaction_id"]
    offer = await alice.next("offer")
    assert (await alice.call("accept", {"interaction_id": offer["id"]}))["ok"]
    assert (await alice.call("message", {"interaction_id": iid, "text": "Looking now"}))["ok"]
    assert (await customer.call("leave", {}))["interaction_id"] == iid
    assert (await alice.next("customer_left"))["interaction_id"] == iid
    return iid, await desk.user_id(agent_name)


async def _state(desk: Desk, iid: int) -> InteractionState:
    async with desk.server.db.read() as s:
        return (await s.get(Interaction, iid)).state


async def _until_not(desk: Desk, iid: int, state: InteractionState) -> InteractionState:
    for _ in range(POLLS):
        now = await _state(desk, iid)
        if now is not state:
            return now
        await asyncio.sleep(POLL_S)
    return now


async def _nobody_available(desk: Desk) -> None:
    """(So that what these tests put back in a queue waits there to be found.)"""
    ack = await desk.clients[0].call("presence", {"presence": "away"})
    assert ack["ok"], ack


async def _types(desk: Desk, iid: int) -> list[str]:
    return [t for t, _ in await desk.events(interaction_id=iid)]


async def test_agent_gone_after_the_customer_left_ends_the_chat(desk: Desk) -> None:
    iid, alice_id = await _left_chat(desk)
    bob = await desk.agent("bob")  # a live agent, who must never be offered the ghost
    alice = desk.clients[0]
    await alice.close()  # tab closed without pressing Close: gone past the grace period
    assert await _until_not(desk, iid, InteractionState.ASSIGNED) is InteractionState.CLOSED
    types = await _types(desk, iid)
    assert types[-3:] == ["interaction.customer_left", "interaction.wrap_up", "interaction.closed"]
    assert "interaction.requeued" not in types and types.count("interaction.offered") == 1
    wrap = await desk.events(interaction_id=iid, type=events.EventType.WRAP_UP.value)
    assert [d for _, d in wrap] == [
        {"agent_id": alice_id, "note": "", "disposition": "customer_left"}
    ]
    async with desk.server.db.read() as s:
        row = await s.get(Interaction, iid)
        assert row.ended_at is not None and row.disposition == "customer_left"
    router = desk.server.app[ROUTER]
    assert await router.waiting("default", Channel.CHAT) == []  # the board shows no one
    assert await router.live_state(iid) == {}
    assert (await router.agent_state(alice_id)).get("load:chat") == "0"
    # A live customer who writes now is the one bob is offered.
    fresh = desk.customer()
    await fresh.connect()
    new_iid = (await fresh.say("hello?"))["interaction_id"]
    assert (await bob.next("offer"))["id"] == new_iid
    assert bob.pending("offer") == []


async def test_a_chat_whose_customer_left_cannot_be_transferred(desk: Desk) -> None:
    iid, _ = await _left_chat(desk)
    alice = desk.clients[0]
    await desk.agent("bob")
    bob_id = await desk.user_id("bob")
    for target in ({"to_queue": "default"}, {"to_agent_id": bob_id}):
        refused = await alice.call("transfer", {"interaction_id": iid, **target})
        assert refused["ok"] is False and refused["code"] == "customer_left", refused
    assert await _state(desk, iid) is InteractionState.ASSIGNED
    closed = await alice.call("close", {"interaction_id": iid, "note": "left", "disposition": ""})
    assert closed["ok"], closed
    assert "interaction.transferred" not in await _types(desk, iid)


async def test_the_audit_ends_a_ghost_requeued_in_redis_only(desk: Desk) -> None:
    """The re-queue's Redis step happened and its record write did not (a process died
    between the two): the audit's repair would make the record follow Redis and offer it."""
    iid, alice_id = await _left_chat(desk)
    router, service = desk.server.app[ROUTER], desk.server.app[SERVICE]
    await _nobody_available(desk)
    await router.requeue(iid, alice_id)
    await service.reconcile(confirm_s=0, missing_after_s=0)
    assert await _state(desk, iid) is InteractionState.CLOSED
    assert await router.waiting("default", Channel.CHAT) == []
    assert await router.live_state(iid) == {}
    types = await _types(desk, iid)
    assert types[-2:] == ["interaction.wrap_up", "interaction.closed"]
    assert "interaction.requeued" not in types


async def test_recovery_never_requeues_a_ghost_left_waiting(desk: Desk) -> None:
    """A ghost the old code had put back in its queue (record waiting, the departure
    recorded) and a restart that lost Redis's copy: recovery ends it, never re-queues it."""
    iid, alice_id = await _left_chat(desk)
    router, service = desk.server.app[ROUTER], desk.server.app[SERVICE]
    await _nobody_available(desk)
    await router.requeue(iid, alice_id)  # what the old agent-offline path did ...
    async with desk.server.db.transaction() as s:
        row = await s.get(Interaction, iid)
        row.state, row.agent_id = InteractionState.QUEUED, None
        requeued = events.Requeued(reason="agent_disconnected", agent_id=alice_id)
        events.append(s, requeued, interaction=row)
    await router.remove(iid)  # ... and Redis lost it since
    await service.recover()
    assert await _state(desk, iid) is InteractionState.CLOSED
    assert await router.waiting("default", Channel.CHAT) == []
    assert (await _types(desk, iid))[-1] == "interaction.closed"
