"""Placement: the first matching rule picks the queue — IVR, keyword, tier, channel default."""

from __future__ import annotations

import pytest

from center.queue.config import parse
from center.queue.placement import Placement, PlacementRules, place
from center.records.enums import Channel

RULES = parse(
    """\
queues:
  default: {}
  billing: {}
  tech: {}
  vip: {}
  phones: {channels: [voice]}
placement:
  ivr: {"1": billing, "2": {queue: tech, priority: 3}}
  keywords:
    - {words: [invoice, Refund], queue: billing, priority: 2}
    - {words: [crash], queue: tech}
  tiers: {gold: {queue: vip, priority: 7}}
  defaults: {voice: phones}
""",
    "rules.yaml",
).rules


def test_ivr_choice_wins_over_everything_else() -> None:
    got = place(RULES, channel=Channel.VOICE, ivr_choice="2", text="invoice", customer_tier="gold")
    assert got == Placement("tech", 3)


def test_keyword_wins_over_tier_and_matches_whole_words_in_any_case() -> None:
    assert place(
        RULES, channel=Channel.CHAT, text="Where is my INVOICE?", customer_tier="gold"
    ) == (Placement("billing", 2))
    assert place(RULES, channel=Channel.CHAT, text="I want a refund") == Placement("billing", 2)
    # "invoices" is another word: no keyword match, so the tier decides.
    assert place(RULES, channel=Channel.CHAT, text="invoices", customer_tier="gold") == (
        Placement("vip", 7)
    )


def test_keyword_rules_are_tried_in_file_order() -> None:
    assert place(RULES, channel=Channel.CHAT, text="crash after refund") == Placement("billing", 2)


def test_unknown_ivr_choice_falls_through_to_the_next_rules() -> None:
    assert place(RULES, channel=Channel.VOICE, ivr_choice="9", text="app crash") == (
        Placement("tech", 0)
    )


@pytest.mark.parametrize(
    ("channel", "queue"),
    [(Channel.VOICE, "phones"), (Channel.CHAT, "default"), (Channel.EMAIL, "default")],
)
def test_channel_default_then_the_default_queue(channel: Channel, queue: str) -> None:
    assert place(RULES, channel=channel, text="hello", customer_tier="bronze") == Placement(queue)


def test_no_rules_at_all_means_the_default_queue() -> None:
    assert place(PlacementRules(), channel=Channel.SMS, text="invoice") == Placement("default", 0)
