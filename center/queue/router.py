"""The router: live routing state in Redis, every step one atomic Lua script.

It knows nothing of channels' protocols or of the database: it moves ids between queues,
offers and agents, and reports what happened (offers made, offers expired) to a listener,
the interaction service, which records them and tells the consoles.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from redis.asyncio import Redis

from center.queue.clock import Clock, SystemClock
from center.queue.keys import Keys, queue_score
from center.queue.scripts import Scripts, check
from center.records.enums import Channel, Presence

log = logging.getLogger(__name__)
ALL_CHANNELS = ",".join(c.value for c in Channel)


@dataclass(frozen=True, slots=True)
class Offer:
    interaction_id: int
    agent_id: int
    deadline_ms: int


@dataclass(frozen=True, slots=True)
class Declined:
    interaction_id: int
    agent_id: int
    queue: str
    channel: Channel
    missed_in_a_row: int
    set_away: bool


@dataclass(frozen=True, slots=True)
class Removed:
    interaction_id: int
    state_before: str
    agent_id: int | None


@dataclass(frozen=True, slots=True)
class RouterOptions:
    offer_timeout_ms: int = 20_000
    decline_cooldown_ms: int = 30_000
    max_missed: int = 3
    sweep_interval_s: float = 0.5
    scan: int = 50


OfferListener = Callable[[Offer], Awaitable[None]]
TimeoutListener = Callable[[Declined], Awaitable[None]]


class Router:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        options: RouterOptions | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.options = options or RouterOptions()
        self.clock = clock or SystemClock()
        self.scripts = Scripts(redis)
        self.on_offer: OfferListener | None = None
        self.on_timeout: TimeoutListener | None = None

    # -- steps -----------------------------------------------------------------------------

    async def enqueue(
        self,
        interaction_id: int,
        *,
        queue: str,
        channel: Channel,
        priority: int = 0,
        enqueued_ms: int | None = None,
    ) -> int:
        """Place an interaction in its queue; returns its 1-based position."""
        enq = enqueued_ms if enqueued_ms is not None else self.clock.now_ms()
        k = self.keys
        pos = await self.scripts.run(
            "enqueue",
            [k.queue(queue, channel), k.interaction(interaction_id), k.queues],
            [interaction_id, queue, channel.value, queue_score(priority, enq), enq],
        )
        if pos < 0:
            check([pos])
        return int(pos)

    async def offer_next(self, queue: str, channel: Channel) -> Offer | None:
        k = self.keys
        res = await self.scripts.run(
            "offerNext",
            [k.queue(queue, channel), k.available(channel), k.offers, k.base],
            [self.clock.now_ms(), self.options.offer_timeout_ms, channel.value, self.options.scan],
        )
        if not res:
            return None
        return Offer(int(res[0]), int(res[1]), int(res[2]))

    async def accept(self, interaction_id: int, agent_id: int) -> int:
        """Accept an offer; returns the interaction's enqueue time (ms). Raises RouterError."""
        k = self.keys
        res = check(
            await self.scripts.run(
                "accept",
                [k.interaction(interaction_id), k.offers, k.agent(agent_id)],
                [interaction_id, agent_id, self.clock.now_ms()],
            )
        )
        return int(res[1])

    async def decline(self, interaction_id: int, agent_id: int, *, timeout: bool) -> Declined:
        """Reject (or time out) an offer: back to its original place. Raises RouterError."""
        k = self.keys
        o = self.options
        res = check(
            await self.scripts.run(
                "decline",
                [k.interaction(interaction_id), k.offers, k.agent(agent_id), k.base],
                [
                    interaction_id,
                    agent_id,
                    self.clock.now_ms(),
                    "timeout" if timeout else "reject",
                    o.decline_cooldown_ms,
                    o.max_missed,
                    ALL_CHANNELS,
                ],
            )
        )
        return Declined(
            interaction_id, agent_id, str(res[1]), Channel(res[2]), int(res[3]), bool(res[4])
        )

    async def release(self, interaction_id: int, agent_id: int) -> Channel:
        """The agent is done with an assigned interaction. Raises RouterError."""
        k = self.keys
        res = check(
            await self.scripts.run(
                "release",
                [k.interaction(interaction_id), k.agent(agent_id), k.base],
                [interaction_id, agent_id, self.clock.now_ms()],
            )
        )
        return Channel(res[1])

    async def remove(self, interaction_id: int) -> Removed:
        """Take a queued or offered interaction out of routing. Raises RouterError."""
        k = self.keys
        res = check(
            await self.scripts.run(
                "remove", [k.interaction(interaction_id), k.offers, k.base], [interaction_id]
            )
        )
        agent = str(res[2])
        return Removed(interaction_id, str(res[1]), int(agent) if agent else None)

    async def set_presence(
        self, agent_id: int, presence: Presence, capacity: dict[str, int]
    ) -> str:
        k = self.keys
        args: list[object] = [agent_id, presence.value, self.clock.now_ms()]
        for channel in Channel:
            args += [channel.value, int(capacity.get(channel.value, 0))]
        return str(await self.scripts.run("setPresence", [k.agent(agent_id), k.base], args))

    # -- reads -----------------------------------------------------------------------------

    async def live_state(self, interaction_id: int) -> dict[str, str]:
        return await self.redis.hgetall(self.keys.interaction(interaction_id))

    async def agent_state(self, agent_id: int) -> dict[str, str]:
        return await self.redis.hgetall(self.keys.agent(agent_id))

    async def waiting(self, queue: str, channel: Channel) -> list[int]:
        return [int(i) for i in await self.redis.zrange(self.keys.queue(queue, channel), 0, -1)]

    async def known_queues(self) -> list[tuple[str, Channel]]:
        pairs = []
        for member in await self.redis.smembers(self.keys.queues):
            queue, _, channel = member.rpartition(":")
            with contextlib.suppress(ValueError):
                pairs.append((queue, Channel(channel)))
        return sorted(pairs)

    # -- driving ---------------------------------------------------------------------------

    async def dispatch(self, queue: str, channel: Channel) -> list[Offer]:
        """Offer waiting work in one queue until no agent or no work is left."""
        offers = []
        while (offer := await self.offer_next(queue, channel)) is not None:
            offers.append(offer)
            if self.on_offer is not None:
                await self.on_offer(offer)
        return offers

    async def dispatch_all(self, channels: Iterable[Channel] | None = None) -> list[Offer]:
        wanted = set(channels) if channels is not None else None
        offers: list[Offer] = []
        for queue, channel in await self.known_queues():
            if wanted is None or channel in wanted:
                offers += await self.dispatch(queue, channel)
        return offers

    async def sweep(self) -> list[Declined]:
        """Return expired offers to their queues (every process sweeps; scripts decide)."""
        now = self.clock.now_ms()
        expired = await self.redis.zrangebyscore(self.keys.offers, "-inf", now, start=0, num=200)
        results = []
        for raw in expired:
            interaction_id = int(raw)
            agent = (await self.live_state(interaction_id)).get("agent")
            if not agent:
                continue
            try:
                declined = await self.decline(interaction_id, int(agent), timeout=True)
            except Exception as exc:  # another process got there first
                log.debug("sweep of %s skipped: %s", interaction_id, exc)
                continue
            results.append(declined)
            if self.on_timeout is not None:
                await self.on_timeout(declined)
        return results

    async def run(self) -> None:
        """Background loop: sweep expired offers and offer any backlog, forever."""
        while True:
            try:
                await self.sweep()
                await self.dispatch_all()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("router loop step failed")
            await asyncio.sleep(self.options.sweep_interval_s)
