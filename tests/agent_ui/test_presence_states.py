"""Presence over real sockets: away reasons, time in each state, wrap-up, and capacity that
survives Redis losing its state."""

from __future__ import annotations

import asyncio

from center.appkeys import REDIS, SERVICE
from tests.agent_ui.routing_support import Desk

PRESENCE = "agent.presence_changed"


async def test_away_needs_a_known_reason_and_events_carry_durations(desk: Desk) -> None:
    alice = await desk.agent("alice")
    nap = await alice.call("presence", {"presence": "away", "reason": "nap"})
    assert (nap["ok"], nap["code"]) == (False, "malformed")
    wrap = await alice.call("presence", {"presence": "wrap_up"})
    assert wrap["code"] == "malformed"
    assert (await alice.call("presence", {"presence": "away", "reason": "lunch"}))["ok"]
    await alice.available()
    *_, (_, went_away), (_, came_back) = await desk.events(type=PRESENCE)
    assert (went_away["presence"], went_away["reason"]) == ("away", "lunch")
    assert went_away["previous"] == "available" and went_away["duration_s"] >= 0
    assert came_back["previous"] == "away" and came_back["duration_s"] >= 0


async def test_recovery_restores_the_load_of_assigned_work(desk: Desk) -> None:
    alice = await desk.agent("alice", capacity={"chat": 1})
    iid = await desk.chat_assigned_to(alice)
    redis = desk.server.app[REDIS]
    prefix = desk.server.settings.redis_prefix
    stale = [k async for k in redis.scan_iter(match="{" + prefix + "}:*")]
    await redis.delete(*stale)  # Redis lost its state
    await desk.server.app[SERVICE].recover()
    await alice.available()
    second = desk.customer()
    await second.connect()
    await second.say("anyone?")
    await asyncio.sleep(0.3)  # time for an (unwanted) offer to arrive
    # Alice still holds her one chat: the new one is not offered to her.
    assert alice.pending("offer") == []
    assert (await alice.call("close", {"interaction_id": iid, "note": ""}))["ok"]
    assert (await alice.next("offer", timeout=5))["queue"] == "default"
