"""The router's atomic steps against a real Redis (embedded or the configured server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from center.embedded_redis import EmbeddedRedis
from center.queue.keys import Keys
from center.queue.results import Offer
from center.queue.router import Router
from center.queue.scripts import ErrorCode, RouterError
from center.records.enums import Channel, Presence
from center.redisconn import connect

CHAT = Channel.CHAT


async def test_fifo_within_priority_and_higher_priority_first(router: Router, clock) -> None:
    for iid, prio in [(1, 0), (2, 0), (3, 5), (4, 0), (5, 5)]:
        clock.ms += 10
        await router.enqueue(iid, queue="support", channel=CHAT, priority=prio)
    assert await router.waiting("support", CHAT) == [3, 5, 1, 2, 4]


async def test_offer_goes_to_longest_idle_agent_and_respects_capacity(
    router: Router, clock
) -> None:
    await router.set_presence(10, Presence.AVAILABLE, {"chat": 1})
    clock.ms += 1000
    await router.set_presence(11, Presence.AVAILABLE, {"chat": 2})
    for iid in (1, 2, 3, 4):
        await router.enqueue(iid, queue="q", channel=CHAT)
    offers = await router.dispatch("q", CHAT)
    # 10 has been idle longest; then 11; then 11 again (10 is full); 4 waits (no capacity).
    assert [(o.interaction_id, o.agent_id) for o in offers] == [(1, 10), (2, 11), (3, 11)]
    assert await router.waiting("q", CHAT) == [4]
    assert (await router.agent_state(10))["load:chat"] == "1"
    assert (await router.agent_state(11))["load:chat"] == "2"


async def test_only_the_offered_agent_can_accept_and_only_once(router: Router) -> None:
    await router.set_presence(1, Presence.AVAILABLE, {"chat": 1})
    await router.set_presence(2, Presence.AVAILABLE, {"chat": 1})
    await router.enqueue(7, queue="q", channel=CHAT)
    [offer] = await router.dispatch("q", CHAT)
    other = 2 if offer.agent_id == 1 else 1
    with pytest.raises(RouterError) as not_yours:
        await router.accept(7, other)
    assert not_yours.value.code is ErrorCode.NOT_YOURS
    results = await asyncio.gather(
        router.accept(7, offer.agent_id),
        router.accept(7, other),
        router.accept(7, offer.agent_id),
        return_exceptions=True,
    )
    wins = [r for r in results if not isinstance(r, Exception)]
    errors = {r.code for r in results if isinstance(r, RouterError)}
    assert len(wins) == 1
    assert errors == {ErrorCode.NOT_OFFERED}  # taken: nobody else, not even a second tab


async def test_reject_returns_to_original_place_and_goes_to_someone_else(router: Router, clock):
    await router.set_presence(1, Presence.AVAILABLE, {"chat": 1})
    for iid in (100, 101):
        clock.ms += 5
        await router.enqueue(iid, queue="q", channel=CHAT)
    [offer] = await router.dispatch("q", CHAT)
    assert (offer.interaction_id, offer.agent_id) == (100, 1)
    await router.decline(100, 1, timeout=False)
    assert await router.waiting("q", CHAT) == [100, 101]  # original place, ahead of 101
    # Agent 1 declined 100, so it gets 101 instead; 100 waits for another agent.
    [again] = await router.dispatch("q", CHAT)
    assert (again.interaction_id, again.agent_id) == (101, 1)
    await router.set_presence(2, Presence.AVAILABLE, {"chat": 1})
    [third] = await router.dispatch("q", CHAT)
    assert (third.interaction_id, third.agent_id) == (100, 2)


async def test_expired_offers_are_swept_back_and_repeat_missers_go_away(router: Router, clock):
    await router.set_presence(1, Presence.AVAILABLE, {"chat": 3})
    await router.enqueue(1, queue="q", channel=CHAT)
    await router.enqueue(2, queue="q", channel=CHAT)
    await router.dispatch("q", CHAT)
    clock.ms += 19_999
    assert await router.sweep() == []  # not yet
    clock.ms += 2
    swept = await router.sweep()
    assert sorted(d.interaction_id for d in swept) == [1, 2]
    assert max(d.missed_in_a_row for d in swept) == 2
    assert any(d.set_away for d in swept)  # two misses in a row: away
    assert (await router.agent_state(1))["presence"] == "away"
    assert (await router.agent_state(1))["load:chat"] == "0"
    assert await router.waiting("q", CHAT) == [1, 2]
    assert await router.dispatch("q", CHAT) == []  # nobody available


async def test_accept_after_deadline_is_refused(router: Router, clock) -> None:
    await router.set_presence(1, Presence.AVAILABLE, {"chat": 1})
    await router.enqueue(5, queue="q", channel=CHAT)
    await router.dispatch("q", CHAT)
    clock.ms += 20_001
    with pytest.raises(RouterError) as exc:
        await router.accept(5, 1)
    assert exc.value.code is ErrorCode.EXPIRED


async def test_release_frees_capacity_and_offers_the_backlog(router: Router) -> None:
    await router.set_presence(1, Presence.AVAILABLE, {"chat": 1})
    await router.enqueue(1, queue="q", channel=CHAT)
    await router.enqueue(2, queue="q", channel=CHAT)
    [o] = await router.dispatch("q", CHAT)
    await router.accept(o.interaction_id, 1)
    assert await router.dispatch("q", CHAT) == []
    await router.release(1, 1)
    [o2] = await router.dispatch("q", CHAT)
    assert (o2.interaction_id, o2.agent_id) == (2, 1)
    assert await router.live_state(1) == {}


async def test_remove_withdraws_an_offer_and_frees_the_agent(router: Router) -> None:
    await router.set_presence(1, Presence.AVAILABLE, {"chat": 1})
    await router.enqueue(1, queue="q", channel=CHAT)
    await router.dispatch("q", CHAT)
    removed = await router.remove(1)
    assert (removed.state_before, removed.agent_id) == ("offered", 1)
    assert (await router.agent_state(1))["load:chat"] == "0"
    await router.enqueue(2, queue="q", channel=CHAT)
    [o] = await router.dispatch("q", CHAT)
    assert o.agent_id == 1


async def test_concurrent_dispatchers_never_double_offer_or_overfill(router: Router) -> None:
    for agent in range(1, 21):
        await router.set_presence(agent, Presence.AVAILABLE, {"chat": 3})
    for iid in range(1, 201):
        await router.enqueue(iid, queue="q", channel=CHAT)
    batches = await asyncio.gather(*(router.dispatch("q", CHAT) for _ in range(8)))
    offers = [o for b in batches for o in b]
    assert len(offers) == 60  # 20 agents x 3
    assert len({o.interaction_id for o in offers}) == 60  # no interaction offered twice
    per_agent: dict[int, int] = {}
    for o in offers:
        per_agent[o.agent_id] = per_agent.get(o.agent_id, 0) + 1
    assert set(per_agent.values()) == {3}
    assert len(await router.waiting("q", CHAT)) == 140


async def test_away_agent_gets_no_offers_and_available_again_does(router: Router) -> None:
    await router.set_presence(1, Presence.AWAY, {"chat": 1})
    await router.enqueue(1, queue="q", channel=CHAT)
    assert await router.dispatch("q", CHAT) == []
    await router.set_presence(1, Presence.AVAILABLE, {"chat": 1})
    assert [o.interaction_id for o in await router.dispatch("q", CHAT)] == [1]


async def test_enqueue_and_dispatch_places_then_offers_in_that_order(router: Router) -> None:
    told: list[str] = []

    async def offered(offer: Offer) -> None:
        told.append(f"offer {offer.interaction_id}->{offer.agent_id}")

    async def placed(position: int) -> None:
        told.append(f"placed {position}")

    router.on_offer = offered
    await router.set_presence(10, Presence.AVAILABLE, {"chat": 1})
    position, offers = await router.enqueue_and_dispatch(
        1, queue="q", channel=CHAT, on_placed=placed
    )
    assert position == 1
    assert [(o.interaction_id, o.agent_id) for o in offers] == [(1, 10)]
    assert told == ["placed 1", "offer 1->10"]
    # Nobody left with room: the next one waits, first in line (1 left the queue when offered).
    position, offers = await router.enqueue_and_dispatch(2, queue="q", channel=CHAT)
    assert (position, offers) == (1, [])
    assert await router.waiting("q", CHAT) == [2]


@pytest.fixture
async def own_router(tmp_path: Path, clock) -> AsyncIterator[Router]:
    """A router on a Redis of its own (SCRIPT FLUSH would disturb other tests' scripts)."""
    server = EmbeddedRedis(tmp_path / "own.db")
    url = await asyncio.to_thread(server.start)
    redis = await connect(url)
    try:
        yield Router(redis, Keys("own"), clock=clock)
    finally:
        await redis.aclose()
        await asyncio.to_thread(server.stop)


async def test_enqueue_and_dispatch_after_redis_lost_its_scripts(own_router: Router) -> None:
    """A Redis restarted (or SCRIPT FLUSH) answers the pipelined EVALSHAs with NOSCRIPT:
    both steps still happen, once each."""
    router = own_router
    await router.set_presence(10, Presence.AVAILABLE, {"chat": 2})
    await router.redis.script_flush()
    position, offers = await router.enqueue_and_dispatch(5, queue="q", channel=CHAT)
    assert position == 1 and [o.interaction_id for o in offers] == [5]
    assert (await router.agent_state(10))["load:chat"] == "1"
    await router.redis.script_flush()
    await router.enqueue(6, queue="q", channel=CHAT)  # (waiting; offered by the next step)
    await router.redis.script_flush()
    position, offers = await router.enqueue_and_dispatch(7, queue="q", channel=CHAT)
    assert [o.interaction_id for o in offers] == [6]  # the older first; 7 waits
    assert await router.waiting("q", CHAT) == [7]


async def test_a_refused_enqueue_still_reports_the_offer_it_made(router: Router) -> None:
    """Enqueueing work already offered is refused, but the same round trip's offer of other
    waiting work is real: its agent must hear of it."""
    heard: list[Offer] = []

    async def offered(offer: Offer) -> None:
        heard.append(offer)

    await router.set_presence(10, Presence.AVAILABLE, {"chat": 1})
    await router.enqueue(1, queue="q", channel=CHAT)
    [first] = await router.dispatch("q", CHAT)
    await router.enqueue(2, queue="q", channel=CHAT)  # waits: 10 is full
    await router.set_presence(11, Presence.AVAILABLE, {"chat": 1})
    router.on_offer = offered
    with pytest.raises(RouterError) as refused:
        await router.enqueue_and_dispatch(first.interaction_id, queue="q", channel=CHAT)
    assert refused.value.code is ErrorCode.ALREADY_ROUTED
    assert [(o.interaction_id, o.agent_id) for o in heard] == [(2, 11)]
