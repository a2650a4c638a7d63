"""Warm transfers, re-queue of a vanished agent's work, and recovery of agents' load."""

from __future__ import annotations

import pytest

from center.queue.router import Router
from center.queue.scripts import ErrorCode, RouterError
from center.records.enums import Channel, Presence

CHAT = Channel.CHAT
AVAILABLE = Presence.AVAILABLE


async def test_queue_transfer_keeps_the_original_place(router: Router, clock) -> None:
    await router.set_presence(1, AVAILABLE, {"chat": 1})
    await router.enqueue(1, queue="sales", channel=CHAT)
    await router.dispatch("sales", CHAT)
    await router.accept(1, 1)
    for iid in (2, 3):
        clock.ms += 1000
        await router.enqueue(iid, queue="billing", channel=CHAT)
    t = await router.transfer(1, 1, to_queue="billing")
    assert (t.to_queue, t.position) == ("billing", 1)  # enqueued before 2 and 3
    assert await router.waiting("billing", CHAT) == [1, 2, 3]
    assert (await router.agent_state(1))["load:chat"] == "0"


async def test_agent_transfer_offers_to_that_agent_and_a_reject_returns_it_to_line(
    router: Router, clock
) -> None:
    await router.set_presence(1, AVAILABLE, {"chat": 1})
    await router.enqueue(1, queue="q", channel=CHAT)
    await router.dispatch("q", CHAT)
    await router.accept(1, 1)
    with pytest.raises(RouterError) as busy:
        await router.transfer(1, 1, to_agent_id=2)  # 2 is not available
    assert busy.value.code is ErrorCode.AGENT_UNAVAILABLE
    assert (await router.live_state(1))["state"] == "assigned"  # nothing changed
    await router.set_presence(2, AVAILABLE, {"chat": 1})
    t = await router.transfer(1, 1, to_agent_id=2)
    assert t.deadline_ms == clock.ms + 20_000
    assert (await router.live_state(1))["agent"] == "2"
    clock.ms += 1000
    await router.enqueue(2, queue="q", channel=CHAT)
    await router.decline(1, 2, timeout=False)
    assert await router.waiting("q", CHAT) == [1, 2]
    with pytest.raises(ValueError):
        await router.transfer(1, 1, to_agent_id=2, to_queue="q")


async def test_only_the_assigned_agent_can_transfer(router: Router) -> None:
    await router.set_presence(1, AVAILABLE, {"chat": 1})
    await router.enqueue(1, queue="q", channel=CHAT)
    await router.dispatch("q", CHAT)
    with pytest.raises(RouterError) as offered:
        await router.transfer(1, 1, to_queue="other")
    assert offered.value.code is ErrorCode.NOT_ASSIGNED
    await router.accept(1, 1)
    with pytest.raises(RouterError) as other:
        await router.transfer(1, 3, to_queue="other")
    assert other.value.code is ErrorCode.NOT_YOURS


async def test_requeue_puts_a_vanished_agents_work_back_at_its_place(router: Router, clock) -> None:
    await router.set_presence(1, AVAILABLE, {"chat": 2})
    await router.enqueue(1, queue="q", channel=CHAT)
    clock.ms += 1000
    await router.enqueue(2, queue="q", channel=CHAT)
    await router.dispatch("q", CHAT)
    await router.accept(1, 1)  # 1 assigned, 2 offered
    clock.ms += 1000
    await router.enqueue(3, queue="q", channel=CHAT)
    await router.set_presence(1, Presence.OFFLINE, {"chat": 2})
    back = [await router.requeue(i, 1) for i in (1, 2)]
    assert [b.state_before for b in back] == ["assigned", "offered"]
    assert await router.waiting("q", CHAT) == [1, 2, 3]
    assert (await router.agent_state(1))["load:chat"] == "0"
    with pytest.raises(RouterError):
        await router.requeue(1, 1)


async def test_restore_assigned_counts_the_load_again(router: Router) -> None:
    await router.set_presence(1, AVAILABLE, {"chat": 1})
    assert await router.restore_assigned(5, 1, queue="q", channel=CHAT, enqueued_ms=1)
    assert not await router.restore_assigned(5, 1, queue="q", channel=CHAT, enqueued_ms=1)
    await router.enqueue(6, queue="q", channel=CHAT)
    assert await router.dispatch("q", CHAT) == []  # agent 1 is full
    await router.release(5, 1)
    assert [o.interaction_id for o in await router.dispatch("q", CHAT)] == [6]


async def test_the_sender_is_not_offered_a_transferred_interaction_straight_back(
    router: Router, clock
) -> None:
    await router.set_presence(1, AVAILABLE, {"chat": 2})
    await router.enqueue(1, queue="sales", channel=CHAT)
    await router.dispatch("sales", CHAT)
    await router.accept(1, 1)
    await router.transfer(1, 1, to_queue="billing")
    assert await router.dispatch_agent(1) == []
    await router.set_presence(2, AVAILABLE, {"chat": 2})
    assert [(o.interaction_id, o.agent_id) for o in await router.dispatch_all()] == [(1, 2)]
