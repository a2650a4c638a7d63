"""What a reconnecting chat widget is told (issue 9, item 18): the state, the agent's name,
the queue position and the transcript as the customer saw it live; and once the customer
has left a chat it is not theirs to write in any more (a new message starts a new one)."""

from __future__ import annotations

from tests.support import Customer, Server, signed_in_agent


async def test_welcome_carries_what_a_reload_shows(server: Server) -> None:
    alice = await signed_in_agent(server, "alice", available=False)
    first, again, later = Customer(server.url), Customer(server.url), Customer(server.url)
    try:
        w = await first.connect()
        iid = (await first.say("Hi"))["interaction_id"]
        assert (await first.next("queued"))["position"] == 1
        waiting = await again.connect(token=w["token"])
        assert waiting["interaction"] == {
            "id": iid,
            "state": "queued",
            "agent": None,
            "position": 1,
        }
        await again.close()

        await alice.available()
        assert (await alice.call("accept", {"interaction_id": (await alice.next("offer"))["id"]}))[
            "ok"
        ]
        assert (await alice.call("message", {"interaction_id": iid, "text": "Hello"}))["ok"]
        assert (await first.next("message"))["author"] == "alice"
        back = await later.connect(token=w["token"])
        assigned = {"id": iid, "state": "assigned", "agent": "alice", "position": None}
        assert back["interaction"] == assigned
        shown = [
            (e["kind"], e.get("body") or e.get("agent") or e.get("position"), e.get("author"))
            for e in back["transcript"]
        ]
        assert shown == [
            ("message", "Hi", ""),
            ("queued", 1, None),
            ("agent_joined", "alice", None),
            ("message", "Hello", "alice"),
        ]
    finally:
        for client in (first, again, later, alice):
            await client.close()


async def test_after_end_chat_a_message_starts_a_new_chat(server: Server) -> None:
    alice = await signed_in_agent(server, "alice")
    customer = Customer(server.url)
    try:
        await customer.connect()
        iid = (await customer.say("Hi"))["interaction_id"]
        assert (await alice.call("accept", {"interaction_id": (await alice.next("offer"))["id"]}))[
            "ok"
        ]
        assert (await customer.call("leave", {}))["interaction_id"] == iid
        again = await customer.say("Actually, one more thing")
        assert again["ok"] and again["interaction_id"] != iid
        # The agent of the chat they left does not get the new words in it.
        assert (await alice.next("customer_left"))["interaction_id"] == iid
        assert (await alice.next("offer"))["id"] == again["interaction_id"]
        assert alice.pending("message") == []
    finally:
        await customer.close()
        await alice.close()
