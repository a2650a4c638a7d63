"""The router's live state read back (consoles, the supervisor board, recovery): plain
Redis reads, several in one round trip where a caller needs many (a mixin of Router)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from center.queue.keys import Keys
from center.records.enums import Channel, Presence

if TYPE_CHECKING:
    from redis.asyncio import Redis


def presence_of(raw: str) -> Presence | None:
    try:
        return Presence(raw) if raw else None
    except ValueError:
        return None


class LiveReads:
    redis: Redis
    keys: Keys

    async def live_state(self, interaction_id: int) -> dict[str, str]:
        return await self.redis.hgetall(self.keys.interaction(interaction_id))

    async def presences(self, agent_ids: list[int]) -> list[Presence | None]:
        """Each agent's live presence, in one round trip (None: Redis does not know them)."""
        if not agent_ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for agent_id in agent_ids:
                pipe.hget(self.keys.agent(agent_id), "presence")
            return [presence_of(str(p)) if p else None for p in await pipe.execute()]

    async def live_states(self, interaction_ids: list[int]) -> list[dict[str, str]]:
        """``live_state`` of many, in one round trip ({} for those Redis does not know)."""
        if not interaction_ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for iid in interaction_ids:
                pipe.hgetall(self.keys.interaction(iid))
            return list(await pipe.execute())

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
