"""Agents' presence steps: presence, capacity and skills set, and a wrap-up's end (a mixin
of Router: same keys, scripts and clock)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from center.queue import definitions
from center.queue.keys import Keys
from center.queue.live_reads import presence_of
from center.queue.results import PresenceChange
from center.queue.scripts import Scripts
from center.records.enums import Channel, Presence

if TYPE_CHECKING:
    from center.queue.clock import Clock

ALL_CHANNELS = ",".join(c.value for c in Channel)


class PresenceSteps:
    keys: Keys
    scripts: Scripts
    clock: Clock

    async def set_presence(
        self,
        agent_id: int,
        presence: Presence,
        capacity: Mapping[str, int],
        *,
        skills: Mapping[str, int] | None = None,
    ) -> str:
        """Returns the previous presence ('' if none)."""
        change = await self.change_presence(agent_id, presence, capacity, skills=skills)
        return change.previous.value if change.previous else ""

    async def change_presence(
        self,
        agent_id: int,
        presence: Presence,
        capacity: Mapping[str, int],
        *,
        skills: Mapping[str, int] | None = None,
    ) -> PresenceChange:
        """Set presence, capacity and (when given) skills; report how long the last lasted."""
        if presence is Presence.WRAP_UP:
            raise ValueError("wrap-up starts by closing an interaction, not by a presence")
        k = self.keys
        now = self.clock.now_ms()
        encoded = ""
        if skills is not None:
            checked = definitions.check_skills(skills, what=f"agent {agent_id}")
            encoded = json.dumps(checked, separators=(",", ":"), sort_keys=True)
        args: list[object] = [agent_id, presence.value, now, encoded]
        for channel in Channel:
            args += [channel.value, int(capacity.get(channel.value, 0))]
        before, since = await self.scripts.run("setPresence", [k.agent(agent_id), k.base], args)
        previous = presence_of(str(before))
        duration = now - int(since) if previous is not None and int(since) else None
        return PresenceChange(agent_id, presence, previous, duration)

    async def end_wrap_up(self, agent_id: int) -> PresenceChange | None:
        """End an agent's wrap-up whose timer passed (None if it was not wrapping up)."""
        k = self.keys
        now = self.clock.now_ms()
        res = await self.scripts.run(
            "endWrapUp", [k.agent(agent_id), k.base], [agent_id, now, ALL_CHANNELS]
        )
        if not int(res[0]):
            return None
        return PresenceChange(agent_id, Presence.AVAILABLE, Presence.WRAP_UP, now - int(res[1]))
