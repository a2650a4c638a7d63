"""Bullseye escalation rings, wrap-up, and the time agents spend in each presence."""

from __future__ import annotations

import pytest

from center.queue.model import EscalationStep, QueueDef
from center.queue.router import Router
from center.records.enums import Channel, Presence

CHAT = Channel.CHAT
AVAILABLE = Presence.AVAILABLE

RINGS = [
    QueueDef(
        "tech",
        skills={"network": 8, "lang:de": 5},
        escalation=(
            EscalationStep(30, lower_levels_by=3),
            EscalationStep(60, lower_levels_by=3, drop_skills=("lang:de",)),
            EscalationStep(120, overflow_queue="general"),
        ),
    ),
    QueueDef("general", skills={"general": 1}),
]


async def test_escalation_widens_the_eligible_set_ring_by_ring(router: Router, clock) -> None:
    await router.configure(RINGS)
    await router.set_presence(1, AVAILABLE, {"chat": 1}, skills={"network": 5, "lang:de": 5})
    await router.set_presence(2, AVAILABLE, {"chat": 1}, skills={"network": 6})
    await router.set_presence(3, AVAILABLE, {"chat": 1}, skills={"general": 2})
    for iid in (1, 2, 3):
        await router.enqueue(iid, queue="tech", channel=CHAT)
    assert await router.dispatch_all() == []  # nobody has network 8

    clock.ms += 30_000
    steps = await router.escalate()
    assert [(e.interaction_id, e.step) for e in steps] == [(1, 1), (2, 1), (3, 1)]
    # Ring 1: network 5 is enough, German still required: only agent 1.
    assert [(o.interaction_id, o.agent_id) for o in await router.dispatch_all()] == [(1, 1)]

    clock.ms += 30_000
    assert [e.step for e in await router.escalate()] == [2, 2]
    # Ring 2: German dropped: agent 2 (network 6 >= 5).
    assert [(o.interaction_id, o.agent_id) for o in await router.dispatch_all()] == [(2, 2)]

    clock.ms += 60_000
    assert [e.step for e in await router.escalate()] == [3]
    # Ring 3: agents of the overflow queue "general" too.
    assert [(o.interaction_id, o.agent_id) for o in await router.dispatch_all()] == [(3, 3)]


async def test_each_escalation_step_is_reported_once_even_after_a_decline(
    router: Router, clock
) -> None:
    await router.configure(RINGS)
    await router.enqueue(1, queue="tech", channel=CHAT)
    clock.ms += 70_000  # two steps at once
    assert [e.step for e in await router.escalate()] == [1, 2]
    assert await router.escalate() == []
    await router.set_presence(5, AVAILABLE, {"chat": 1}, skills={"network": 5})
    [offer] = await router.dispatch_all()
    await router.decline(offer.interaction_id, 5, timeout=False)
    assert await router.escalate() == []  # back in line: no step reported again
    clock.ms += 60_000
    assert [e.step for e in await router.escalate()] == [3]


async def test_wrap_up_blocks_new_work_until_the_timer_passes(router: Router, clock) -> None:
    await router.set_presence(1, AVAILABLE, {"chat": 2})
    await router.enqueue(1, queue="q", channel=CHAT)
    await router.dispatch("q", CHAT)
    await router.accept(1, 1)
    clock.ms += 5_000
    released = await router.finish(1, 1, wrap_up_ms=30_000)
    assert released.wrap_up is not None and released.wrap_up.presence is Presence.WRAP_UP
    await router.enqueue(2, queue="q", channel=CHAT)
    assert await router.dispatch_all() == []  # wrapping up: nothing offered
    clock.ms += 29_999
    assert await router.sweep() == [] and await router.dispatch_all() == []
    ended = []

    async def record(change) -> None:
        ended.append(change)

    router.on_wrap_up_end = record
    clock.ms += 1
    await router.sweep()
    assert [(c.presence, c.previous, c.duration_ms) for c in ended] == [
        (AVAILABLE, Presence.WRAP_UP, 30_000)
    ]
    assert [o.interaction_id for o in await router.dispatch_agent(1)] == [2]


async def test_the_agent_ends_wrap_up_early_by_becoming_available(router: Router, clock) -> None:
    await router.set_presence(1, AVAILABLE, {"chat": 1})
    await router.enqueue(1, queue="q", channel=CHAT)
    await router.dispatch("q", CHAT)
    await router.accept(1, 1)
    await router.finish(1, 1, wrap_up_ms=60_000)
    clock.ms += 12_000
    change = await router.change_presence(1, AVAILABLE, {"chat": 1})
    assert (change.previous, change.duration_ms) == (Presence.WRAP_UP, 12_000)
    await router.enqueue(2, queue="q", channel=CHAT)
    assert [o.interaction_id for o in await router.dispatch_agent(1)] == [2]
    clock.ms += 60_000
    assert await router.end_wrap_up(1) is None  # the timer no longer applies


async def test_presence_changes_report_how_long_the_previous_state_lasted(
    router: Router, clock
) -> None:
    first = await router.change_presence(1, AVAILABLE, {"chat": 1})
    assert (first.previous, first.duration_ms) == (None, None)
    clock.ms += 90_000
    away = await router.change_presence(1, Presence.AWAY, {"chat": 1})
    assert (away.previous, away.duration_ms) == (AVAILABLE, 90_000)
    clock.ms += 15 * 60_000
    back = await router.change_presence(1, AVAILABLE, {"chat": 1})
    assert (back.previous, back.duration_ms) == (Presence.AWAY, 15 * 60_000)
    with pytest.raises(ValueError, match="wrap-up"):
        await router.change_presence(1, Presence.WRAP_UP, {"chat": 1})
