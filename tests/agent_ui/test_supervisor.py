"""The supervisor's live statistics over REST and socket.io, on the real server."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import socketio

from center.app import NAMESPACES
from center.config import Settings
from center.records.enums import Role
from center.records.models import Interaction
from center.records.users import create_user
from center.reports import erlang
from tests.agent_ui.routing_support import Desk
from tests.support import PASSWORD, Agent, Server, make_user, serve_app

# One queue with a generous threshold: whether an answer is "within the service level" then
# never depends on how fast the test machine is.
QUEUES = """\
skills: [billing]
queues:
  default: {sl_target: 0.8, sl_seconds: 3600}
  billing: {channels: [chat], skills: {billing: 3}}
"""


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    path = tmp_path / "queues.yaml"
    path.write_text(QUEUES)
    return settings.model_copy(update={"queues_file": path})


class Supervisor(Agent):
    """A signed-in supervisor's console: REST with its cookie, socket on /supervisor."""

    namespace = "/supervisor"
    greeting = "stats"

    async def stats(self) -> dict[str, Any]:
        status, body = await self.get("/api/supervisor/stats")
        assert status == 200, body
        return body

    async def agents(self) -> dict[str, Any]:
        status, body = await self.get("/api/supervisor/agents")
        assert status == 200, body
        return body


def row(stats: dict[str, Any], queue: str = "default", channel: str = "chat") -> dict[str, Any]:
    [found] = [q for q in stats["queues"] if q["queue"] == queue and q["channel"] == channel]
    return found


@pytest.fixture
async def supervisor(server: Server) -> AsyncIterator[Supervisor]:
    await make_user(server.db, "sue", role=Role.SUPERVISOR)
    sup = Supervisor(server.url)
    assert (await sup.login("sue")).status == 200
    yield sup
    await sup.close()


