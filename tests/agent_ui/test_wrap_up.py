"""Wrap-up after closing: CENTER_WRAP_UP_S holds new work from the agent until it ends."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from center.config import Settings
from center.records.models import Event
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
    assert (await alice.next("offer", timeout=5))["id"] == iid2
    # Nothing was offered during wrap-up: in the log the wrap-up's end comes before the
    # offer. (The log, not the order the pushes reach the client: on a slow machine the
    # customer's message can come after the timer, and both pushes then arrive together.)
    async with desk.server.db.read() as s:
        log = (
            await s.execute(select(Event.type, Event.interaction_id, Event.data).order_by(Event.id))
        ).all()
    ended = [
        n for n, (t, _, d) in enumerate(log) if t == PRESENCE and d["reason"] == "wrap_up_timer"
    ]
    offered = [n for n, (t, i, _) in enumerate(log) if t == "interaction.offered" and i == iid2]
    assert len(ended) == 1 and len(offered) == 1 and ended[0] < offered[0]
    assert log[ended[0]][2]["previous"] == "wrap_up" and log[ended[0]][2]["duration_s"] >= 0.7
