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
    return settings.model_copy(
        update={"reconcile_interval_s": 0.3, "reconcile_missing_after_s": 1.0}
    )


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


async def test_a_close_whose_record_write_failed_is_left_for_the_agent(desk: Desk) -> None:
    alice = await desk.agent("alice", capacity={"chat": 1})
    iid = await desk.chat_assigned_to(alice)
    alice_id = await desk.user_id("alice")
    router = desk.server.app[ROUTER]
    # A close did its Redis step (capacity released) and its write failed: the record still
    # has the chat open. That is not a lost interaction: no audit may put it back on her
    # load (it would leak a seat for good if the write was only slow).
    await router.finish(iid, alice_id)
    await asyncio.sleep(4)  # several turns, past the missing grace
    assert await router.live_state(iid) == {}
    assert (await router.agent_state(alice_id)).get("load:chat") == "0"
    # Her console still shows it, and closing it again ends it in the record.
    closed = await alice.call("close", {"interaction_id": iid, "note": "done"})
    assert closed["ok"]
    assert [t for t, _ in await desk.events(interaction_id=iid)][-1] == "interaction.closed"


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
