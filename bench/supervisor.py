"""Supervisor statistics benchmark: how long one snapshot takes on a busy day.

    python bench/supervisor.py                                 # SQLite + embedded Redis
    CENTER_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
    CENTER_REDIS_URL=redis://127.0.0.1:6379/0 python bench/supervisor.py --today 50000

Seeds a day of interactions (closed, abandoned, still assigned) over a few queues and
channels, some waiting in Redis, and agents with presence; then times ``StatsService.snapshot``
(what the /supervisor publisher computes once a second), alternating two ways of getting
today's figures in the same run: the scan of today's interactions (``today()``, the way
before migration 0012: the anchor) and the counts the database keeps as they change
(center/reports/counters.py). Both give the same figures (checked here and in
tests/reports/). Figures only: no assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from center.queue.keys import Keys
from center.queue.model import QueueDef
from center.queue.router import Router
from center.records.db import Database
from center.records.enums import Channel, InteractionState, Presence, Role
from center.records.models import Customer, Interaction, User
from center.redisconn import EmbeddedRedis, connect
from center.reports.stats import StatsService

QUEUES = ["default", "billing", "tech", "sales"]
CHANNELS = [Channel.CHAT, Channel.EMAIL, Channel.VOICE]


async def seed(db: Database, router: Router, today: int, agents: int, waiting: int) -> None:
    now = datetime.now(UTC)
    start = max(now.replace(hour=0, minute=0, second=0, microsecond=0), now - timedelta(hours=8))
    span = max(1.0, (now - start).total_seconds() - 60)
    rng = random.Random(7)
    async with db.transaction() as s:
        customer = Customer(display_name="bench")
        s.add(customer)
        await s.flush()
        rows = []
        for _ in range(today):
            queued = start + timedelta(seconds=rng.uniform(0, span))
            state = rng.choices(
                [InteractionState.CLOSED, InteractionState.ABANDONED, InteractionState.ASSIGNED],
                [85, 10, 5],
            )[0]
            assigned = (
                None
                if state is InteractionState.ABANDONED
                else queued + timedelta(seconds=rng.expovariate(1 / 15))
            )
            ended = None
            if state is InteractionState.CLOSED and assigned is not None:
                ended = assigned + timedelta(seconds=rng.expovariate(1 / 240))
            elif state is InteractionState.ABANDONED:
                ended = queued + timedelta(seconds=rng.expovariate(1 / 40))
            rows.append(
                {
                    "customer_id": customer.id,
                    "channel": rng.choice(CHANNELS),
                    "state": state,
                    "queue": rng.choice(QUEUES),
                    "queued_at": queued,
                    "assigned_at": assigned,
                    "ended_at": ended,
                    "created_at": queued,
                }
            )
        for i in range(0, len(rows), 5000):
            await s.execute(insert(Interaction), rows[i : i + 5000])
        users = [
            {
                "username": f"agent{n}",
                "display_name": f"Agent {n}",
                "password_hash": "-",
                "role": Role.AGENT,
                "skills": {},
                "capacity": {"chat": 3, "email": 5, "voice": 1},
                "presence": Presence.OFFLINE,
            }
            for n in range(agents)
        ]
        await s.execute(insert(User), users)
    async with db.read() as s:
        ids = [r[0] for r in await s.execute(text("SELECT id FROM users"))]
    for n, agent_id in enumerate(ids):
        presence = [Presence.AVAILABLE, Presence.AWAY, Presence.OFFLINE][n % 3]
        await router.set_presence(agent_id, presence, {"chat": 3, "email": 5, "voice": 1})
    now_ms = router.clock.now_ms()
    for n in range(waiting):
        await router.enqueue(
            10_000_000 + n,
            queue=QUEUES[n % len(QUEUES)],
            channel=CHANNELS[n % len(CHANNELS)],
            enqueued_ms=now_ms - n * 1000,
        )


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--today", type=int, default=20_000, help="interactions queued today")
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--waiting", type=int, default=100)
    ap.add_argument("--runs", type=int, default=100)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="center-bench-"))
    url = os.environ.get("CENTER_DATABASE_URL") or f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    schema = f"bench_{uuid.uuid4().hex[:8]}" if url.startswith("postgresql") else None
    embedded = None
    redis_url = os.environ.get("CENTER_REDIS_URL", "")
    if not redis_url:
        embedded = EmbeddedRedis(tmp / "redis.db")
        await asyncio.to_thread(embedded.start)
        redis_url = embedded.url
    db = Database(url, schema=schema)
    redis = await connect(redis_url)
    keys = Keys(f"bench{uuid.uuid4().hex[:8]}")
    try:
        await db.migrate()
        router = Router(redis, keys)
        t0 = time.perf_counter()
        await seed(db, router, args.today, args.agents, args.waiting)
        print(
            f"seeded {args.today} interactions, {args.agents} agents, {args.waiting} waiting "
            f"in {time.perf_counter() - t0:.1f} s ({db.dialect})"
        )
        ways = {
            "scan (anchor)": StatsService(db, redis, keys, scan=True),
            "kept counts": StatsService(db, redis, keys),
        }
        defs = {q: QueueDef(name=q) for q in QUEUES}
        times: dict[str, list[float]] = {name: [] for name in ways}
        snaps = {}
        for service in ways.values():  # (warm: the first sync recounts today once)
            await service.snapshot(defs, router.clock.now_ms())
        for _ in range(args.runs):
            now_ms = router.clock.now_ms()  # (one instant for both: the same figures)
            for name, service in ways.items():
                t = time.perf_counter()
                snaps[name] = await service.snapshot(defs, now_ms)
                times[name].append((time.perf_counter() - t) * 1000)
        scanned, kept = (snaps[name].json()["queues"] for name in ways)
        print(f"snapshot: {len(kept)} queue rows, {len(snaps['kept counts'].agents)} agents")
        same = [{**q, "aht_s": round(q["aht_s"], 6)} for q in scanned] == [
            {**q, "aht_s": round(q["aht_s"], 6)} for q in kept
        ]
        print(f"same queue figures both ways: {same}")
        for name, ms in times.items():
            ms.sort()
            print(
                f"snapshot ms, {name:>13}: p50 {statistics.median(ms):6.1f}  "
                f"p99 {ms[max(0, int(len(ms) * 0.99) - 1)]:6.1f}  max {ms[-1]:6.1f}"
            )
        ratio = statistics.median(times["scan (anchor)"]) / statistics.median(times["kept counts"])
        print(f"kept counts: {ratio:.1f}x faster than the scan at p50")
    finally:
        await redis.aclose()
        if schema:
            async with db.engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await db.dispose()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


if __name__ == "__main__":
    asyncio.run(main())
