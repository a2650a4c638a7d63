"""Queue definitions the router routes by (the contract shared with ``center.queue.config``).

Agents' languages are skills named ``lang:<code>`` (e.g. ``{"lang:fr": 5}``): a queue with
``language="fr"`` requires the skill ``lang:fr`` at level 1 or more, so languages escalate
(drop/lower) exactly like any other skill.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from center.records.enums import Channel


class Strategy(StrEnum):
    LONGEST_IDLE = "longest_idle"
    LEAST_OCCUPIED = "least_occupied"


@dataclass(frozen=True, slots=True)
class EscalationStep:
    after_s: float  # wait time at which this step applies
    lower_levels_by: int = 0  # required skill levels lowered by this much (bullseye ring)
    drop_skills: tuple[str, ...] = ()  # skills no longer required
    overflow_queue: str | None = None  # agents of this queue also become eligible


@dataclass(frozen=True, slots=True)
class QueueDef:
    name: str
    channels: frozenset[Channel] = frozenset(Channel)
    skills: Mapping[str, int] = field(default_factory=dict)  # required skill -> min level 1..10
    language: str | None = None
    priority: int = 0  # 0..9, higher first
    aging_s: float | None = None  # +1 priority per aging_s seconds waited (None: no aging)
    sl_target: float = 0.8  # service level target: sl_target answered within sl_seconds
    sl_seconds: float = 20.0
    strategy: Strategy = Strategy.LONGEST_IDLE
    escalation: tuple[EscalationStep, ...] = ()
