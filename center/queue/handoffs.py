"""Steps that move work between agents and queues: warm transfers, re-queues of a vanished
agent's work, and recovery of agents' load (a mixin of Router: same keys, scripts, clock)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from center.queue import definitions
from center.queue.keys import Keys, queue_score
from center.queue.results import Requeued, Transferred
from center.queue.scripts import Scripts, check
from center.records.enums import Channel

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from center.queue.clock import Clock
    from center.queue.router import RouterOptions


class Handoffs:
    redis: Redis
    keys: Keys
    scripts: Scripts
    clock: Clock
    options: RouterOptions

    async def check_channel(self, queue: str, channel: Channel) -> None:
        raise NotImplementedError

    async def transfer(
        self,
        interaction_id: int,
        from_agent_id: int,
        *,
        to_agent_id: int | None = None,
        to_queue: str | None = None,
    ) -> Transferred:
        """Warm transfer of an assigned interaction to an agent (offered to them) or a queue
        (keeping its original enqueue time). Raises RouterError / ValueError."""
        if (to_agent_id is None) == (to_queue is None):
            raise ValueError("transfer to exactly one of an agent or a queue")
        if to_agent_id == from_agent_id:
            raise ValueError("cannot transfer to yourself")
        if to_queue is not None and (not to_queue or ":" in to_queue):
            raise ValueError("queue names are non-empty without ':'")
        k = self.keys
        channel_raw = await self.redis.hget(k.interaction(interaction_id), "channel")
        if to_queue is not None and channel_raw:
            await self.check_channel(to_queue, Channel(channel_raw))
        res = check(
            await self.scripts.run(
                "transfer",
                [k.interaction(interaction_id), k.offers, k.base],
                [
                    interaction_id,
                    from_agent_id,
                    "" if to_agent_id is None else to_agent_id,
                    to_queue or "",
                    self.clock.now_ms(),
                    self.options.offer_timeout_ms,
                    self.options.decline_cooldown_ms,
                ],
            )
        )
        channel = Channel(res[1])
        if to_agent_id is not None:
            return Transferred(
                interaction_id, from_agent_id, channel, to_agent_id, deadline_ms=int(res[2])
            )
        return Transferred(
            interaction_id, from_agent_id, channel, to_queue=to_queue, position=int(res[2])
        )

    async def requeue(self, interaction_id: int, agent_id: int) -> Requeued:
        """Take an interaction back from an agent (assigned or offered) to its original
        place in its queue. Raises RouterError."""
        k = self.keys
        res = check(
            await self.scripts.run(
                "requeue",
                [k.interaction(interaction_id), k.offers, k.base],
                [interaction_id, agent_id, self.clock.now_ms()],
            )
        )
        return Requeued(interaction_id, agent_id, str(res[1]), Channel(res[2]), str(res[3]))

    async def restore_assigned(
        self,
        interaction_id: int,
        agent_id: int,
        *,
        queue: str,
        channel: Channel,
        priority: int = 0,
        enqueued_ms: int,
        skills: Mapping[str, int] | None = None,
    ) -> bool:
        """Recovery: count an assigned interaction in its agent's load again (idempotent);
        ``skills``, its own, go with it if it is later transferred back to a queue."""
        k = self.keys
        own = definitions.interaction_skills(skills, what=f"interaction {interaction_id}")
        restored = await self.scripts.run(
            "restoreAssigned",
            [k.interaction(interaction_id), k.base],
            [
                interaction_id,
                agent_id,
                queue,
                channel.value,
                queue_score(priority, enqueued_ms),
                enqueued_ms,
                own,
            ],
        )
        return bool(restored)
