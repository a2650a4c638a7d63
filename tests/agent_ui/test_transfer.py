"""Transfers and re-queues over real sockets: the customer keeps their place and history."""

from __future__ import annotations

from pathlib import Path

import pytest

from center.config import Settings
from center.records.models import Interaction
from tests.agent_ui.routing_support import Desk


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    # A second queue to transfer to (a transfer to a queue that does not exist is refused).
    queues = tmp_path / "queues.yaml"
    queues.write_text("queues:\n  default: {}\n  billing: {}\n")
    return settings.model_copy(update={"agent_offline_grace_s": 0.3, "queues_file": queues})


async def test_transfer_to_an_agent_offers_them_the_conversation(desk: Desk) -> None:
    alice = await desk.agent("alice")
    iid = await desk.chat_assigned_to(alice)
    bob = await desk.agent("bob")
    bob_id = await desk.user_id("bob")
    ack = await alice.call("transfer", {"interaction_id": iid, "to_agent_id": bob_id})
    assert ack == {"ok": True, "to_agent_id": bob_id}
    assert await alice.next("transferred") == {"interaction_id": iid, "to_agent_id": bob_id}
    offer = await bob.next("offer")
    assert offer["id"] == iid and offer["preview"] == "my router is broken"
    accepted = await bob.call("accept", {"interaction_id": iid})
    assert [m["body"] for m in accepted["messages"]] == ["my router is broken"]
    # Alice no longer owns it.
    refused = await alice.call("message", {"interaction_id": iid, "text": "hello?"})
    assert refused["code"] == "not_yours"
    types = [t for t, _ in await desk.events(interaction_id=iid)]
    assert types[-3:] == ["interaction.transferred", "interaction.offered", "interaction.accepted"]


async def test_transfer_to_a_busy_agent_is_refused_and_nothing_changes(desk: Desk) -> None:
    alice = await desk.agent("alice")
    iid = await desk.chat_assigned_to(alice)
    await desk.agent("bob", available=False)
    refused = await alice.call(
        "transfer", {"interaction_id": iid, "to_agent_id": await desk.user_id("bob")}
    )
    assert refused["code"] == "agent_unavailable"
    assert (await alice.call("message", {"interaction_id": iid, "text": "still here"}))["ok"]


async def test_transfer_to_a_queue_keeps_the_original_enqueue_time(desk: Desk) -> None:
    alice = await desk.agent("alice")
    iid = await desk.chat_assigned_to(alice)
    async with desk.server.db.read() as s:
        queued_at = (await s.get(Interaction, iid)).queued_at
    bad = await alice.call("transfer", {"interaction_id": iid})
    assert bad["code"] == "malformed"
    nowhere = await alice.call("transfer", {"interaction_id": iid, "to_queue": "nowhere"})
    assert (nowhere["ok"], nowhere["code"]) == (False, "not_found")
    ack = await alice.call("transfer", {"interaction_id": iid, "to_queue": "billing"})
    assert ack["ok"], ack
    assert await alice.next("transferred") == {"interaction_id": iid, "to_queue": "billing"}
    bob = await desk.agent("bob")
    offer = await bob.next("offer")
    assert (offer["id"], offer["queue"]) == (iid, "billing")
    async with desk.server.db.read() as s:
        assert (await s.get(Interaction, iid)).queued_at == queued_at
    transferred = await desk.events(interaction_id=iid, type="interaction.transferred")
    alice_id = await desk.user_id("alice")
    assert [d for _, d in transferred] == [
        {"from_agent_id": alice_id, "to_agent_id": None, "to_queue": "billing"}
    ]


async def test_agent_gone_past_the_grace_period_has_its_work_requeued(desk: Desk) -> None:
    alice = await desk.agent("alice")
    iid = await desk.chat_assigned_to(alice)
    bob = await desk.agent("bob")
    await alice.close()  # no reconnect within the grace period
    offer = await bob.next("offer", timeout=5)
    assert offer["id"] == iid
    requeued = await desk.events(interaction_id=iid, type="interaction.requeued")
    alice_id = await desk.user_id("alice")
    assert [d for _, d in requeued] == [{"reason": "agent_disconnected", "agent_id": alice_id}]
    assert (await bob.call("accept", {"interaction_id": iid}))["ok"]
