"""Who is connected, across every ``center serve`` process, surviving a process's death.

A customer is abandoned, and an agent set offline with their work re-queued, when all their
sockets have been closed for a grace period. Sockets live in one process each, so each
process announces itself with a heartbeat key that expires unless refreshed, and records
its sockets as ``<instance>|<sid>`` members of the owner's connection set. A member whose
process has no heartbeat any more is dead and is not counted.

When a process dies without a word (SIGKILL, a lost machine) nobody runs its grace timers.
Every process therefore watches its peers: the first survivor to notice a peer's heartbeat
gone claims it (an atomic SREM from the set of processes; only one survivor gets 1) and runs
the "gone" handler for every owner that peer held sockets for. The handlers are the same
grace checks a normal disconnect runs, so an owner who reconnected elsewhere is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from enum import StrEnum

from redis.asyncio import Redis

from center.loops import OUTAGE_ERRORS, every, until_done
from center.queue.keys import Keys

log = logging.getLogger(__name__)


class Owner(StrEnum):
    CHAT = "chat"  # a web-chat customer
    AGENT = "agent"  # an agent's console


# Called with the owner's id when they may be gone; it waits its grace and checks again.
GoneHandler = Callable[[int], Awaitable[None]]


class Liveness:
    def __init__(self, redis: Redis, keys: Keys, *, ttl_s: float = 10.0) -> None:
        self.redis = redis
        self.keys = keys
        self.instance = uuid.uuid4().hex[:12]
        self.ttl_ms = max(300, int(ttl_s * 1000))
        self.handlers: dict[Owner, GoneHandler] = {}
        # Run once per dead peer, after its owners' checks are started (e.g. reconciling
        # the record with steps the peer made in Redis but never wrote down).
        self.on_peer_lost: list[Callable[[], Awaitable[object]]] = []
        self._tasks: set[asyncio.Future[object]] = set()
        self.leaving = False  # (shutting down: see ``leave``)
        # The closes waiting to be forgotten together, and the task forgetting them.
        self._departures: list[tuple[str, str, Owner, int]] | None = None
        self._forgetting: asyncio.Future[None] | None = None

    # -- this process's sockets ------------------------------------------------------------

    def _member(self, sid: str) -> str:
        return f"{self.instance}|{sid}"

    async def connected(self, owner: Owner, owner_id: int, sid: str) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.sadd(self.keys.connections(owner, owner_id), self._member(sid))
            # So that a survivor knows whom to check if this process dies.
            pipe.sadd(self.keys.process_owners(self.instance), f"{owner}:{owner_id}")
            await pipe.execute()

    async def disconnected(self, owner: Owner, owner_id: int, sid: str) -> None:
        """A socket closed: forget it, and start the owner's grace check (which does nothing
        if they are back by then: a page reload is not a departure).

        The closes of one moment are forgotten together, in one pipeline: a storm of them
        (a load balancer dropping 8,000 sockets at once) was 8,000 commands queued on the
        Redis pool, past its timeout, with the heartbeat starved behind them. When Redis is
        away the batch and its checks are retried in a task until it is back: a customer
        who leaves during an outage is still checked (and abandoned) then, not forgotten."""
        if self.leaving:
            return  # (the process's own shutdown closed it: its peers check its owners)
        departure = (self.keys.connections(owner, owner_id), self._member(sid), owner, owner_id)
        if self._departures is None:
            self._departures = []
            self._forgetting = asyncio.ensure_future(self._forget(self._departures))
        self._departures.append(departure)
        await asyncio.shield(self._forgetting)

    async def _forget(self, batch: list[tuple[str, str, Owner, int]]) -> None:
        await asyncio.sleep(0)  # (the closes handled in this turn of the loop join the batch)
        self._departures = None

        async def srem_all() -> None:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key, member, _owner, _id in batch:
                    pipe.srem(key, member)
                await pipe.execute()

        async def departed() -> None:
            await until_done(srem_all, "forgetting closed sockets")
            checks()

        def checks() -> None:
            for _key, _member, owner, owner_id in batch:
                handler = self.handlers.get(owner)
                if handler is not None:
                    work = functools.partial(handler, owner_id)
                    self.spawn(work, what=f"check of {owner} {owner_id}")

        try:
            await srem_all()
        except OUTAGE_ERRORS:
            self.spawn(departed, what=f"departure of {len(batch)} sockets")
            return
        checks()

    async def settled(self, owner: Owner, owner_id: int) -> None:
        """The owner's grace check ran here: a survivor need not check them again."""
        key = self.keys.connections(owner, owner_id)
        mine = [m for m in await self.redis.smembers(key) if m.startswith(self.instance + "|")]
        if not mine:
            await self.redis.srem(self.keys.process_owners(self.instance), f"{owner}:{owner_id}")

    async def live_count(self, owner: Owner, owner_id: int) -> int:
        """Open sockets of the owner in processes that are still alive (dead ones pruned)."""
        key = self.keys.connections(owner, owner_id)
        members: set[str] = await self.redis.smembers(key)
        if not members:
            return 0
        by_instance: dict[str, list[str]] = {}
        for m in members:
            by_instance.setdefault(m.partition("|")[0], []).append(m)
        peers = [i for i in by_instance if i != self.instance]
        alive = {self.instance}
        if peers:
            async with self.redis.pipeline(transaction=False) as pipe:
                for i in peers:
                    pipe.exists(self.keys.process(i))
                found = await pipe.execute()
            alive |= {i for i, ok in zip(peers, found, strict=True) if ok}
        dead = [m for i, ms in by_instance.items() if i not in alive for m in ms]
        if dead:
            await self.redis.srem(key, *dead)
        return len(members) - len(dead)

    # -- heartbeat and watching peers ------------------------------------------------------

    async def run(self) -> None:
        """Heartbeat, and reap dead peers; runs until cancelled (a Redis outage only slows
        it down: see center.loops.every)."""

        async def beat() -> None:
            await self._beat()
            await self._reap()

        await every(self.ttl_ms / 3000, beat, "liveness heartbeat")

    async def _beat(self) -> None:
        if self.leaving:
            return  # (no heartbeat again once it is gone: peers are taking over)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(self.keys.process(self.instance), "1", px=self.ttl_ms)
            pipe.sadd(self.keys.processes, self.instance)
            await pipe.execute()

    async def _reap(self) -> None:
        if self.leaving:
            return  # (a survivor claims the dead, not a process on its way out)
        peers = [i for i in await self.redis.smembers(self.keys.processes) if i != self.instance]
        if not peers:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for i in peers:
                pipe.exists(self.keys.process(i))
            found = await pipe.execute()
        for peer, ok in zip(peers, found, strict=True):
            if ok or not await self.redis.srem(self.keys.processes, peer):
                continue  # alive, or another survivor claimed it first
            owners_key = self.keys.process_owners(peer)
            owners: set[str] = await self.redis.smembers(owners_key)
            await self.redis.delete(owners_key)
            log.warning("process %s stopped beating; checking %d owners", peer, len(owners))
            for raw in owners:
                kind, _, owner_id = raw.partition(":")
                handler = self.handlers.get(Owner(kind))
                if handler is not None and owner_id.isdigit():
                    self.spawn(functools.partial(handler, int(owner_id)), what=f"check of {raw}")
            for callback in self.on_peer_lost:
                self.spawn(callback, what="reconciling after a lost peer")

    def spawn(self, work: Callable[[], Awaitable[object]], what: str = "grace check") -> None:
        """Run ``work()`` beside; when a Redis or database outage fails it, it is run again
        (from the start: grace checks re-read everything) once the dependency is back."""
        task = asyncio.ensure_future(self._until_done(work, what))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _until_done(work: Callable[[], Awaitable[object]], what: str) -> None:
        try:
            await until_done(work, what)
        except Exception:
            log.exception("%s failed", what)

    async def leave(self) -> None:
        """The process is shutting down and about to close its sockets: they are not
        forgotten one by one (thousands at once queued on the Redis pool past its timeout,
        and each was retried and logged: bench/connections.py's 8,000 at a stop). The
        heartbeat goes at once instead, so peers stop counting this process's sockets and
        run the grace checks of its owners, as after ``stop``; with no peer, the next
        process to start does."""
        self.leaving = True
        with contextlib.suppress(Exception):
            await self.redis.delete(self.keys.process(self.instance))

    async def stop(self) -> None:
        """Graceful stop: peers take over this process's owners at once, not after the TTL."""
        self.leaving = True
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await self.redis.delete(self.keys.process(self.instance))
