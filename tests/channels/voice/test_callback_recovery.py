"""A callback whose agent cannot be reached is not lost: it goes back to its queue at its
place and the next agent's turn calls the customer (once, whichever turn reached them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from center.outbox.models import OutboxItem
from center.records.models import Interaction, User, VoiceCall
from tests.channels.voice.conftest import VoiceConsole, told_set_away
from tests.channels.voice.test_waiting import (
    CALLER,
    asked_for_callback,
    event_types,
    settings,  # noqa: F401  (the fast outbox)
    settled_outbox,
)
from tests.support import Server, signed_in_agent
from tests.twilio_support import CENTER_NUMBER, PUBLIC_URL, TwilioApi, Webhooks, sid, voice_call


async def call_of(server: Server, interaction_id: int) -> VoiceCall:
    async with server.db.read() as s:
        call = await s.scalar(select(VoiceCall).where(VoiceCall.interaction_id == interaction_id))
    assert call is not None
    return call


async def interaction(server: Server, interaction_id: int) -> Interaction:
    async with server.db.read() as s:
        i = await s.get(Interaction, interaction_id)
    assert i is not None
    return i


async def user_id(server: Server, username: str) -> int:
    async with server.db.read() as s:
        found = await s.scalar(select(User.id).where(User.username == username))
    assert found is not None
    return int(found)


async def accepts_the_offer(agent: Any, console: VoiceConsole) -> int:
    """The agent's voice console connected, then the callback's offer accepted: its id."""
    await console.connect()
    iid = int((await agent.next("offer"))["id"])
    assert (await agent.call("accept", {"interaction_id": iid}))["ok"]
    return iid


def called_back(api: TwilioApi) -> list[str]:
    """The CallSids of the calls placed to the customer."""
    return [s for s, c in api.calls.items() if c["to"] == CALLER]


async def test_a_callback_whose_agent_twilio_refuses_goes_to_the_next_agent(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    """The agent's leg is refused (21217) before the customer is called: nobody is called,
    the callback waits at its place again, and the next agent's turn calls the customer."""
    api = twilio_api
    await asked_for_callback(hooks, sid("CA"))
    api.fail_next(
        "/Participants.json", 400, 21217, "Phone number is not a valid phone number.",
        method="POST",
    )  # fmt: skip
    ann = await signed_in_agent(server, "ann", capacity={"voice": 1})
    console = VoiceConsole(ann)
    try:
        iid = await accepts_the_offer(ann, console)
        refused = await console.next("call_error")
        assert refused["action"] == "add the agent" and refused["code"] == 21217
        await told_set_away(server, console, "ann", unreachable=True)
        assert api.posts("/Calls") == []  # the customer was not called, nor anything moved
        i = await interaction(server, iid)
        assert i.state.value == "queued" and i.agent_id is None
        assert (await call_of(server, iid)).stage == "callback"

        bob = await signed_in_agent(server, "bob", capacity={"voice": 1})
        try:
            assert (await bob.next("offer"))["id"] == iid
            assert (await bob.call("accept", {"interaction_id": iid}))["ok"]
            dialled = await api.wait_for("/Participants.json", 2)
            assert dialled[-1].form["To"] == f"client:agent-{await user_id(server, 'bob')}"
            (placed,) = await api.wait_for("/Calls.json")
            assert placed.form["To"] == CALLER and placed.form["From"] == CENTER_NUMBER
            (item,) = await settled_outbox(server)
            bob_id = await user_id(server, "bob")
            assert item.status == "sent" and item.payload["agent_id"] == bob_id
        finally:
            await bob.close()
        types = await event_types(server, iid)
        assert types.count("call.callback_placed") == 1 and "interaction.transferred" in types
    finally:
        await console.close()
        await ann.close()


async def test_a_called_back_customer_whose_agent_does_not_answer_holds_for_the_next(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    """The customer was called back and is on the line, but the agent's phone never
    answers: the customer is moved to the hold loop on the line they are on, and the next
    agent is bridged to it; the customer is not called a second time."""
    api = twilio_api
    await asked_for_callback(hooks, sid("CA"))
    ann = await signed_in_agent(server, "ann", capacity={"voice": 1})
    console = VoiceConsole(ann)
    try:
        iid = await accepts_the_offer(ann, console)
        await api.wait_for("/Participants.json")
        await api.wait_for("/Calls.json")
        await settled_outbox(server)
        (customer,) = called_back(api)
        ann_leg, ann_leg_to = next(
            (s, c["to"]) for s, c in api.calls.items() if c["to"].startswith("client:")
        )
        vc = await call_of(server, iid)
        r = await hooks.post(
            f"/twilio/voice/callback?call={vc.id}",
            voice_call(
                customer, "in-progress", from_=CENTER_NUMBER, to=CALLER, direction="outbound-api"
            ),
        )
        assert "<Conference" in r.text

        r = await hooks.post(
            "/twilio/voice/status",
            voice_call(ann_leg, "no-answer", from_=CENTER_NUMBER, to=ann_leg_to),
        )
        assert r.status == 200
        await told_set_away(server, console, "ann")
        moved = api.posts(f"/Calls/{customer}.json")[-1]
        assert moved.form == {"Url": f"{PUBLIC_URL}/twilio/voice/hold", "Method": "POST"}
        i = await interaction(server, iid)
        assert i.state.value == "queued" and i.agent_id is None

        bob = await signed_in_agent(server, "bob", capacity={"voice": 1})
        try:
            assert (await bob.next("offer"))["id"] == iid
            assert (await bob.call("accept", {"interaction_id": iid}))["ok"]
            dialled = await api.wait_for("/Participants.json", 2)
            assert dialled[-1].form["To"] == f"client:agent-{await user_id(server, 'bob')}"
            # The customer's line (the callback's) is taken from the hold loop into the
            # conference; no second call is placed.
            bridged = api.posts(f"/Calls/{customer}.json")[-1]
            assert f"center-call-{iid}" in bridged.form["Twiml"]
            assert called_back(api) == [customer]
            async with server.db.read() as s:
                items = (await s.scalars(select(OutboxItem))).all()
            assert [o.status for o in items] == ["sent"]
        finally:
            await bob.close()
    finally:
        await console.close()
        await ann.close()
