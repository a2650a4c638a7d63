"""An offer nobody accepts goes back to the queue and on to another agent."""

from __future__ import annotations

import pytest

from center.config import Settings
from center.records.models import Interaction
from tests.support import Customer, Server, signed_in_agent


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"offer_timeout_s": 0.6, "max_missed_offers": 1})


async def test_offer_timeout_requeues_and_offers_to_another_agent(server: Server) -> None:
    alice = await signed_in_agent(server, "alice")
    customer = Customer(server.url)
    await customer.connect()
    iid = (await customer.say("help please"))["interaction_id"]
    try:
        first = await alice.next("offer")
        withdrawn = await alice.next("offer_withdrawn", timeout=5)
        assert withdrawn == {"interaction_id": iid, "reason": "timeout"}
        # One miss with max_missed=1: alice is set away, and told so.
        presence = await alice.next("presence", timeout=5)
        while presence["presence"] != "away":
            presence = await alice.next("presence", timeout=5)
        assert presence["reason"] == "missed_offers"
        bob = await signed_in_agent(server, "bob")
        offer = await bob.next("offer", timeout=5)
        assert offer["id"] == iid == first["id"]
        assert (await bob.call("accept", {"interaction_id": iid}))["ok"]
        status, body = await bob.get(f"/api/interactions/{iid}")
        assert status == 200 and body["interaction"]["agent_id"] != first["agent_id"]
        async with server.db.read() as s:
            i = await s.get(Interaction, iid)
            assert i.state.value == "assigned"
        _, timeline = await bob.get(f"/api/customers/{i.customer_id}/timeline")
        types = [e["type"] for e in timeline["events"]]
        assert types.count("interaction.offered") == 2
        assert "interaction.offer_timed_out" in types
        await bob.close()
    finally:
        await customer.close()
        await alice.close()
