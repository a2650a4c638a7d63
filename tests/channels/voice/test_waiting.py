"""While a caller waits: hanging up abandons, the callback key keeps the place and the
platform calls back, a full queue or after hours goes to voicemail, which is a ticket."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import select

from center.config import Settings
from center.outbox.models import OutboxItem
from center.records.models import Event, Interaction, VoiceCall
from tests.channels.voice.conftest import VoiceConsole
from tests.support import Server, signed_in_agent
from tests.twilio_support import (
    CENTER_NUMBER,
    PUBLIC_URL,
    TwilioApi,
    Webhooks,
    sid,
    voice_call,
)

CALLER = "+14155550142"


def root(text: str) -> ET.Element:
    return ET.fromstring(text)


def says(text: str) -> list[str]:
    return [e.text or "" for e in root(text).iter("Say")]


async def queued_call(hooks: Webhooks, call: str, caller: str = CALLER) -> str:
    await hooks.post("/twilio/voice", voice_call(call, from_=caller))
    r = await hooks.post(
        "/twilio/voice/ivr?menu=main&tries=0",
        voice_call(call, "in-progress", from_=caller, Digits="1"),
    )
    assert "in the queue" in says(r.text)[0]
    return r.text


async def interaction_of(server: Server, call: str) -> Interaction:
    async with server.db.read() as s:
        return await s.scalar(select(Interaction).where(Interaction.external_ref == call))


async def event_types(server: Server, interaction_id: int) -> list[str]:
    async with server.db.read() as s:
        rows = await s.scalars(
            select(Event.type).where(Event.interaction_id == interaction_id).order_by(Event.id)
        )
        return list(rows)


async def test_a_caller_who_hangs_up_while_waiting_is_abandoned(
    server: Server, hooks: Webhooks
) -> None:
    call = sid("CA")
    await queued_call(hooks, call)
    await hooks.post(
        "/twilio/voice/status", voice_call(call, "completed", from_=CALLER, CallDuration="31")
    )
    i = await interaction_of(server, call)
    assert i.state.value == "abandoned"
    assert (await event_types(server, i.id))[-2:] == ["call.status", "interaction.abandoned"]


async def test_callback_keeps_the_place_and_the_platform_calls_back(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    first, second = sid("CA"), sid("CA")
    await queued_call(hooks, first)
    await queued_call(hooks, second, "+14155550199")
    # The first caller presses the callback key: confirmed, hung up, still first in line.
    r = await hooks.post(
        "/twilio/voice/hold/key", voice_call(first, "in-progress", from_=CALLER, Digits="1")
    )
    assert says(r.text) == ["Thank you. We will call you back at this number. Goodbye."]
    assert root(r.text).find("Hangup") is not None
    await hooks.post(
        "/twilio/voice/status", voice_call(first, "completed", from_=CALLER, CallDuration="40")
    )
    i = await interaction_of(server, first)
    assert i.state.value == "queued"  # not abandoned: waiting for its turn
    r = await hooks.post(
        "/twilio/voice/hold", voice_call(second, "in-progress", from_="+14155550199")
    )
    assert says(r.text)[0] == "You are number 2 in the queue."

    # Its turn: offered to an agent like any call; on accept, the agent joins the
    # conference and the REST API calls the customer back.
    ann = await signed_in_agent(server, "ann", capacity={"voice": 1})
    try:
        offer = await ann.next("offer")
        assert offer["id"] == i.id
        assert (await ann.call("accept", {"interaction_id": i.id}))["ok"]
        (agent_leg,) = await twilio_api.wait_for("/Participants.json")
        assert agent_leg.form["To"].startswith("client:agent-")
        (placed,) = await twilio_api.wait_for("/Calls.json")
        assert placed.form["To"] == CALLER and placed.form["From"] == CENTER_NUMBER
        async with server.db.read() as s:
            vc = await s.scalar(select(VoiceCall).where(VoiceCall.interaction_id == i.id))
        assert placed.form["Url"] == f"{PUBLIC_URL}/twilio/voice/callback?call={vc.id}"
        assert placed.form["StatusCallback"].startswith(f"{PUBLIC_URL}/twilio/voice/status?leg=")
        assert len(twilio_api.posts(f"/Calls/{first}.json")) == 0  # the old call is gone
        # The customer answers: the intro, then into the same conference.
        callback_sid = next(s for s, c in twilio_api.calls.items() if c["to"] == CALLER)
        r = await hooks.post(
            f"/twilio/voice/callback?call={vc.id}",
            voice_call(
                callback_sid,
                "in-progress",
                from_=CENTER_NUMBER,
                to=CALLER,
                direction="outbound-api",
            ),
        )
        assert says(r.text) == ["Hello, this is the call back you asked for. Connecting you now."]
        assert root(r.text).find("Dial/Conference").text == f"center-call-{i.id}"
        await settled_outbox(server)  # (the placed call is recorded after Twilio's answer)
        types = await event_types(server, i.id)
        assert types.count("interaction.started") == 1  # one interaction, start to end
        assert "call.callback_requested" in types and "call.callback_placed" in types
        assert types.index("call.callback_requested") < types.index("interaction.accepted")
    finally:
        await ann.close()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"outbox_backoff_s": 0.05, "outbox_poll_s": 0.05})


async def settled_outbox(server: Server) -> list[OutboxItem]:
    """The outbox rows once none is still being sent (the worker records after the send)."""
    async with asyncio.timeout(5):
        while True:
            async with server.db.read() as s:
                rows = (await s.scalars(select(OutboxItem))).all()
            if rows and all(o.status in ("sent", "failed") for o in rows):
                return list(rows)
            await asyncio.sleep(0.02)


async def asked_for_callback(hooks: Webhooks, call: str) -> None:
    await queued_call(hooks, call)
    await hooks.post(
        "/twilio/voice/hold/key", voice_call(call, "in-progress", from_=CALLER, Digits="1")
    )
    await hooks.post(
        "/twilio/voice/status", voice_call(call, "completed", from_=CALLER, CallDuration="9")
    )


async def test_a_callback_twilio_asks_to_retry_is_placed_once_later(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    await asked_for_callback(hooks, sid("CA"))
    twilio_api.fail_next("/Calls.json", 503, 20503, "Service Unavailable")
    ann = await signed_in_agent(server, "ann", capacity={"voice": 1})
    try:
        offer = await ann.next("offer")
        assert (await ann.call("accept", {"interaction_id": offer["id"]}))["ok"]
        tries = await twilio_api.wait_for("/Calls.json", 2)
        assert [t.form["To"] for t in tries] == [CALLER, CALLER]
        placed = [c for c in twilio_api.calls.values() if c["to"] == CALLER]
        assert len(placed) == 1  # the refused try made nothing; the retry made one call
        outbox = await settled_outbox(server)
        assert [(o.kind, o.status, o.attempts) for o in outbox] == [("call", "sent", 2)]
    finally:
        await ann.close()


async def test_a_callback_twilio_refuses_is_shown_to_the_agent(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    await asked_for_callback(hooks, sid("CA"))
    twilio_api.fail_next("/Calls.json", 400, 21211, "The 'To' number is not a valid phone number.")
    ann = await signed_in_agent(server, "ann", capacity={"voice": 1})
    console = VoiceConsole(ann)
    try:
        await console.connect()
        offer = await ann.next("offer")
        assert (await ann.call("accept", {"interaction_id": offer["id"]}))["ok"]
        told = await console.next("call_error")
        assert told["action"] == "place the callback" and told["code"] == 21211
        (o,) = await settled_outbox(server)
        assert o.status == "failed" and "21211" in o.last_error
        assert len(twilio_api.posts("/Calls.json")) == 1  # never retried
    finally:
        await console.close()
        await ann.close()
