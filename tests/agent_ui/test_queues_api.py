"""The queues REST API over HTTP against the real server, with a queue file as the seed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from center.appkeys import ROUTER, SERVICE
from center.config import Settings
from center.records.enums import Channel, Role
from tests.support import PASSWORD, Customer, Server, make_user, signed_in_agent

QUEUES = """\
skills: [billing, tech]
queues:
  default: {}
  billing:
    channels: [chat, email]
    skills: {billing: 3}
    priority: 4
  support: {}
  tier2:
    escalation: [{after_s: 60, overflow_queue: support}]
placement:
  keywords:
    - {words: [invoice], queue: billing, priority: 2}
  defaults: {email: billing}
"""


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    path = tmp_path / "queues.yaml"
    path.write_text(QUEUES)
    return settings.model_copy(update={"queues_file": path})


class Http:
    def __init__(self, url: str) -> None:
        self.url = url
        # unsafe=True: keep cookies from an IP-address host (the loopback server).
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def login(self, server: Server, username: str, role: Role) -> Http:
        await make_user(server.db, username, role=role)
        async with self.session.post(
            f"{self.url}/api/login", json={"username": username, "password": PASSWORD}
        ) as r:
            assert r.status == 200, await r.text()
        return self

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, f"{self.url}{path}", json=body) as r:
            assert r.content_type == "application/json", (r.status, await r.text())
            return r.status, await r.json()


@pytest.fixture
async def admin(server: Server) -> AsyncIterator[Http]:
    http = await Http(server.url).login(server, "root", Role.ADMIN)
    yield http
    await http.session.close()


@pytest.fixture
async def agent_http(server: Server) -> AsyncIterator[Http]:
    http = await Http(server.url).login(server, "ann", Role.AGENT)
    yield http
    await http.session.close()


async def test_reading_needs_a_login_and_changing_needs_the_admin_role(
    server: Server, agent_http: Http
) -> None:
    anonymous = Http(server.url)
    try:
        status, body = await anonymous.call("GET", "/api/queues")
        assert status == 401 and body["error"] == "login required"
    finally:
        await anonymous.session.close()

    status, body = await agent_http.call("GET", "/api/queues")
    assert status == 200
    by_name = {q["name"]: q for q in body["queues"]}
    assert set(by_name) == {"default", "billing", "support", "tier2"}
    assert by_name["billing"]["skills"] == {"billing": 3}
    assert by_name["billing"]["channels"] == ["chat", "email"]
    assert by_name["billing"]["source"] == "file" and by_name["billing"]["waiting"] == 0

    for method, path in [
        ("POST", "/api/queues"),
        ("PUT", "/api/queues/billing"),
        ("DELETE", "/api/queues/support"),
    ]:
        status, body = await agent_http.call(method, path, {"name": "x"})
        assert status == 403 and body["role"] == "agent", (method, body)


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "name", "queue name None"),
        ({"name": "a:b"}, "name", "queue name 'a:b'"),
        ({"name": "new", "priority": 12}, "priority", "priority must be an integer 0..9"),
        ({"name": "new", "skills": {"biling": 2}}, "skills.biling", "requires unknown skill"),
        ({"name": "new", "channels": ["fax"]}, "channels[0]", "unknown channel 'fax'"),
        ({"name": "new", "sl_target": 0}, "sl_target", "sl_target must be in (0, 1]"),
        ({"name": "new", "colour": "red"}, "colour", "unknown key 'colour'"),
        (
            {"name": "new", "escalation": [{"after_s": 5}, {"after_s": 5}]},
            "escalation[1].after_s",
            "increasing after_s",
        ),
        (
            {"name": "new", "escalation": [{"after_s": 5, "overflow_queue": "zzz"}]},
            "escalation[0].overflow_queue",
            "unknown queue 'zzz'",
        ),
    ],
)
async def test_bad_queue_bodies_get_400_naming_the_field(
    admin: Http, body: dict[str, Any], field: str, message: str
) -> None:
    status, got = await admin.call("POST", "/api/queues", body)
    assert status == 400, got
    assert got["field"] == field and message in got["error"], got


async def test_admin_creates_replaces_and_reads_queues(server: Server, admin: Http) -> None:
    router = server.app[ROUTER]
    status, body = await admin.call(
        "POST", "/api/queues", {"name": "returns", "channels": ["chat"], "skills": {"tech": 2}}
    )
    assert status == 201, body
    assert body["queue"]["source"] == "database" and body["queue"]["skills"] == {"tech": 2}
    assert (await router.queue_definition("returns"))["skills"] == {"tech": 2}

    status, body = await admin.call("POST", "/api/queues", {"name": "returns"})
    assert status == 409 and body["name"] == "returns"

    # A file queue edited through the API: the database's version is the one in effect.
    status, body = await admin.call("PUT", "/api/queues/billing", {"priority": 8, "skills": {}})
    assert status == 200, body
    status, body = await admin.call("GET", "/api/queues/billing")
    assert status == 200
    assert body["queue"]["priority"] == 8 and body["queue"]["source"] == "database"
    assert body["queue"]["channels"] == ["chat", "email", "sms", "voice"]  # PUT replaces all
    assert (await router.queue_definition("billing"))["priority"] == 8

    status, body = await admin.call("PUT", "/api/queues/billing", {"name": "other"})
    assert status == 400 and body["field"] == "name"
    # Email's placement default sends to billing: it must keep taking email.
    status, body = await admin.call("PUT", "/api/queues/billing", {"channels": ["chat"]})
    assert status == 400 and body["field"] == "channels", body
    for method in ("GET", "PUT", "DELETE"):
        status, body = await admin.call(method, "/api/queues/nope", {})
        assert status == 404 and body == {"error": "no such queue", "name": "nope"}


async def test_a_first_chat_message_with_a_keyword_waits_in_its_queue(
    server: Server, admin: Http
) -> None:
    customer = Customer(server.url)
    await customer.connect(name="Dana")
    try:
        ack = await customer.say("Where is my Invoice?")
        status, body = await admin.call("GET", f"/api/interactions/{ack['interaction_id']}")
        assert status == 200
        assert (body["interaction"]["queue"], body["interaction"]["priority"]) == ("billing", 2)
        status, body = await admin.call("GET", "/api/queues/billing")
        assert body["queue"]["waiting"] == 1
    finally:
        await customer.close()


async def test_queues_in_use_cannot_be_deleted(admin: Http) -> None:
    status, body = await admin.call("DELETE", "/api/queues/billing")
    assert status == 409 and "placement rule" in body["error"]
    status, body = await admin.call("DELETE", "/api/queues/support")
    assert status == 409 and "'tier2' overflows to it" in body["error"]
    status, body = await admin.call("DELETE", "/api/queues/default")
    assert status == 409 and "without a placement default" in body["error"]


async def test_delete_refuses_while_work_waits_and_moves_it_with_move_to(
    server: Server, admin: Http
) -> None:
    customer = Customer(server.url)
    welcome = await customer.connect(name="Eve")
    service = server.app[SERVICE]
    agent = None
    try:
        status, _ = await admin.call(
            "POST", "/api/queues", {"name": "returns", "channels": ["chat"]}
        )
        assert status == 201
        opened = await service.open(welcome["customer_id"], Channel.CHAT, queue="returns")
        await service.enqueue(opened.id)

        status, body = await admin.call("DELETE", "/api/queues/returns")
        assert status == 409 and body["waiting"] == 1, body
        status, body = await admin.call("DELETE", "/api/queues/returns?move_to=nowhere")
        assert status == 400 and body["field"] == "move_to"

        status, body = await admin.call("DELETE", "/api/queues/returns?move_to=default")
        assert status == 200, body
        assert body == {"deleted": "returns", "moved": [opened.id], "move_to": "default"}
        status, body = await admin.call("GET", "/api/queues/returns")
        assert status == 404

        status, body = await admin.call("GET", f"/api/interactions/{opened.id}")
        assert body["interaction"]["queue"] == "default"
        status, body = await admin.call("GET", f"/api/customers/{welcome['customer_id']}/timeline")
        moved = [e for e in body["events"] if e["type"] == "interaction.queue_changed"]
        assert [(e["interaction_id"], e["data"]) for e in moved] == [
            (opened.id, {"from_queue": "returns", "to_queue": "default", "reason": "queue_deleted"})
        ]
        assert moved[0]["actor"]["kind"] == "agent"

        # The live routing state moved too: the next free agent is offered it.
        assert await server.app[ROUTER].waiting("default", Channel.CHAT) == [opened.id]
        agent = await signed_in_agent(server, "bob")
        assert (await agent.next("offer"))["id"] == opened.id
    finally:
        await customer.close()
        if agent is not None:
            await agent.close()


async def test_a_deleted_file_queue_stays_deleted(server: Server, admin: Http) -> None:
    status, body = await admin.call("DELETE", "/api/queues/tier2")
    assert status == 200 and body["moved"] == []
    status, body = await admin.call("GET", "/api/queues")
    assert "tier2" not in {q["name"] for q in body["queues"]}
    assert await server.app[ROUTER].queue_definition("tier2") is None


async def test_an_offer_in_flight_is_withdrawn_from_the_agent_when_its_queue_goes(
    server: Server, admin: Http
) -> None:
    status, _ = await admin.call("POST", "/api/queues", {"name": "returns", "channels": ["chat"]})
    assert status == 201
    agent = await signed_in_agent(server, "bob")
    customer = Customer(server.url)
    welcome = await customer.connect(name="Fay")
    service = server.app[SERVICE]
    try:
        opened = await service.open(welcome["customer_id"], Channel.CHAT, queue="returns")
        await service.enqueue(opened.id)
        assert (await agent.next("offer"))["id"] == opened.id

        status, body = await admin.call("DELETE", "/api/queues/returns?move_to=support")
        assert status == 200 and body["moved"] == [opened.id]
        withdrawn = await agent.next("offer_withdrawn")
        assert withdrawn == {
            "interaction_id": opened.id,
            "reason": "queue_deleted",
            "to_queue": "support",
        }
        # Offered again from its new queue (bob serves every queue without required skills).
        again = await agent.next("offer", timeout=10)
        assert (again["id"], again["queue"]) == (opened.id, "support")
    finally:
        await customer.close()
        await agent.close()


async def test_a_change_that_drops_a_channel_with_waiting_work_is_refused(
    server: Server, admin: Http
) -> None:
    customer = Customer(server.url)
    welcome = await customer.connect(name="Gil")
    service = server.app[SERVICE]
    try:
        opened = await service.open(welcome["customer_id"], Channel.CHAT, queue="support")
        await service.enqueue(opened.id)
        status, body = await admin.call("PUT", "/api/queues/support", {"channels": ["email"]})
        assert status == 409, body
        assert body["field"] == "channels" and body["waiting"] == {"chat": 1}
        assert "1 chat" in body["error"]
        status, body = await admin.call("GET", "/api/queues/support")
        assert "chat" in body["queue"]["channels"]  # unchanged
        # Keeping the channel is fine.
        status, body = await admin.call(
            "PUT", "/api/queues/support", {"channels": ["chat", "email"], "priority": 3}
        )
        assert status == 200 and body["queue"]["priority"] == 3
    finally:
        await customer.close()
