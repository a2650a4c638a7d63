"""The periodic audit: with nobody restarting anything, a gap between the record and the
live routing state (a failed write, a lost Redis key) is closed within an interval."""

from __future__ import annotations

import asyncio

import pytest

from center.appkeys import ROUTER
from center.config import Settings
from tests.agent_ui.routing_support import Desk


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"reconcile_interval_s": 0.3})


async def test_a_waiting_chat_redis_lost_is_queued_again_and_offered(desk: Desk) -> None:
    customer = desk.customer()
    await customer.connect()
    iid = (await customer.say("anyone?"))["interaction_id"]  # nobody is available yet
    router = desk.server.app[ROUTER]
    # What an enqueue that failed after its commit leaves: the record says queued, and
    # Redis knows nothing of it. Without the audit nobody would ever be offered it.
    await router.remove(iid)
    assert await router.live_state(iid) == {}
    alice = await desk.agent("alice")
    offer = await alice.next("offer", timeout=10)
    assert offer["id"] == iid
    assert (await alice.call("accept", {"interaction_id": iid}))["ok"]
    assert (await customer.next("agent_joined"))["agent"]


async def test_an_accept_never_recorded_is_recorded_without_a_restart(desk: Desk) -> None:
    alice = await desk.agent("alice")
    customer = desk.customer()
    await customer.connect()
    iid = (await customer.say("is anyone there?"))["interaction_id"]
    assert (await alice.next("offer"))["id"] == iid
    await desk.server.app[ROUTER].accept(iid, await desk.user_id("alice"))  # Redis only
    assigned = await alice.next("assigned", timeout=10)
    assert assigned["id"] == iid
    assert [t for t, _ in await desk.events(interaction_id=iid)].count("interaction.accepted") == 1


async def test_an_assigned_chat_redis_forgot_counts_on_its_agent_again(desk: Desk) -> None:
    alice = await desk.agent("alice", capacity={"chat": 1})
    iid = await desk.chat_assigned_to(alice)
    alice_id = await desk.user_id("alice")
    router = desk.server.app[ROUTER]
    # Redis released it (as a close does first) but the record still has it open.
    await router.finish(iid, alice_id)
    assert (await router.agent_state(alice_id)).get("load:chat") == "0"
    for _ in range(100):
        if await router.live_state(iid):
            break
        await asyncio.sleep(0.1)
    assert (await router.live_state(iid))["state"] == "assigned"
    assert (await router.agent_state(alice_id))["load:chat"] == "1"  # full: no new chat
    # And the agent's close works as usual from there.
    closed = await alice.call("close", {"interaction_id": iid, "note": "done"})
    assert closed["ok"]
    assert (await router.agent_state(alice_id))["load:chat"] == "0"


async def test_routing_comes_back_after_redis_loses_everything(desk: Desk) -> None:
    alice = await desk.agent("alice", capacity={"chat": 2})
    first = await desk.chat_assigned_to(alice, "my order is late")
    router = desk.server.app[ROUTER]
    # A Redis restarted without its data: every key of this deployment is gone.
    keys = [k async for k in router.redis.scan_iter(match=f"{router.keys.base}*")]
    await router.redis.delete(*keys)

    customer = desk.customer()
    await customer.connect()
    second = (await customer.say("and my refund?"))["interaction_id"]
    offer = await alice.next("offer", timeout=10)
    assert offer["id"] == second
    assert (await alice.call("accept", {"interaction_id": second}))["ok"]
    alice_id = await desk.user_id("alice")
    # The first chat counted again: alice is at her capacity of two.
    assert (await router.agent_state(alice_id))["load:chat"] == "2"
    assert (await router.live_state(first))["state"] == "assigned"
    closed = await alice.call("close", {"interaction_id": first, "note": "sent"})
    assert closed["ok"]
