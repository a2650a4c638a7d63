"""The router's proofs with real processes: two ``center serve`` processes against one
database and one Redis, agents and customers connected to both, every interaction counted
at the end; and a process SIGKILLed with offers in flight.

``CENTER_PROOF_N`` sets the number of interactions (default 1,000 so that CI stays short;
the issue's 10,000 is ``CENTER_PROOF_N=10000``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from center.config import Settings
from center.queue.keys import Keys
from center.records.db import Database
from center.records.enums import Channel, InteractionState, Presence
from center.records.events import EventType
from center.records.models import Event, Interaction, User
from center.redisconn import client
from tests.processes import AutoAgent, ServeProcess, Story, customer_story, start_serve
from tests.support import Customer, make_user

PROOF_N = int(os.environ.get("CENTER_PROOF_N", "1000"))
AGENTS = 30
CAPACITY = 3


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    r = client(settings.redis_url, decode_responses=True)
    yield r
    await r.aclose()


async def _serve(settings: Settings, names: list[str], log_dir: Path, **kw: object):
    return list(await asyncio.gather(*(start_serve(settings, n, log_dir, **kw) for n in names)))


async def _stop(servers: list[ServeProcess]) -> None:
    await asyncio.gather(*(s.stop() for s in servers))


async def _over_capacity_sampler(
    redis: Redis, keys: Keys, agent_ids: list[int], seen: list[str], stop: asyncio.Event
) -> None:
    # Independent of the clients: the router's own load counters, read while it works.
    while not stop.is_set():
        async with redis.pipeline(transaction=False) as pipe:
            for a in agent_ids:
                pipe.hmget(keys.agent(a), "load:chat", "cap:chat")
            rows = await pipe.execute()
        for a, (load, cap) in zip(agent_ids, rows, strict=True):
            if load is not None and cap is not None and int(load) > int(cap):
                seen.append(f"agent {a}: load {load} > capacity {cap}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)


async def _event_counts(db: Database) -> dict[str, Counter[int]]:
    async with db.read() as s:
        rows = (
            await s.execute(
                select(Event.type, Event.interaction_id, func.count())
                .where(Event.interaction_id.is_not(None))
                .group_by(Event.type, Event.interaction_id)
            )
        ).all()
    counts: dict[str, Counter[int]] = {}
    for etype, iid, n in rows:
        counts.setdefault(etype, Counter())[iid] = n
    return counts


async def _trail(db: Database, ids: list[int]) -> str:
    """The events of some interactions, for a failure message."""
    async with db.read() as s:
        rows = (
            await s.execute(
                select(Event.id, Event.interaction_id, Event.type, Event.data)
                .where(Event.interaction_id.in_(ids))
                .order_by(Event.id)
            )
        ).all()
    return f"interactions {ids}; their events:\n" + "\n".join(map(str, rows))


async def _live_leftovers(redis: Redis, keys: Keys) -> dict[str, int]:
    return {
        "waiting": await redis.zcard(keys.queue("default", Channel.CHAT.value)),
        "offers": await redis.zcard(keys.offers),
    }


async def test_two_processes_route_every_interaction_exactly_once(
    settings: Settings, db: Database, redis: Redis, tmp_path: Path
) -> None:
    # The record/live-state audit runs every 2 s throughout, under full load: a live
    # process's write that trails its Redis step is no gap, so nothing is recorded twice.
    servers = await _serve(
        settings, ["serve-a", "serve-b"], tmp_path, offer_timeout_s=120, reconcile_interval_s=2
    )
    agents: list[AutoAgent] = []
    try:
        users = [
            await make_user(db, f"proof{i}", capacity={"chat": CAPACITY}) for i in range(AGENTS)
        ]
        agents = [AutoAgent(servers[i % 2].url, u.username, CAPACITY) for i, u in enumerate(users)]
        await asyncio.gather(*(a.start() for a in agents))
        keys = Keys(settings.redis_prefix)
        over: list[str] = []
        stop = asyncio.Event()
        sampler = asyncio.create_task(
            _over_capacity_sampler(redis, keys, [u.id for u in users], over, stop)
        )

        # Customers alternate between the processes, more at once than there are seats so
        # that work also waits in the queue.
        stories = [Story(servers[n % 2].url, n) for n in range(PROOF_N)]
        gate = asyncio.Semaphore(AGENTS * CAPACITY + 30)

        async def run(story: Story) -> None:
            async with gate:
                await customer_story(story, wait_s=120)

        started = time.monotonic()
        await asyncio.gather(*(run(s) for s in stories))
        elapsed = time.monotonic() - started
        stop.set()
        await sampler
        print(
            f"\n{PROOF_N} interactions over 2 processes in {elapsed:.1f} s "
            f"({PROOF_N / elapsed:.1f}/s)"
        )

        failed = [(s.n, s.error) for s in stories if s.error]
        assert not failed, f"{len(failed)} stories failed, e.g. {failed[:5]}"
        assert all(s.got_reply and s.closed for s in stories)

        # Counted from the record, not from the clients.
        async with db.read() as s:
            states = dict(
                (
                    await s.execute(
                        select(Interaction.state, func.count()).group_by(Interaction.state)
                    )
                ).all()
            )
            agent_of = dict((await s.execute(select(Interaction.id, Interaction.agent_id))).all())
        assert states == {InteractionState.CLOSED: PROOF_N}, states
        ids = {s.interaction_id for s in stories}
        assert len(ids) == PROOF_N
        counts = await _event_counts(db)
        for etype in (EventType.QUEUED, EventType.OFFERED, EventType.ACCEPTED, EventType.CLOSED):
            per = counts.get(etype.value, Counter())
            wrong = {i: per[i] for i in ids if per[i] != 1}
            assert not wrong, f"{etype}: not exactly once for {len(wrong)}: {list(wrong)[:5]}"
        for etype in (EventType.OFFER_TIMED_OUT, EventType.OFFER_REJECTED, EventType.ABANDONED):
            assert not counts.get(etype.value), f"unexpected {etype}"

        # No double offers seen by the consoles either; nobody over capacity.
        assert not [f for a in agents for f in a.failed]
        offered = Counter(i for a in agents for i in a.offers)
        assert set(offered) == ids and max(offered.values()) == 1
        assert max(a.max_active for a in agents) <= CAPACITY
        assert not over, over[:5]
        # Both processes did work, and work crossed between them.
        by_process = Counter(
            servers.index(next(x for x in servers if x.url == a.url))
            for a in agents
            for _ in a.accepted
        )
        assert by_process[0] > 0 and by_process[1] > 0
        agent_server = {u.id: i % 2 for i, u in enumerate(users)}
        crossed = sum(1 for st in stories if agent_server[agent_of[st.interaction_id]] != st.n % 2)
        assert crossed > 0
        assert await _live_leftovers(redis, keys) == {"waiting": 0, "offers": 0}
    finally:
        await asyncio.gather(*(a.close() for a in agents), return_exceptions=True)
        await _stop(servers)


async def test_sigkill_with_offers_in_flight_loses_nothing(
    settings: Settings, db: Database, redis: Redis, tmp_path: Path
) -> None:
    fast = {
        "offer_timeout_s": 3,
        "heartbeat_ttl_s": 1.5,
        "agent_offline_grace_s": 0.5,
        # Customers of the killed process reconnect elsewhere: not an abandonment.
        "chat_abandon_grace_s": 30,
    }
    victim, survivor = await _serve(settings, ["victim", "survivor"], tmp_path, **fast)
    n = 12
    ghosts: list[AutoAgent] = []
    helpers: list[AutoAgent] = []
    try:
        # Agents on the victim receive offers but do not answer before it dies.
        ghost_users = [await make_user(db, f"ghost{i}", capacity={"chat": 3}) for i in range(4)]
        ghosts = [AutoAgent(victim.url, u.username, 3, accept=False) for u in ghost_users]
        await asyncio.gather(*(g.start() for g in ghosts))
        customers = [Customer(victim.url if k % 2 else survivor.url) for k in range(n)]
        stories = [Story(c.url, k) for k, c in enumerate(customers)]
        for c, st in zip(customers, stories, strict=True):
            welcome = await c.connect()
            st.token = welcome["token"]
            st.interaction_id = (await c.say(f"Order {st.n} is late"))["interaction_id"]
        for _ in range(100):
            if sum(len(g.offers) for g in ghosts) >= n:
                break
            await asyncio.sleep(0.1)
        assert sum(len(g.offers) for g in ghosts) >= n, "offers not in flight before the kill"

        victim.kill()
        await victim.proc.wait()

        # The victim's customers reconnect (as the widget does) to the surviving process;
        # fresh agents sign in there.
        resumed: list[asyncio.Task[None]] = []
        for c, st in zip(customers, stories, strict=True):
            if c.url == victim.url:
                await c.close()
                c = Customer(survivor.url)
                welcome = await c.connect(token=st.token)
                assert welcome["interaction"]["id"] == st.interaction_id
            resumed.append(asyncio.create_task(customer_story(st, wait_s=90, client=c)))
        helper_users = [await make_user(db, f"helper{i}", capacity={"chat": 3}) for i in range(3)]
        helpers = [AutoAgent(survivor.url, u.username, 3) for u in helper_users]
        await asyncio.gather(*(h.start() for h in helpers))
        await asyncio.gather(*resumed)

        failed = [(s.n, s.error) for s in stories if s.error]
        assert not failed, failed
        async with db.read() as s:
            rows = (
                await s.execute(
                    select(Interaction.id, Interaction.state, Interaction.agent_id).where(
                        Interaction.id.in_([st.interaction_id for st in stories])
                    )
                )
            ).all()
            ghost_presence = list(
                await s.scalars(select(User.presence).where(User.username.like("ghost%")))
            )
        helper_ids = {u.id for u in helper_users}
        open_ = [r.id for r in rows if r.state is not InteractionState.CLOSED]
        assert not open_, await _trail(db, open_)
        assert all(r.agent_id in helper_ids for r in rows)
        counts = await _event_counts(db)
        # Each offer in flight at the kill ended logged: timed out, or taken back from the
        # dead process's agent by the survivor -- and then went to a helper.
        ended = counts.get(EventType.OFFER_TIMED_OUT.value, Counter()) + counts.get(
            EventType.REQUEUED.value, Counter()
        )
        unended = [st.interaction_id for st in stories if not ended[st.interaction_id]]
        assert not unended, await _trail(db, unended)
        # The survivor noticed the dead process and took its agents offline.
        assert ghost_presence == [Presence.OFFLINE] * len(ghosts)
    finally:
        await asyncio.gather(*(a.close() for a in ghosts + helpers), return_exceptions=True)
        await _stop([victim, survivor])
