"""The supervisor's history over REST, on the real server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from center.config import Settings
from center.records.enums import Role
from tests.agent_ui.routing_support import Desk
from tests.support import Agent, Server, make_user

PATH = "/api/supervisor/history"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A half-hour zone: the range starts at Kolkata's midnight, not UTC's.
    return settings.model_copy(update={"timezone": "Asia/Kolkata"})


@pytest.fixture
async def supervisor(server: Server) -> AsyncIterator[Agent]:
    await make_user(server.db, "sue", role=Role.SUPERVISOR)
    sup = Agent(server.url)
    assert (await sup.login("sue")).status == 200
    yield sup
    await sup.close()


async def history(client: Agent, query: str = "") -> dict[str, Any]:
    status, body = await client.get(f"{PATH}{query}")
    assert status == 200, body
    return body


def total(body: dict[str, Any], field: str) -> int:
    return sum(r[field] for r in body["rows"])


async def test_a_supervisor_gets_the_handled_chat_in_its_buckets(
    desk: Desk, supervisor: Agent
) -> None:
    ann = await desk.agent("ann")
    iid = await desk.chat_assigned_to(ann)
    assert (await ann.call("close", {"interaction_id": iid, "note": ""}))["ok"]

    today = await history(supervisor, "?days=1")
    assert today["zone"] == "Asia/Kolkata" and today["bucket"] == "hour"
    assert today["from"].endswith("T00:00:00+05:30")
    assert (today["queue"], today["channel"]) == (None, None)
    assert today["rows"][0]["start"] == today["from"]
    assert today["rows"][-1]["start"] <= today["to"]
    assert (total(today, "entered"), total(today, "answered"), total(today, "abandoned")) == (
        1,
        1,
        0,
    )
    [busy] = [r for r in today["rows"] if r["entered"]]
    assert busy["service_level"] == 1.0 and busy["abandon_rate"] == 0.0
    assert busy["aht_s"] >= 0 and busy["asa_s"] >= 0
    assert all(r["service_level"] is None for r in today["rows"] if r is not busy)

    week = await history(supervisor, "?days=7")
    assert week["bucket"] == "day" and len(week["rows"]) == 7
    assert [r["entered"] for r in week["rows"]] == [0] * 6 + [1]
    assert week["rows"][-1]["start"] == today["from"]

    hours = await history(supervisor, "?days=3&bucket=hour&queue=default&channel=chat")
    assert (hours["queue"], hours["channel"]) == ("default", "chat")
    assert len(hours["rows"]) > 48 and total(hours, "entered") == 1
    assert total(await history(supervisor, "?days=2&channel=email"), "entered") == 0
    assert total(await history(supervisor, "?days=2&queue=sales"), "entered") == 0


async def test_agents_and_strangers_are_refused(server: Server, desk: Desk) -> None:
    agent = await desk.agent("ann")
    status, body = await agent.get(PATH)
    assert status == 403 and body["role"] == "agent" and body["error"]
    anonymous = Agent(server.url)
    try:
        status, body = await anonymous.get(PATH)
        assert status == 401 and body["error"]
    finally:
        await anonymous.close()


async def test_an_admin_may_look_too(server: Server) -> None:
    await make_user(server.db, "root", role=Role.ADMIN)
    admin = Agent(server.url)
    try:
        assert (await admin.login("root")).status == 200
        assert len((await history(admin, "?days=30"))["rows"]) == 30
    finally:
        await admin.close()


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("?days=0", "days"),
        ("?days=93", "days"),
        ("?days=abc", "days"),
        ("?days=-1", "days"),
        ("?days=%C2%B2", "days"),  # a superscript 2: a digit to str.isdigit, not to int
        ("?bucket=week", "bucket"),
        ("?days=15&bucket=hour", "bucket"),
        ("?channel=fax", "channel"),
    ],
)
async def test_bad_parameters_are_named(supervisor: Agent, query: str, param: str) -> None:
    status, body = await supervisor.get(f"{PATH}{query}")
    assert status == 400, body
    assert body["param"] == param and param in body["error"]
