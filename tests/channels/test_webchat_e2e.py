"""The full chat story over real socket.io connections, a real server, DB and Redis."""

from __future__ import annotations

import asyncio

from center.records.enums import Role
from tests.support import Customer, Server, signed_in_agent


async def test_customer_and_agent_chat_end_to_end(server: Server) -> None:
    alice = await signed_in_agent(server, "alice")
    customer = Customer(server.url)
    welcome = await customer.connect(name="Dana", email="dana@example.com")
    try:
        ack = await customer.say("Hi, my order never arrived")
        assert ack["ok"] and ack["message_id"] > 0
        iid = ack["interaction_id"]
        assert (await customer.next("queued"))["position"] == 1

        offer = await alice.next("offer")
        assert offer["id"] == iid and offer["channel"] == "chat"
        assert "never arrived" in offer["preview"]
        accepted = await alice.call("accept", {"interaction_id": iid})
        assert accepted["ok"], accepted
        assert [m["body"] for m in accepted["messages"]] == ["Hi, my order never arrived"]
        assert (await customer.next("agent_joined"))["agent"] == "alice"

        sent = await alice.call("message", {"interaction_id": iid, "text": "Sorry! Let me check."})
        assert sent["ok"]
        got = await customer.next("message")
        assert got["body"] == "Sorry! Let me check." and got["author"] == "alice"

        await customer.call("typing", {})
        assert (await alice.next("customer_typing"))["interaction_id"] == iid
        await customer.say("Order 1234")
        assert (await alice.next("message"))["body"] == "Order 1234"

        closed = await alice.call(
            "close", {"interaction_id": iid, "note": "reshipped", "disposition": "resolved"}
        )
        assert closed["ok"], closed
        await customer.next("closed")

        status, body = await alice.get(f"/api/customers/{welcome['customer_id']}/timeline")
        assert status == 200
        types = [e["type"] for e in body["events"]]
        assert types == [
            "customer.created",
            "customer.identity_added",
            "customer.identity_added",
            "interaction.started",
            "message.received",
            "interaction.queued",
            "interaction.offered",
            "interaction.accepted",
            "message.sent",
            "message.received",
            "interaction.wrap_up",
            "interaction.closed",
        ]
        events = body["events"]
        assert [e["id"] for e in events] == sorted(e["id"] for e in events)
        wrap = next(e for e in events if e["type"] == "interaction.wrap_up")
        assert wrap["data"]["note"] == "reshipped" and wrap["actor"]["kind"] == "agent"
        sent_event = next(e for e in events if e["type"] == "message.sent")
        assert sent_event["data"]["body"] == "Sorry! Let me check."
    finally:
        await customer.close()
        await alice.close()


async def test_customer_who_leaves_while_waiting_is_abandoned(server: Server) -> None:
    customer = Customer(server.url)
    welcome = await customer.connect()
    ack = await customer.say("anyone there?")
    await customer.close()  # nobody is available: still waiting when they go
    supervisor = await signed_in_agent(
        server,
        "sam",
        role=Role.SUPERVISOR,
        available=False,
    )
    try:
        for _ in range(50):
            path = f"/api/customers/{welcome['customer_id']}/timeline"
            _status, body = await supervisor.get(path)
            if body["events"][-1]["type"] == "interaction.abandoned":
                break
            await asyncio.sleep(0.1)
        last = body["events"][-1]
        assert last["type"] == "interaction.abandoned"
        assert last["interaction_id"] == ack["interaction_id"]
        assert last["data"]["wait_s"] >= 0 and last["data"]["state_before"] == "queued"
    finally:
        await supervisor.close()


async def test_returning_visitor_is_the_same_customer_and_sees_history(server: Server) -> None:
    first = Customer(server.url)
    w1 = await first.connect()
    await first.say("hello")
    await first.close()
    again = Customer(server.url)
    try:
        w2 = await again.connect(token=w1["token"])
        assert w2["customer_id"] == w1["customer_id"]
    finally:
        await again.close()
