"""The router: live routing state in Redis, every step one atomic Lua script.

It knows nothing of channels' protocols or of the database: it moves ids between queues,
offers and agents, and reports what happened (offers made, offers expired, escalations,
wrap-ups ended) to listeners -- the interaction service, which records them and tells the
consoles. Routing rules (skills, priority, aging, strategy, escalation) come from the queue
definitions given to ``configure`` and are stored in Redis, so every process routes alike.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from center.loops import every, stopping
from center.queue import definitions
from center.queue.clock import Clock, SystemClock
from center.queue.handoffs import Handoffs
from center.queue.keys import Keys, queue_score
from center.queue.live_reads import LiveReads
from center.queue.model import QueueDef
from center.queue.presence_steps import ALL_CHANNELS, PresenceSteps
from center.queue.results import (
    Declined,
    Escalated,
    Offer,
    PresenceChange,
    Released,
    Removed,
)
from center.queue.scripts import ErrorCode, RouterError, Scripts, check
from center.records.enums import Channel, Presence

log = logging.getLogger(__name__)

__all__ = ["Declined", "Offer", "Removed", "Router", "RouterOptions"]


@dataclass(frozen=True, slots=True)
class RouterOptions:
    offer_timeout_ms: int = 20_000
    decline_cooldown_ms: int = 30_000
    max_missed: int = 3
    sweep_interval_s: float = 0.5
    scan: int = 50
    wrap_up_ms: int = 0  # after closing, no new work for this long (0: none)
    escalation_scan: int = 1000  # waiting interactions per queue checked for escalation


OfferListener = Callable[[Offer], Awaitable[None]]
TimeoutListener = Callable[[Declined], Awaitable[None]]
EscalationListener = Callable[[Escalated], Awaitable[None]]
PresenceListener = Callable[[PresenceChange], Awaitable[None]]


def _offer(res: list | None) -> Offer | None:
    return Offer(int(res[0]), int(res[1]), int(res[2]), str(res[3])) if res else None


class Router(LiveReads, Handoffs, PresenceSteps):
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
        self.on_escalated: EscalationListener | None = None
        self.on_wrap_up_end: PresenceListener | None = None

    # -- configuration ---------------------------------------------------------------------

    async def configure(self, queues: Iterable[QueueDef]) -> None:
        """Replace the queue definitions every process routes by (validated first)."""
        encoded = definitions.encode(queues)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.queue_defs)
            if encoded:
                pipe.hset(self.keys.queue_defs, mapping=encoded)
            await pipe.execute()

    async def queue_definition(self, queue: str) -> dict | None:
        raw = await self.redis.hget(self.keys.queue_defs, queue)
        return json.loads(raw) if raw else None

    # -- steps -----------------------------------------------------------------------------

    async def enqueue(
        self,
        interaction_id: int,
        *,
        queue: str,
        channel: Channel,
        priority: int = 0,
        enqueued_ms: int | None = None,
        skills: Mapping[str, int] | None = None,
    ) -> int:
        """Place an interaction in its queue; returns its 1-based position. (Never refused
        for its channel: the record is already committed; placement picks fitting queues.)
        ``skills``: what it requires of an agent besides its queue's skills."""
        call = self._enqueue_call(interaction_id, queue, channel, priority, enqueued_ms, skills)
        pos = await self.scripts.run("enqueue", *call)
        if pos < 0:
            check([pos])
        return int(pos)

    async def enqueue_and_dispatch(
        self,
        interaction_id: int,
        *,
        queue: str,
        channel: Channel,
        priority: int = 0,
        enqueued_ms: int | None = None,
        skills: Mapping[str, int] | None = None,
        on_placed: Callable[[int], Awaitable[None]] | None = None,
    ) -> tuple[int, list[Offer]]:
        """``enqueue`` then ``dispatch`` of its queue, the enqueue and the first offer in
        one round trip (a pipeline of the two scripts, each still atomic, run in order):
        every new interaction takes this step. ``on_placed(position)`` runs before any
        offer is reported, as it would between the two calls."""
        call = self._enqueue_call(interaction_id, queue, channel, priority, enqueued_ms, skills)
        async with self.redis.pipeline(transaction=False) as pipe:
            self.scripts.queue(pipe, "enqueue", *call)
            self.scripts.queue(pipe, "offerNext", *self._offer_call(queue, channel, None))
            placed, offered = await pipe.execute(raise_on_error=False)
        if isinstance(placed, NoScriptError):  # (Redis lost its scripts: load them, again)
            placed = await self.scripts.run("enqueue", *call)
        refused: Exception | None = None
        if isinstance(placed, Exception):
            refused = placed
        elif placed < 0:
            refused = RouterError(ErrorCode(placed))
        elif on_placed is not None:
            await on_placed(int(placed))
        # An offer the pipeline made is reported even when the enqueue was refused (it is
        # of other waiting work): unreported, its agent would never hear of it.
        if isinstance(offered, NoScriptError):
            offers = await self.dispatch(queue, channel)
        elif isinstance(offered, Exception):
            refused = refused or offered
            offers = []
        elif (first := _offer(offered)) is None:
            offers = []
        else:
            if self.on_offer is not None:
                await self.on_offer(first)
            offers = [first, *await self.dispatch(queue, channel)]
        if refused is not None:
            raise refused
        return int(placed), offers

    def _enqueue_call(
        self,
        interaction_id: int,
        queue: str,
        channel: Channel,
        priority: int,
        enqueued_ms: int | None,
        skills: Mapping[str, int] | None,
    ) -> tuple[list[str], list[object]]:
        enq = enqueued_ms if enqueued_ms is not None else self.clock.now_ms()
        k = self.keys
        own = definitions.interaction_skills(skills, what=f"interaction {interaction_id}")
        return (
            [k.queue(queue, channel), k.interaction(interaction_id), k.queues],
            [interaction_id, queue, channel.value, queue_score(priority, enq), enq, own],
        )

    def _offer_call(
        self, queue: str, channel: Channel, agent_id: int | None
    ) -> tuple[list[str], list[object]]:
        k = self.keys
        o = self.options
        return (
            [k.offers, k.queue_defs, k.queues, k.base],
            [
                self.clock.now_ms(),
                o.offer_timeout_ms,
                channel.value,
                o.scan,
                queue,
                "" if agent_id is None else agent_id,
            ],
        )

    async def offer_next(
        self, queue: str, channel: Channel, *, agent_id: int | None = None
    ) -> Offer | None:
        """One offer on ``channel``: from ``queue`` ('' for all queues), to ``agent_id``
        (None for the best eligible agent)."""
        call = self._offer_call(queue, channel, agent_id)
        return _offer(await self.scripts.run("offerNext", *call))

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
        now = self.clock.now_ms()
        res = check(
            await self.scripts.run(
                "decline",
                [k.interaction(interaction_id), k.offers, k.agent(agent_id), k.base],
                [
                    interaction_id,
                    agent_id,
                    now,
                    "timeout" if timeout else "reject",
                    o.decline_cooldown_ms,
                    o.max_missed,
                    ALL_CHANNELS,
                ],
            )
        )
        since = int(res[5]) if len(res) > 5 else 0
        return Declined(
            interaction_id,
            agent_id,
            str(res[1]),
            Channel(res[2]),
            int(res[3]),
            bool(res[4]),
            now - since if res[4] and since else None,
        )

    async def release(
        self, interaction_id: int, agent_id: int, *, wrap_up_ms: int | None = None
    ) -> Channel:
        """The agent is done with an assigned interaction. Raises RouterError."""
        return (await self.finish(interaction_id, agent_id, wrap_up_ms=wrap_up_ms)).channel

    async def finish(
        self, interaction_id: int, agent_id: int, *, wrap_up_ms: int | None = None
    ) -> Released:
        """``release`` that also reports whether the agent entered wrap-up."""
        k = self.keys
        now = self.clock.now_ms()
        wrap = self.options.wrap_up_ms if wrap_up_ms is None else wrap_up_ms
        res = check(
            await self.scripts.run(
                "release",
                [k.interaction(interaction_id), k.agent(agent_id), k.base],
                [interaction_id, agent_id, now, max(0, int(wrap)), ALL_CHANNELS],
            )
        )
        wrap_up = None
        if int(res[2]):
            wrap_up = PresenceChange(
                agent_id, Presence.WRAP_UP, Presence.AVAILABLE, now - int(res[3])
            )
        return Released(Channel(res[1]), wrap_up)

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

    async def escalate(self) -> list[Escalated]:
        """Raise waiting interactions to the escalation rings their wait reached."""
        k = self.keys
        res = await self.scripts.run(
            "escalate",
            [k.queue_defs, k.queues, k.base],
            [self.clock.now_ms(), self.options.escalation_scan],
        )
        found = [
            Escalated(int(res[i]), str(res[i + 2]), int(res[i + 1])) for i in range(0, len(res), 3)
        ]
        if self.on_escalated is not None:
            for e in found:
                await self.on_escalated(e)
        return found

    async def check_channel(self, queue: str, channel: Channel) -> None:
        """Raise ValueError when a defined queue does not take this channel."""
        d = await self.queue_definition(queue)
        if d is not None and channel.value not in d["channels"]:
            raise ValueError(f"queue {queue!r} does not take {channel.value} interactions")

    # -- driving ---------------------------------------------------------------------------

    async def _drain(self, queue: str, channel: Channel, agent_id: int | None) -> list[Offer]:
        offers = []
        while (offer := await self.offer_next(queue, channel, agent_id=agent_id)) is not None:
            offers.append(offer)
            if self.on_offer is not None:
                await self.on_offer(offer)
        return offers

    async def dispatch(self, queue: str, channel: Channel) -> list[Offer]:
        """Offer waiting work in one queue until no agent or no work is left."""
        return await self._drain(queue, channel, None)

    async def dispatch_all(self, channels: Iterable[Channel] | None = None) -> list[Offer]:
        """Offer waiting work of every queue, best first across queues, per channel."""
        wanted = set(channels) if channels is not None else set(Channel)
        present = {channel for _, channel in await self.known_queues()}
        offers: list[Offer] = []
        for channel in Channel:
            if channel in wanted and channel in present:
                offers += await self._drain("", channel, None)
        return offers

    async def dispatch_agent(
        self, agent_id: int, channels: Iterable[Channel] | None = None
    ) -> list[Offer]:
        """An agent freed capacity or came back: offer it the backlog at once, of
        ``channels`` (those it takes; default every channel)."""
        offers: list[Offer] = []
        for channel in Channel if channels is None else channels:
            offers += await self._drain("", channel, agent_id)
        return offers

    async def sweep(self) -> list[Declined]:
        """Return expired offers to their queues and end expired wrap-ups (every process
        sweeps; the scripts decide who wins)."""
        now = self.clock.now_ms()
        await self._end_wrap_ups(now)
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
                if stopping():
                    raise asyncio.CancelledError from None
                log.debug("sweep of %s skipped: %s", interaction_id, exc)
                continue
            results.append(declined)
            if self.on_timeout is not None:
                await self.on_timeout(declined)
        return results

    async def _end_wrap_ups(self, now: int) -> None:
        due = await self.redis.zrangebyscore(self.keys.wrapups, "-inf", now, start=0, num=200)
        for raw in due:
            change = await self.end_wrap_up(int(raw))
            if change is not None and self.on_wrap_up_end is not None:
                await self.on_wrap_up_end(change)

    async def run(self) -> None:
        """Background loop: sweep expired offers and wrap-ups, escalate, offer any backlog.
        Survives Redis going away (retried with a backoff, logged once) until cancelled."""
        await every(self.options.sweep_interval_s, self._tick, "router loop")

    async def _tick(self) -> None:
        await self.sweep()
        await self.escalate()
        await self.dispatch_all()
