"""An interaction's own required skills (an IVR option's ``skills:``), on top of its queue's:
who is offered it, through escalation rings, transfers back to a queue and a Redis that
lost its routing state -- each against the real Lua steps with a fake clock."""

from __future__ import annotations

import pytest

from center.queue.definitions import MAX_OWN_SKILLS, DefinitionError
from center.queue.model import EscalationStep, QueueDef
from center.queue.router import Router
from center.records.enums import Channel, Presence

CHAT = Channel.CHAT
AVAILABLE = Presence.AVAILABLE


def pairs(offers) -> list[tuple[int, int]]:
    return [(o.interaction_id, o.agent_id) for o in offers]


async def _agents(router: Router, clock, *skills: dict[str, int]) -> None:
    """Agents 1, 2, ... available in that order (1 idle longest)."""
    for agent, s in enumerate(skills, start=1):
        await router.set_presence(agent, AVAILABLE, {"chat": 2}, skills=s)
        clock.ms += 1


async def test_only_an_agent_with_the_interactions_own_skill_is_offered_it(
    router: Router, clock
) -> None:
    await router.configure([QueueDef("support")])  # the queue itself requires nothing
    await _agents(router, clock, {}, {"spanish": 2}, {"spanish": 3})
    await router.enqueue(10, queue="support", channel=CHAT, skills={"spanish": 3})
    # 1 and 2 are idle longer, but only 3 speaks Spanish at level 3.
    assert pairs(await router.dispatch("support", CHAT)) == [(10, 3)]
    # Work without skills of its own still goes to the longest idle.
    await router.enqueue(11, queue="support", channel=CHAT)
    assert pairs(await router.dispatch("support", CHAT)) == [(11, 1)]


async def test_own_skills_add_to_the_queues_and_hold_for_an_undefined_queue(
    router: Router, clock
) -> None:
    await router.configure([QueueDef("billing", skills={"billing": 2})])
    await _agents(router, clock, {"spanish": 5}, {"billing": 5}, {"billing": 2, "spanish": 1})
    await router.enqueue(10, queue="billing", channel=CHAT, skills={"spanish": 1})
    assert pairs(await router.dispatch("billing", CHAT)) == [(10, 3)]
    await router.enqueue(11, queue="nowhere", channel=CHAT, skills={"billing": 4})
    assert pairs(await router.dispatch("nowhere", CHAT)) == [(11, 2)]


async def test_rings_lower_own_skills_but_never_drop_them_nor_overflow_past_them(
    router: Router, clock
) -> None:
    await router.configure(
        [
            QueueDef(
                "tech",
                skills={"network": 5},
                escalation=(
                    EscalationStep(30, lower_levels_by=2, drop_skills=("network", "spanish")),
                    EscalationStep(60, overflow_queue="general"),
                ),
            ),
            QueueDef("general"),
        ]
    )
    await _agents(router, clock, {}, {"spanish": 2})
    await router.enqueue(10, queue="tech", channel=CHAT, skills={"spanish": 4})
    assert await router.dispatch_all() == []
    clock.ms += 30_000
    await router.escalate()
    # Ring 1: network dropped; Spanish stays, lowered to 2: agent 2, never agent 1.
    assert pairs(await router.dispatch_all()) == [(10, 2)]
    await router.decline(10, 2, timeout=False)
    clock.ms += 30_000
    await router.escalate()
    # Ring 2: the overflow queue's agents too, but still only those who speak Spanish.
    assert await router.dispatch_agent(1) == []


async def test_own_skills_stay_through_a_transfer_back_to_a_queue(router: Router, clock) -> None:
    await _agents(router, clock, {"spanish": 3}, {})
    await router.enqueue(10, queue="sales", channel=CHAT, skills={"spanish": 3})
    assert pairs(await router.dispatch("sales", CHAT)) == [(10, 1)]
    await router.accept(10, 1)
    await router.transfer(10, 1, to_queue="support")
    assert await router.dispatch_agent(2) == []  # 2 lacks Spanish; 1 just sent it away


async def test_own_skills_survive_recovery_of_a_lost_routing_state(router: Router, clock) -> None:
    """What recovery.py does when Redis lost everything: the waiting one enqueued again and
    the assigned one restored, each with the skills the record keeps."""
    await router.set_presence(1, AVAILABLE, {"chat": 2}, skills={})
    await router.restore_assigned(5, 1, queue="q", channel=CHAT, enqueued_ms=1, skills={"fr": 1})
    await router.enqueue(6, queue="q", channel=CHAT, enqueued_ms=2, skills={"fr": 2})
    assert await router.dispatch("q", CHAT) == []  # agent 1 lacks French
    await router.transfer(5, 1, to_queue="q")  # the restored one, back in line
    clock.ms += 60_000  # (past the sender's cool-down)
    assert await router.dispatch("q", CHAT) == []
    await router.set_presence(2, AVAILABLE, {"chat": 2}, skills={"fr": 2})
    assert sorted(pairs(await router.dispatch("q", CHAT))) == [(5, 2), (6, 2)]


async def test_an_enqueue_without_skills_clears_earlier_ones(router: Router, clock) -> None:
    await _agents(router, clock, {})
    await router.enqueue(10, queue="q", channel=CHAT, skills={"fr": 1})
    assert await router.dispatch("q", CHAT) == []
    await router.remove(10)
    await router.enqueue(10, queue="q", channel=CHAT)
    assert pairs(await router.dispatch("q", CHAT)) == [(10, 1)]


@pytest.mark.parametrize(
    ("skills", "message"),
    [
        ({"fr": 0}, "must be 1..10"),
        ({"fr": "high"}, "must be an integer"),
        ({" ": 1}, "non-empty"),
        ({"x" * 81: 1}, "at most 80 characters"),
        ({f"s{n}": 1 for n in range(MAX_OWN_SKILLS + 1)}, f"at most {MAX_OWN_SKILLS}"),
    ],
)
async def test_bad_own_skills_are_refused_before_redis(
    router: Router, skills: dict, message: str
) -> None:
    with pytest.raises(DefinitionError, match=message):
        await router.enqueue(10, queue="q", channel=CHAT, skills=skills)
    assert await router.live_state(10) == {}
