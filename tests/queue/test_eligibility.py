"""Who may take what, and what is taken first: skills, language, priority, aging, strategy,
voice blocking -- each rule against the real Lua steps with a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from center.queue.definitions import DefinitionError
from center.queue.model import EscalationStep, QueueDef, Strategy
from center.queue.router import Router
from center.records.enums import Channel, Presence

CHAT, VOICE, EMAIL = Channel.CHAT, Channel.VOICE, Channel.EMAIL
AVAILABLE = Presence.AVAILABLE


def pairs(offers) -> list[tuple[int, int]]:
    return [(o.interaction_id, o.agent_id) for o in offers]


async def test_required_skill_levels_decide_who_is_offered(router: Router, clock) -> None:
    await router.configure([QueueDef("billing", skills={"billing": 5})])
    await router.set_presence(1, AVAILABLE, {"chat": 3}, skills={"billing": 4})  # too low
    clock.ms += 1
    await router.set_presence(2, AVAILABLE, {"chat": 3}, skills={})  # no skill
    clock.ms += 1
    await router.set_presence(3, AVAILABLE, {"chat": 3}, skills={"billing": 5})
    await router.enqueue(10, queue="billing", channel=CHAT)
    # 1 has been idle longest, but only 3 has billing at level 5.
    assert pairs(await router.dispatch("billing", CHAT)) == [(10, 3)]


async def test_language_is_a_skill_named_lang(router: Router) -> None:
    await router.configure([QueueDef("fr", language="fr"), QueueDef("any")])
    await router.set_presence(1, AVAILABLE, {"chat": 3}, skills={"lang:en": 9})
    await router.enqueue(10, queue="fr", channel=CHAT)
    assert await router.dispatch("fr", CHAT) == []
    await router.set_presence(2, AVAILABLE, {"chat": 3}, skills={"lang:fr": 2})
    assert pairs(await router.dispatch("fr", CHAT)) == [(10, 2)]
    await router.enqueue(11, queue="any", channel=CHAT)
    assert pairs(await router.dispatch("any", CHAT)) == [(11, 1)]


async def test_agent_on_several_queues_takes_oldest_highest_priority_across_them(
    router: Router, clock
) -> None:
    await router.configure([QueueDef("sales"), QueueDef("support"), QueueDef("vip", priority=2)])
    for iid, queue in [(1, "support"), (2, "sales"), (3, "support"), (4, "vip")]:
        clock.ms += 1000
        await router.enqueue(iid, queue=queue, channel=CHAT)
    await router.set_presence(7, AVAILABLE, {"chat": 1})
    # The vip queue's priority lifts 4 above older work; then the oldest across queues.
    order = []
    for _ in range(4):
        [offer] = await router.dispatch_agent(7)
        order.append(offer.interaction_id)
        await router.accept(offer.interaction_id, 7)
        await router.release(offer.interaction_id, 7)
    assert order == [4, 1, 2, 3]


async def test_aging_lifts_a_long_waiting_low_priority_interaction(router: Router, clock) -> None:
    await router.configure([QueueDef("q", aging_s=60)])
    await router.enqueue(1, queue="q", channel=CHAT, priority=0)
    clock.ms += 30_000
    await router.enqueue(2, queue="q", channel=CHAT, priority=1)
    await router.set_presence(9, AVAILABLE, {"chat": 1})
    # At 30 s waited, 1 (priority 0) still ranks below 2 (priority 1).
    assert pairs(await router.dispatch("q", CHAT)) == [(2, 9)]
    await router.decline(2, 9, timeout=False)
    await router.set_presence(8, AVAILABLE, {"chat": 1})
    clock.ms += 31_000  # 1 waited 61 s: priority 0 + 1 = 1, and it is older than 2
    assert pairs(await router.dispatch("q", CHAT)) == [(1, 8), (2, 9)]


async def test_without_aging_priority_wins_however_long_the_wait(router: Router, clock) -> None:
    await router.enqueue(1, queue="q", channel=CHAT, priority=0)
    clock.ms += 3_600_000
    await router.enqueue(2, queue="q", channel=CHAT, priority=1)
    await router.set_presence(9, AVAILABLE, {"chat": 1})
    assert pairs(await router.dispatch("q", CHAT)) == [(2, 9)]


async def test_least_occupied_strategy_picks_the_agent_with_least_work(
    router: Router, clock
) -> None:
    await router.configure([QueueDef("busy"), QueueDef("even", strategy=Strategy.LEAST_OCCUPIED)])
    await router.set_presence(1, AVAILABLE, {"chat": 3})  # idle longest
    clock.ms += 1000
    await router.set_presence(2, AVAILABLE, {"chat": 3})
    for iid in (1, 2):
        await router.enqueue(iid, queue="busy", channel=CHAT)
    await router.set_presence(2, Presence.AWAY, {"chat": 3})
    assert pairs(await router.dispatch("busy", CHAT)) == [(1, 1), (2, 1)]
    await router.set_presence(2, AVAILABLE, {"chat": 3})
    clock.ms += 1000
    await router.enqueue(3, queue="even", channel=CHAT)
    # Agent 1 holds 2 of 3, agent 2 none: least occupied wins over longest idle.
    assert pairs(await router.dispatch("even", CHAT)) == [(3, 2)]


async def test_agent_on_a_voice_call_gets_no_other_work_until_it_ends(router: Router) -> None:
    await router.set_presence(1, AVAILABLE, {"voice": 1, "chat": 3, "email": 5})
    await router.enqueue(1, queue="q", channel=VOICE)
    await router.enqueue(2, queue="q", channel=CHAT)
    await router.enqueue(3, queue="q", channel=EMAIL)
    assert pairs(await router.dispatch("q", VOICE)) == [(1, 1)]
    await router.accept(1, 1)
    assert await router.dispatch_all() == []
    await router.release(1, 1)
    assert sorted(pairs(await router.dispatch_agent(1))) == [(2, 1), (3, 1)]


async def test_many_agents_on_calls_do_not_hide_a_free_agent_behind_them(
    router: Router, clock
) -> None:
    # More voice-busy agents than one look at the avail list (scan = 50) covers, all idle
    # longer than the one free agent, who must still be found.
    busy = range(1, router.options.scan * 2 + 2)
    for agent in busy:
        clock.ms += 1
        await router.set_presence(agent, AVAILABLE, {"voice": 1, "chat": 3})
        await router.enqueue(1000 + agent, queue="q", channel=VOICE)
        assert pairs(await router.dispatch("q", VOICE)) == [(1000 + agent, agent)]
        await router.accept(1000 + agent, agent)
    clock.ms += 1
    await router.set_presence(999, AVAILABLE, {"voice": 1, "chat": 3})
    await router.enqueue(1, queue="q", channel=CHAT)
    assert pairs(await router.dispatch("q", CHAT)) == [(1, 999)]


async def test_chat_work_does_not_block_a_call(router: Router) -> None:
    await router.set_presence(1, AVAILABLE, {"voice": 1, "chat": 3})
    await router.enqueue(1, queue="q", channel=CHAT)
    await router.dispatch("q", CHAT)
    await router.enqueue(2, queue="q", channel=VOICE)
    assert pairs(await router.dispatch("q", VOICE)) == [(2, 1)]


async def test_a_transfer_to_a_queue_that_does_not_take_the_channel_is_refused(
    router: Router,
) -> None:
    await router.configure([QueueDef("phone", channels=frozenset({VOICE})), QueueDef("web")])
    await router.set_presence(1, AVAILABLE, {"chat": 1})
    await router.enqueue(1, queue="web", channel=CHAT)
    await router.dispatch("web", CHAT)
    await router.accept(1, 1)
    with pytest.raises(ValueError, match="does not take chat"):
        await router.transfer(1, 1, to_queue="phone")
    assert (await router.live_state(1))["state"] == "assigned"


@pytest.mark.parametrize(
    ("queues", "message"),
    [
        ([QueueDef("a", skills={"x": 11})], "must be 1..10"),
        ([QueueDef("a", priority=10)], "priority must be 0..9"),
        ([QueueDef("a"), QueueDef("a")], "unique"),
        ([QueueDef("a", escalation=(EscalationStep(5, overflow_queue="b"),))], "not defined"),
        (
            [QueueDef("a", escalation=(EscalationStep(9), EscalationStep(5)))],
            "increasing after_s",
        ),
        ([QueueDef("a:b")], "without ':'"),
    ],
)
async def test_bad_definitions_are_refused_with_a_reason(router: Router, queues, message) -> None:
    with pytest.raises(DefinitionError, match=message):
        await router.configure(queues)


async def test_bad_agent_skills_are_refused(router: Router) -> None:
    with pytest.raises(DefinitionError, match="level of 'x'"):
        await router.set_presence(1, AVAILABLE, {"chat": 1}, skills={"x": "high"})


async def test_concurrent_dispatchers_with_mixed_skills_never_overfill(router: Router) -> None:
    await router.configure(
        [QueueDef("gold", skills={"gold": 5}), QueueDef("plain"), QueueDef("de", language="de")]
    )
    for agent in range(1, 31):
        skills = {"gold": 5 + agent % 2, "lang:de": 3} if agent % 3 == 0 else {"gold": 1}
        await router.set_presence(agent, AVAILABLE, {"chat": 2, "email": 2}, skills=skills)
    queues = ["gold", "plain", "de"]
    for iid in range(1, 301):
        channel = CHAT if iid % 2 else EMAIL
        await router.enqueue(iid, queue=queues[iid % 3], channel=channel)
    batches = await asyncio.gather(
        *(router.dispatch_all() for _ in range(4)),
        *(router.dispatch(q, c) for q in queues for c in (CHAT, EMAIL)),
        *(router.dispatch_agent(a) for a in range(1, 31, 4)),
    )
    offers = [o for b in batches for o in b]
    assert len({o.interaction_id for o in offers}) == len(offers)  # never offered twice
    load: dict[tuple[int, str], int] = {}
    for o in offers:
        state = await router.live_state(o.interaction_id)
        key = (o.agent_id, state["channel"])
        load[key] = load.get(key, 0) + 1
        skilled = o.agent_id % 3 == 0
        if state["queue"] in ("gold", "de"):
            assert skilled, f"{o} went to an agent without the skills"
    assert max(load.values()) == 2  # nobody over capacity on any channel
    assert len(offers) == 30 * 4  # everyone full: there is work for every agent
    for (agent, channel), n in load.items():
        assert (await router.agent_state(agent))[f"load:{channel}"] == str(n)
