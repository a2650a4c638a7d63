"""Wrap-up after closing: CENTER_WRAP_UP_S holds new work from the agent until it ends."""

from __future__ import annotations

import pytest

from center.config import Settings
from tests.agent_ui.routing_support import Desk

PRESENCE = "agent.presence_changed"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"wrap_up_s": 0.7})


async def test_wrap_up_holds_new_work_until_its_timer_ends(desk: Desk) -> None:
    alice = await desk.agent("alice", capacity={"chat": 1})
    iid = await desk.chat_assigned_to(alice)
    assert (await alice.call("close", {"interaction_id": iid, "note": "done"}))["ok"]
    wrapping = await alice.next("presence")
    while wrapping["presence"] != "wrap_up":
        wrapping = await alice.next("presence")
    second = desk.customer()
    await second.connect()
    iid2 = (await second.say("me next"))["interaction_id"]
    back = await alice.next("presence", timeout=5)
    assert (back["presence"], back["reason"]) == ("available", "wrap_up_timer")
    assert alice.pending("offer") == []  # nothing was offered during wrap-up
    assert (await alice.next("offer", timeout=5))["id"] == iid2
    _, ended = (await desk.events(type=PRESENCE))[-1]
    assert ended["previous"] == "wrap_up" and ended["duration_s"] >= 0.7
