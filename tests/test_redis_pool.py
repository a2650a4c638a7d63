"""Bursts of Redis work wait for a pooled connection instead of failing.

redis-py's default asyncio pool raises ``MaxConnectionsError`` past its cap (a burst of
500 arrivals/s did); every client of ours uses a blocking pool of a configured size.
"""

from __future__ import annotations

import asyncio
import uuid

import aiohttp

from center.config import Settings
from center.records.db import Database
from center.redisconn import PoolOptions, client
from tests.support import serve_app

BURST = 300  # more than the pool holds, and more than redis-py's default cap of 100


async def test_a_burst_larger_than_the_pool_all_succeeds_on_pool_size_connections(
    redis_url: str,
) -> None:
    name, key = f"pool-{uuid.uuid4().hex[:8]}", f"pool-test:{uuid.uuid4().hex}"
    # (Connects and replies bounded generously: this is about waiting for the pool, and a
    # CI machine busy with other tests' processes once took over 2 s to connect.)
    options = PoolOptions(size=10, timeout_s=60, connect_timeout_s=30, socket_timeout_s=30)
    redis = client(redis_url, options, client_name=name)
    try:
        results = await asyncio.gather(*(redis.incr(key) for _ in range(BURST)))
        assert sorted(results) == list(range(1, BURST + 1))
        # Seen from the server: never more connections than the pool's size.
        clients = [c for c in await redis.client_list() if c.get("name") == name]
        assert 1 <= len(clients) <= 10
    finally:
        await redis.delete(key)
        await redis.aclose()


async def test_the_app_serves_a_burst_through_a_small_pool(
    settings: Settings, db: Database
) -> None:
    small = settings.model_copy(update={"redis_pool_size": 4})
    async with serve_app(small, db) as server:
        connector = aiohttp.TCPConnector(limit=0)  # really concurrent
        async with aiohttp.ClientSession(connector=connector) as http:

            async def health() -> int:
                async with http.get(f"{server.url}/healthz") as r:
                    await r.read()
                    return r.status

            statuses = await asyncio.gather(*(health() for _ in range(120)))
        assert statuses == [200] * 120
