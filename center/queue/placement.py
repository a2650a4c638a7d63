"""Where a new interaction waits: the first placement rule that matches picks its queue.

Rules are tried in this order: the IVR choice (voice), a keyword in the customer's first
message (case-insensitive whole-word match), the customer's tier, then the channel's
default queue (and ``default`` when the channel has none).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from center.records.enums import Channel

FALLBACK_QUEUE = "default"


@dataclass(frozen=True, slots=True)
class Placement:
    queue: str
    priority: int = 0


@dataclass(frozen=True, slots=True)
class KeywordRule:
    words: tuple[str, ...]  # lower-case; any one of them matches
    target: Placement
    line: int = 0  # where it was configured, for error messages


@dataclass(frozen=True, slots=True)
class PlacementRules:
    ivr: Mapping[str, Placement] = field(default_factory=dict)  # IVR choice -> target
    keywords: tuple[KeywordRule, ...] = ()
    tiers: Mapping[str, Placement] = field(default_factory=dict)  # customer tier -> target
    defaults: Mapping[Channel, Placement] = field(default_factory=dict)

    def targets(self) -> list[Placement]:
        """Every queue a rule can send to (so a queue in use cannot be deleted)."""
        return [
            *self.ivr.values(),
            *(k.target for k in self.keywords),
            *self.tiers.values(),
            *self.defaults.values(),
        ]


_WORD = re.compile(r"\w+", re.UNICODE)


def place(
    rules: PlacementRules,
    *,
    channel: Channel,
    ivr_choice: str | None = None,
    text: str | None = None,
    customer_tier: str | None = None,
) -> Placement:
    if ivr_choice is not None and (hit := rules.ivr.get(ivr_choice.strip())) is not None:
        return hit
    if text and rules.keywords:
        words = {w.casefold() for w in _WORD.findall(text)}
        for rule in rules.keywords:
            if any(w in words for w in rule.words):
                return rule.target
    if customer_tier is not None and (hit := rules.tiers.get(customer_tier)) is not None:
        return hit
    return rules.defaults.get(channel, Placement(FALLBACK_QUEUE))
