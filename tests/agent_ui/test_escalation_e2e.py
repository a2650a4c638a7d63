"""Escalation through the running app: the router loop widens the ring, the service logs it
once, and the waiting chat reaches an agent who did not qualify at first."""

from __future__ import annotations

from center.appkeys import ROUTER
from center.queue.model import EscalationStep, QueueDef
from tests.agent_ui.routing_support import Desk


async def test_a_waiting_chat_escalates_to_agents_without_the_skill(desk: Desk) -> None:
    await desk.server.app[ROUTER].configure(
        [
            QueueDef(
                "default",
                skills={"routers": 7},
                escalation=(EscalationStep(0.4, drop_skills=("routers",)),),
            )
        ]
    )
    alice = await desk.agent("alice")  # no skills at all
    customer = desk.customer()
    await customer.connect()
    iid = (await customer.say("my router is broken"))["interaction_id"]
    offer = await alice.next("offer", timeout=5)
    assert offer["id"] == iid
    types = [t for t, _ in await desk.events(interaction_id=iid)]
    assert types.count("interaction.escalated") == 1
    assert types.index("interaction.escalated") < types.index("interaction.offered")
    [(_, data)] = await desk.events(interaction_id=iid, type="interaction.escalated")
    assert data == {"queue": "default", "step": 1}
