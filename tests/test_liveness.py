"""Liveness across processes: a dead process's sockets stop counting, and exactly one
survivor runs the grace checks for the customers and agents it held."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from center.liveness import Liveness, Owner
from center.queue.keys import Keys
from center.redisconn import PoolOptions, client


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    r = client(redis_url, decode_responses=True)
    yield r
    await r.aclose()


@pytest.fixture
def keys() -> Keys:
    return Keys(f"t{uuid.uuid4().hex[:10]}")


async def _running(live: Liveness) -> asyncio.Task[None]:
    task = asyncio.create_task(live.run())
    await asyncio.sleep(0.05)  # first beat
    return task


async def _kill(task: asyncio.Task[None]) -> None:
    # Like SIGKILL: no goodbye, the heartbeat just stops being refreshed.
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_sockets_of_a_dead_process_stop_counting(redis: Redis, keys: Keys) -> None:
    a = Liveness(redis, keys, ttl_s=0.3)
    b = Liveness(redis, keys, ttl_s=0.3)
    ta, tb = await _running(a), await _running(b)
    await a.connected(Owner.CHAT, 7, "sid-a")
    await b.connected(Owner.CHAT, 7, "sid-b")
    assert await b.live_count(Owner.CHAT, 7) == 2
    await _kill(ta)
    await asyncio.sleep(0.5)
    assert await b.live_count(Owner.CHAT, 7) == 1
    await b.disconnected(Owner.CHAT, 7, "sid-b")
    assert await b.live_count(Owner.CHAT, 7) == 0
    await _kill(tb)


async def test_one_survivor_checks_each_owner_of_a_dead_process(redis: Redis, keys: Keys) -> None:
    dead = Liveness(redis, keys, ttl_s=0.3)
    survivors = [Liveness(redis, keys, ttl_s=0.3) for _ in range(3)]
    checked: list[tuple[str, Owner, int]] = []

    for s in survivors:
        for kind in Owner:

            async def handler(owner_id: int, s: Liveness = s, kind: Owner = kind) -> None:
                checked.append((s.instance, kind, owner_id))

            s.handlers[kind] = handler
    t_dead = await _running(dead)
    tasks = [await _running(s) for s in survivors]
    await dead.connected(Owner.AGENT, 1, "x")
    await dead.connected(Owner.CHAT, 2, "y")
    await dead.connected(Owner.CHAT, 3, "z")
    await _kill(t_dead)
    for _ in range(50):
        await asyncio.sleep(0.1)
        if len(checked) >= 3:
            break
    await asyncio.sleep(0.3)  # any duplicate would arrive by now
    for t in tasks:
        await _kill(t)
    assert sorted((k, o) for _, k, o in checked) == [
        (Owner.AGENT, 1),
        (Owner.CHAT, 2),
        (Owner.CHAT, 3),
    ]
    # One survivor claimed the dead process and checked all of its owners.
    assert len({i for i, _, _ in checked}) == 1


async def test_a_graceful_stop_hands_over_at_once(redis: Redis, keys: Keys) -> None:
    leaving = Liveness(redis, keys, ttl_s=30)  # its heartbeat would last 30 s
    staying = Liveness(redis, keys, ttl_s=0.3)
    seen: asyncio.Queue[int] = asyncio.Queue()

    async def handler(owner_id: int) -> None:
        seen.put_nowait(owner_id)

    staying.handlers[Owner.AGENT] = handler
    t_leaving, t_staying = await _running(leaving), await _running(staying)
    await leaving.connected(Owner.AGENT, 42, "s")
    await _kill(t_leaving)
    await leaving.stop()
    assert await asyncio.wait_for(seen.get(), 5) == 42
    await _kill(t_staying)


async def test_a_process_shutting_down_hands_its_sockets_over_at_once(
    redis: Redis, keys: Keys
) -> None:
    """``leave`` (before a shutdown closes every socket): the closes are not forgotten one
    by one, yet a peer checks the owners at once and counts none of those sockets, even
    while the leaving process's heartbeat loop still runs."""
    leaving = Liveness(redis, keys, ttl_s=0.3)
    staying = Liveness(redis, keys, ttl_s=0.3)
    seen: asyncio.Queue[int] = asyncio.Queue()

    async def handler(owner_id: int) -> None:
        seen.put_nowait(owner_id)

    staying.handlers[Owner.CHAT] = handler
    t_leaving, t_staying = await _running(leaving), await _running(staying)
    await leaving.connected(Owner.CHAT, 7, "s1")
    assert await staying.live_count(Owner.CHAT, 7) == 1
    await leaving.leave()
    await leaving.disconnected(Owner.CHAT, 7, "s1")  # (the shutdown's close of it)
    assert await asyncio.wait_for(seen.get(), 5) == 7
    assert await staying.live_count(Owner.CHAT, 7) == 0
    await asyncio.sleep(0.3)  # (a heartbeat period of the leaving loop, still running)
    assert not await redis.exists(keys.process(leaving.instance))
    await _kill(t_leaving)
    await leaving.stop()
    await _kill(t_staying)


async def test_a_storm_of_closes_is_forgotten_and_checked_through_a_small_pool(
    redis_url: str, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    """Thousands of sockets closing at once (a load balancer dropping them) through a
    one-connection Redis pool whose wait is short: every one is forgotten, every owner is
    checked, and nothing waits for the pool past its timeout (the closes of one moment go
    in one pipeline)."""
    small = client(redis_url, PoolOptions(size=1, timeout_s=0.02), decode_responses=True)
    live = Liveness(small, keys, ttl_s=30)
    checked: list[int] = []
    n = 2000
    everyone = asyncio.Event()

    async def handler(owner_id: int) -> None:
        checked.append(owner_id)
        if len(checked) == n:
            everyone.set()

    live.handlers[Owner.CHAT] = handler
    try:
        for owner_id in range(n):
            await live.connected(Owner.CHAT, owner_id, f"s{owner_id}")
        caplog.clear()
        await asyncio.gather(
            *(live.disconnected(Owner.CHAT, owner_id, f"s{owner_id}") for owner_id in range(n))
        )
        await asyncio.wait_for(everyone.wait(), 5)
        assert sorted(checked) == list(range(n))
        counts = [await live.live_count(Owner.CHAT, owner_id) for owner_id in (0, n // 2, n - 1)]
        assert counts == [0, 0, 0]
        # (No close waited for the pool past its timeout, to be retried and logged.)
        assert [r.getMessage() for r in caplog.records if r.name == "center.loops"] == []
    finally:
        await live.stop()
        await small.aclose()
