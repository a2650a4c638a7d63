"""The knowledge base answers callers; routing treats a call like any interaction: an
offer not taken goes to the next agent while the caller holds; a transfer to a queue puts
the caller back on the hold loop."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from sqlalchemy import select

from center.knowledge_base.articles import Fields, save_one
from center.knowledge_base.models import PUBLISHED
from center.records.models import Event, Interaction
from tests.channels.voice.conftest import VoiceConsole, bridged_call
from tests.support import Server, signed_in_agent
from tests.twilio_support import PUBLIC_URL, TwilioApi, Webhooks, sid, voice_call

CALLER = "+14155550188"


def says(text: str) -> list[str]:
    return [e.text or "" for e in ET.fromstring(text).iter("Say")]


async def state_of(server: Server, call: str) -> tuple[str, list[str]]:
    async with server.db.read() as s:
        i = await s.scalar(select(Interaction).where(Interaction.external_ref == call))
        types = await s.scalars(
            select(Event.type).where(Event.interaction_id == i.id).order_by(Event.id)
        )
        return i.state.value, list(types)


async def ask(hooks: Webhooks, call: str, question: str) -> str:
    await hooks.post("/twilio/voice", voice_call(call, from_=CALLER))
    r = await hooks.post(
        "/twilio/voice/ivr?menu=main&tries=0",
        voice_call(call, "in-progress", from_=CALLER, Digits="2"),
    )
    gather = ET.fromstring(r.text).find("Gather")
    assert gather.get("input") == "speech"
    assert gather.get("action") == "/twilio/voice/ivr/kb?menu=main&option=1"
    r = await hooks.post(
        "/twilio/voice/ivr/kb?menu=main&option=1",
        voice_call(call, "in-progress", from_=CALLER, SpeechResult=question, Confidence="0.93"),
    )
    return r.text


async def test_a_confident_answer_is_read_and_hanging_up_then_is_self_service(
    server: Server, hooks: Webhooks
) -> None:
    await save_one(
        server.db,
        Fields(
            slug="reset-password",
            title="Reset your password",
            body_md="To reset your password, open Settings and choose Reset password.",
            status=PUBLISHED,
        ),
        None,
    )
    call = sid("CA")
    text = await ask(hooks, call, "How do I reset my password")
    spoken = says(text)
    assert "open Settings and choose Reset password" in spoken[0]
    assert spoken[1] == "To speak to an agent, press 1. Otherwise you may hang up."
    assert (
        ET.fromstring(text).find("Gather").get("action")
        == "/twilio/voice/ivr/agent?menu=main&option=1"
    )
    await hooks.post(
        "/twilio/voice/status", voice_call(call, "completed", from_=CALLER, CallDuration="20")
    )
    state, types = await state_of(server, call)
    assert state == "deflected" and "call.kb_answer" in types and "interaction.queued" not in types


async def test_no_confident_answer_offers_an_agent(server: Server, hooks: Webhooks) -> None:
    call = sid("CA")
    text = await ask(hooks, call, "my cat ate the router cable")
    spoken = says(text)
    assert spoken[0] == "I could not find an answer to that. Let me connect you to an agent."
    assert spoken[1] == "You are number 1 in the queue."
    state, _ = await state_of(server, call)
    assert state == "queued"


async def test_an_offer_not_taken_goes_to_the_next_agent_while_the_caller_holds(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    ann = await signed_in_agent(server, "ann", capacity={"voice": 1})
    bob = await signed_in_agent(server, "bob", capacity={"voice": 1}, available=False)
    try:
        call = sid("CA")
        await hooks.post("/twilio/voice", voice_call(call, from_=CALLER))
        await hooks.post(
            "/twilio/voice/ivr?menu=main&tries=0",
            voice_call(call, "in-progress", from_=CALLER, Digits="1"),
        )
        offer = await ann.next("offer")
        await bob.available()
        assert (await ann.call("reject", {"interaction_id": offer["id"]}))["ok"]
        again = await bob.next("offer")
        assert again["id"] == offer["id"]
        # Nobody bridged yet: the caller is still on the hold loop.
        r = await hooks.post("/twilio/voice/hold", voice_call(call, "in-progress", from_=CALLER))
        assert says(r.text)[0] == "You are number 1 in the queue."
        assert twilio_api.requests == []
    finally:
        await ann.close()
        await bob.close()


async def test_a_transfer_to_a_queue_puts_the_caller_back_on_hold(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    ann = await signed_in_agent(server, "ann", capacity={"voice": 1})
    console = VoiceConsole(ann)
    try:
        await console.connect()
        call, iid, _cf, _leg = await bridged_call(hooks, twilio_api, ann, console, CALLER)
        assert (await ann.call("presence", {"presence": "away", "reason": "break"}))["ok"]
        ack = await console.call("transfer", {"interaction_id": iid, "to_queue": "default"})
        assert ack["ok"], ack
        moved = twilio_api.posts(f"/Calls/{call}.json")[-1]
        assert moved.form == {"Url": f"{PUBLIC_URL}/twilio/voice/hold", "Method": "POST"}
        r = await hooks.post("/twilio/voice/hold", voice_call(call, "in-progress", from_=CALLER))
        assert says(r.text)[0] == "You are number 1 in the queue."
        state, types = await state_of(server, call)
        assert state == "queued" and types[-1] == "interaction.transferred"
    finally:
        await console.close()
        await ann.close()