async def eventually(
    read: Callable[[], Awaitable[dict[str, Any]]],
    ok: Callable[[dict[str, Any]], bool],
    timeout: float = 10.0,
) -> dict[str, Any]:
    """Read until ``ok`` holds (the router and the grace timers run in the background)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        got = await read()
        if ok(got) or loop.time() > end:
            return got
        await asyncio.sleep(0.1)


async def waiting_chat(desk: Desk, text: str = "hello?") -> int:
    customer = desk.customer()
    await customer.connect()
    ack = await customer.say(text)
    assert ack["ok"], ack
    return ack["interaction_id"]


async def queued_ms(server: Server, interaction_id: int) -> int:
    async with server.db.read() as s:
        i = await s.get(Interaction, interaction_id)
        assert i is not None and i.queued_at is not None
        return int(i.queued_at.timestamp() * 1000)


async def test_two_waiting_chats_show_with_the_oldest_ones_wait(
    server: Server, desk: Desk, supervisor: Supervisor
) -> None:
    first = await waiting_chat(desk, "my order is late")
    await waiting_chat(desk, "where is my refund")

    q = row(await supervisor.stats())
    assert q["waiting"] == 2 and q["offers"] == 0
    assert q["entered_today"] == 2
    # The longest wait is the first customer's, measured from when it was queued.
    assert q["oldest_enqueued_ms"] == await queued_ms(server, first)
    assert q["longest_wait_s"] >= 0
    assert q["abandon_rate"] == 0.0
    assert q["service_level"] is None  # nothing answered or abandoned yet
    assert (q["sl_target"], q["sl_seconds"]) == (0.8, 3600)
    # Every channel of a defined queue is on the board, idle ones too.
    assert row(await supervisor.stats(), channel="email")["waiting"] == 0


async def test_agents_and_strangers_are_refused(server: Server, desk: Desk) -> None:
    agent = await desk.agent("ann")
    for path in ("/api/supervisor/stats", "/api/supervisor/agents"):
        status, body = await agent.get(path)
        assert status == 403 and body["role"] == "agent" and body["error"]
        anonymous = Agent(server.url)
        try:
            status, body = await anonymous.get(path)
            assert status == 401 and body["error"]
        finally:
            await anonymous.close()

    # The agent's cookie does not open the supervisor's namespace.
    spy = Supervisor(server.url)
    spy.cookie = agent.cookie
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await spy.connect()
    finally:
        await spy.close()


async def test_admins_see_the_statistics_too(server: Server) -> None:
    await make_user(server.db, "root", role=Role.ADMIN)
    admin = Supervisor(server.url)
    try:
        assert (await admin.login("root")).status == 200
        assert row(await admin.stats())["waiting"] == 0
        assert row(await admin.connect())["waiting"] == 0
    finally:
        await admin.close()


async def test_socket_pushes_a_snapshot_at_connect_then_changes_at_most_once_a_second(
    desk: Desk, supervisor: Supervisor
) -> None:
    first = await supervisor.connect()
    assert row(first)["waiting"] == 0
    await waiting_chat(desk)

    pushes = [await supervisor.next("stats", timeout=15)]
    while row(pushes[-1])["waiting"] == 0:  # (one may have been computed before the chat)
        pushes.append(await supervisor.next("stats", timeout=15))
    pushes += [await supervisor.next("stats", timeout=15) for _ in range(2)]
    assert [row(p)["waiting"] for p in pushes[-3:]] == [1, 1, 1]
    # The live figures keep moving: the longest wait grows from push to push.
    waits = [row(p)["longest_wait_s"] for p in pushes[-3:]]
    assert waits == sorted(waits) and waits[0] < waits[-1]
    # At most one push a second. Stamped by the server when computed (after the lock that
    # spaces them), so a slow test machine delivering two pushes close together cannot
    # make this fail and a publisher pushing too often cannot pass it.
    gaps = [b["at_ms"] - a["at_ms"] for a, b in itertools.pairwise(pushes)]
    assert min(gaps) >= 1000, gaps


async def test_an_abandoned_chat_counts_in_abandon_rate_and_service_level(
    desk: Desk, supervisor: Supervisor
) -> None:
    await waiting_chat(desk, "still there?")
    leaving = desk.customer()
    await leaving.connect()
    assert (await leaving.say("never mind"))["ok"]
    await leaving.close()  # gone while waiting: abandoned after the grace

    q = row(await eventually(supervisor.stats, lambda s: row(s)["abandoned_today"] == 1))
    assert q["abandoned_today"] == 1 and q["entered_today"] == 2
    assert q["abandon_rate"] == 0.5
    assert q["waiting"] == 1
    # Answered within the threshold / (answered + abandoned): the abandon counts against it.
    assert q["service_level"] == 0.0


async def test_answered_and_closed_chats_feed_service_level_and_erlang_advice(
    desk: Desk, supervisor: Supervisor
) -> None:
    ann = await desk.agent("ann", capacity={"chat": 2})
    iid = await desk.chat_assigned_to(ann)

    q = row(await supervisor.stats())
    assert (q["answered_today"], q["answered_in_sl_today"], q["service_level"]) == (1, 1, 1.0)
    [a] = [a for a in (await supervisor.agents())["agents"] if a["username"] == "ann"]
    assert a["presence"] == "available" and a["load"] == {"chat": 1}
    assert a["capacity"]["chat"] == 2 and a["time_in_state_s"] >= 0

    assert (await ann.call("close", {"interaction_id": iid, "note": ""}))["ok"]
    q = row(await eventually(supervisor.stats, lambda s: not row(s)["aht_default"]))
    assert q["aht_default"] is False and q["aht_s"] >= 0
    assert q["arrivals_per_hour"] == 1.0
    # (sue the supervisor is offline; she has chat capacity too)
    assert q["agents_staffed"] == 1
    assert q["agents_by_presence"] == {"available": 1, "offline": 1}
    # The advice is Erlang C's answer for exactly the figures shown beside it.
    expected = erlang.agents_needed(
        q["arrivals_per_hour"],
        q["aht_s"],
        target_s=q["sl_seconds"],
        service_level=q["sl_target"],
    )
    assert q["agents_needed"] == expected >= 1


async def test_agents_list_shows_presence_and_away_reason(
    server: Server, desk: Desk, supervisor: Supervisor
) -> None:
    ann = await desk.agent("ann")
    await desk.agent("bob", available=False)
    ack = await ann.call("presence", {"presence": "away", "reason": "lunch"})
    assert ack["ok"], ack

    agents = {a["username"]: a for a in (await supervisor.agents())["agents"]}
    assert agents["ann"]["presence"] == "away" and agents["ann"]["away_reason"] == "lunch"
    assert agents["ann"]["time_in_state_s"] >= 0
    assert agents["bob"]["presence"] == "offline" and agents["bob"]["away_reason"] is None
    assert agents["sue"]["role"] == "supervisor"

    # Per queue: only agents with the queue's skills and capacity on the channel count.
    await create_user(server.db, "bill", PASSWORD, skills={"billing": 4}, capacity={"chat": 1})
    bill = Agent(server.url)
    desk.clients.append(bill)
    assert (await bill.login("bill")).status == 200
    await bill.connect()
    await bill.available()
    stats = await supervisor.stats()
    # (ann away, bob and sue offline, bill available: the default queue needs no skills)
    assert row(stats)["agents_by_presence"] == {"available": 1, "away": 1, "offline": 2}
    assert row(stats, "billing")["agents_by_presence"] == {"available": 1}
    assert row(stats, "billing")["agents_staffed"] == 1
    assert row(stats, channel="voice")["agents_by_presence"] == {}  # chat-only capacities


async def test_one_push_per_interval_across_processes(server: Server) -> None:
    # Two publishers (as in two processes) share the Redis lock: only one computes.
    [ns] = [n for n in server.app[NAMESPACES] if n.namespace == "/supervisor"]
    other = type(ns)(ns.snapshot, ns.db, ns.redis, ns.keys, sockets=ns.sockets)
    assert await ns.publish_once() is True
    assert await other.publish_once() is False
    assert await ns.publish_once() is False


async def test_the_page_is_served(server: Server) -> None:
    page = Agent(server.url)
    try:
        async with page.http.get(f"{server.url}/supervisor") as r:
            assert r.status == 200
            html = await r.text()
        assert "supervisor.js" in html
        async with page.http.get(f"{server.url}/static/supervisor.js") as r:
            assert r.status == 200
    finally:
        await page.close()


@pytest.fixture
async def second_server(settings: Settings, server: Server) -> AsyncIterator[Server]:
    """Another process's app on the same database and Redis key prefix (behind a balancer)."""
    async with serve_app(settings, server.db) as other:
        yield other


async def test_supervisors_on_two_processes_get_the_same_pushes(
    server: Server, second_server: Server, supervisor: Supervisor
) -> None:
    other = Supervisor(second_server.url)
    other.cookie = supervisor.cookie  # the session is in the shared database
    try:
        await supervisor.connect()
        await other.connect()
        here = [(await supervisor.next("stats", timeout=15))["at_ms"] for _ in range(4)]
        there = [(await other.next("stats", timeout=15))["at_ms"] for _ in range(4)]
    finally:
        await other.close()
    # Both processes publish, but one computes each second and every supervisor gets it.
    assert len(set(here) & set(there)) >= 3, (here, there)
    assert min(b - a for a, b in itertools.pairwise(here)) >= 900, here
