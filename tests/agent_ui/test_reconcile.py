"""Reconciling the record with the live state after a process died between a Redis step
and its database write: the step is recorded late, and the people involved are told."""

from __future__ import annotations

import asyncio

from center.appkeys import ROUTER, SERVICE
from center.records.enums import InteractionState
from center.records.models import Interaction
from tests.agent_ui.routing_support import Desk


async def _state(desk: Desk, iid: int) -> tuple[str, int | None]:
    async with desk.server.db.read() as s:
        i = await s.get(Interaction, iid)
        assert i is not None
        return i.state.value, i.agent_id


async def test_an_accept_made_in_redis_but_never_recorded_is_recorded(desk: Desk) -> None:
    alice = await desk.agent("alice")
    customer = desk.customer()
    await customer.connect()
    iid = (await customer.say("is anyone there?"))["interaction_id"]
    assert (await alice.next("offer"))["id"] == iid
    service = desk.server.app[SERVICE]
    assert await service.reconcile(confirm_s=0) == 0  # consistent: nothing to do

    # What a process killed inside accept leaves behind: Redis says assigned, the record
    # still says offered, and nobody told the agent or the customer.
    alice_id = await desk.user_id("alice")
    await desk.server.app[ROUTER].accept(iid, alice_id)
    assert await _state(desk, iid) == ("offered", alice_id)

    assert await service.reconcile(confirm_s=0) == 1
    assert await _state(desk, iid) == ("assigned", alice_id)
    accepted = await desk.events(interaction_id=iid, type="interaction.accepted")
    assert [d["agent_id"] for _, d in accepted] == [alice_id]
    assigned = await alice.next("assigned")
    assert assigned["id"] == iid
    assert [m["body"] for m in assigned["messages"]] == ["is anyone there?"]
    assert (await customer.next("agent_joined"))["agent"]
    # The conversation goes on as if the accept had been answered.
    assert (await alice.call("message", {"interaction_id": iid, "text": "I am here"}))["ok"]
    assert (await customer.next("message"))["body"] == "I am here"
    assert await service.reconcile(confirm_s=0) == 0  # and it is not repaired twice


async def test_a_mismatch_that_resolves_itself_is_left_alone(desk: Desk) -> None:
    alice = await desk.agent("alice")
    customer = desk.customer()
    await customer.connect()
    iid = (await customer.say("hello"))["interaction_id"]
    assert (await alice.next("offer"))["id"] == iid
    alice_id = await desk.user_id("alice")
    service = desk.server.app[SERVICE]
    # A live process is between its Redis step and its write: by the time the mismatch is
    # confirmed, the record has caught up, and nothing is written twice.
    await desk.server.app[ROUTER].accept(iid, alice_id)
    task = asyncio.create_task(service.reconcile(confirm_s=0.5))
    await asyncio.sleep(0.1)
    async with desk.server.db.transaction() as s:
        i = await s.get(Interaction, iid, with_for_update=True)
        assert i is not None
        i.state = InteractionState.ASSIGNED
    assert await task == 0
    assert await desk.events(interaction_id=iid, type="interaction.accepted") == []


async def test_an_agent_redis_forgot_comes_back_with_the_load_they_hold(desk: Desk) -> None:
    alice = await desk.agent("alice", capacity={"chat": 2})
    await desk.chat_assigned_to(alice)
    router = desk.server.app[ROUTER]
    keys = [k async for k in router.redis.scan_iter(match=f"{router.keys.base}*")]
    await router.redis.delete(*keys)  # a Redis restarted without its data
    # Agents first, before any turn has put the interactions back: the chat she holds is
    # counted before she is offered more, so she cannot go over her capacity of two.
    assert await desk.server.app[SERVICE].restore_agents() == 1
    state = await router.agent_state(await desk.user_id("alice"))
    assert (state["presence"], state["load:chat"], state["cap:chat"]) == ("available", "1", "2")
