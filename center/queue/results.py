"""What the router's steps report back (plain values; the service records them)."""

from __future__ import annotations

from dataclasses import dataclass

from center.records.enums import Channel, Presence

# Per-channel concurrent capacity of an agent whose user record sets none (blended agent).
DEFAULT_CAPACITY: dict[str, int] = {
    Channel.VOICE.value: 1,
    Channel.CHAT.value: 3,
    Channel.SMS.value: 3,
    Channel.EMAIL.value: 5,
}


@dataclass(frozen=True, slots=True)
class Offer:
    interaction_id: int
    agent_id: int
    deadline_ms: int
    queue: str = ""


@dataclass(frozen=True, slots=True)
class Declined:
    interaction_id: int
    agent_id: int
    queue: str
    channel: Channel
    missed_in_a_row: int
    set_away: bool
    available_ms: int | None = None  # when set away: how long the agent had been available


@dataclass(frozen=True, slots=True)
class Removed:
    interaction_id: int
    state_before: str
    agent_id: int | None


@dataclass(frozen=True, slots=True)
class PresenceChange:
    """An agent's presence changed; ``duration_ms`` is how long the previous one lasted."""

    agent_id: int
    presence: Presence
    previous: Presence | None
    duration_ms: int | None


@dataclass(frozen=True, slots=True)
class Released:
    channel: Channel
    wrap_up: PresenceChange | None  # set when the agent entered wrap-up


@dataclass(frozen=True, slots=True)
class Escalated:
    interaction_id: int
    queue: str
    step: int  # 1-based index into the queue's escalation steps


@dataclass(frozen=True, slots=True)
class Transferred:
    interaction_id: int
    from_agent_id: int
    channel: Channel
    to_agent_id: int | None = None
    to_queue: str | None = None
    deadline_ms: int | None = None  # of the offer to the agent
    position: int | None = None  # in the queue


@dataclass(frozen=True, slots=True)
class Requeued:
    interaction_id: int
    agent_id: int
    queue: str
    channel: Channel
    state_before: str
