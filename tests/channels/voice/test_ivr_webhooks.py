"""The IVR over signed webhooks on the running server: TwiML parsed and asserted."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from sqlalchemy import select

from center.records.customers import resolve
from center.records.enums import IdentityKind
from center.records.models import Event, Interaction, VoiceCall
from tests.support import Server
from tests.twilio_support import Webhooks, sid, voice_call

CALLER = "+14155550100"


def parse(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == "Response"
    return root


def says(root: ET.Element) -> list[str]:
    return [e.text or "" for e in root.iter("Say")]


async def test_a_known_caller_is_greeted_by_name_and_walks_the_menu(
    server: Server, hooks: Webhooks
) -> None:
    customer = await resolve(
        server.db, {IdentityKind.PHONE: CALLER}, display_name="Ada Lovelace", via="test"
    )
    call = sid("CA")
    r = await hooks.post("/twilio/voice", voice_call(call, from_=CALLER))
    assert r.status == 200 and r.content_type == "text/xml"
    root = parse(r.text)
    assert says(root)[0] == "Welcome to Example. Hello Ada Lovelace."
    gather = root.find("Gather")
    assert gather is not None
    assert gather.get("action") == "/twilio/voice/ivr?menu=main&tries=0"
    assert gather.get("input") == "dtmf speech" and gather.get("numDigits") == "1"
    assert gather.get("actionOnEmptyResult") == "true"
    assert "sales" in gather.get("hints", "")

    # A replay of the same webhook: the same answer, no second interaction.
    again = await hooks.post("/twilio/voice", voice_call(call, from_=CALLER))
    assert parse(again.text).find("Gather") is not None

    # Nothing pressed: the prompt again; an invalid key: "did not get that"; then default.
    miss = await hooks.post(
        "/twilio/voice/ivr?menu=main&tries=0", voice_call(call, "in-progress", from_=CALLER)
    )
    root = parse(miss.text)
    assert root.find("Gather").get("action") == "/twilio/voice/ivr?menu=main&tries=1"
    assert "Sorry" not in " ".join(says(root))
    bad = await hooks.post(
        "/twilio/voice/ivr?menu=main&tries=1",
        voice_call(call, "in-progress", from_=CALLER, Digits="7"),
    )
    root = parse(bad.text)
    # (max_tries 2: the second miss goes to the menu's default, the queue.)
    assert root.find("Gather").get("action") == "/twilio/voice/hold/key"
    assert says(root)[0] == "You are number 1 in the queue."
    assert root.find("Redirect").text == "/twilio/voice/hold"

    async with server.db.read() as s:
        (i,) = (
            await s.scalars(select(Interaction).where(Interaction.customer_id == customer.id))
        ).all()
        assert i.channel.value == "voice" and i.state.value == "queued" and i.external_ref == call
        kinds = [
            (e.type, e.data.get("target"))
            for e in await s.scalars(
                select(Event).where(Event.interaction_id == i.id).order_by(Event.id)
            )
        ]
    assert kinds == [
        ("interaction.started", None),
        ("call.status", None),
        ("call.ivr_choice", "no_input"),
        ("call.ivr_choice", "default"),
        ("interaction.queued", None),
    ]


async def test_speech_picks_an_option_and_language_switches_the_prompts(
    server: Server, hooks: Webhooks
) -> None:
    call = sid("CA")
    await hooks.post("/twilio/voice", voice_call(call, from_=CALLER))
    fr = await hooks.post(
        "/twilio/voice/ivr?menu=main&tries=0",
        voice_call(call, "in-progress", from_=CALLER, Digits="9"),
    )
    root = parse(fr.text)
    assert root.find("Gather").get("language") == "fr-FR"
    assert says(root) == ["Pour les ventes tapez 1."]
    spoken = await hooks.post(
        "/twilio/voice/ivr?menu=main&tries=0",
        voice_call(
            call, "in-progress", from_=CALLER, SpeechResult="I want to buy", Confidence="0.91"
        ),
    )
    assert "number 1" in says(parse(spoken.text))[0]
    async with server.db.read() as s:
        c = await s.scalar(select(VoiceCall))
        i = await s.get(Interaction, c.interaction_id)
    assert c.language == "fr-FR" and c.stage == "waiting" and i.priority == 3


async def test_unsigned_or_missigned_webhooks_store_nothing(
    server: Server, hooks: Webhooks
) -> None:
    call = sid("CA")
    assert (
        await hooks.post("/twilio/voice", voice_call(call, from_=CALLER), sign=False)
    ).status == 403
    assert (
        await hooks.post("/twilio/voice", voice_call(call, from_=CALLER), signature="bm90IGl0")
    ).status == 403
    # Signed for another URL (a replay against another route) is mis-signed too.
    params = voice_call(call, from_=CALLER)
    other = hooks.signature("/twilio/voice/status", params)
    assert (await hooks.post("/twilio/voice", params, signature=other)).status == 403
    async with server.db.read() as s:
        assert (await s.scalars(select(Interaction))).all() == []


async def test_unknown_call_sids_are_answered_200(server: Server, hooks: Webhooks) -> None:
    ghost = sid("CA")
    r = await hooks.post(
        "/twilio/voice/status", voice_call(ghost, "completed", from_=CALLER, CallDuration="5")
    )
    assert r.status == 200
    r = await hooks.post("/twilio/voice/hold", voice_call(ghost, "in-progress", from_=CALLER))
    assert r.status == 200 and parse(r.text).find("*") is None


async def test_status_callbacks_are_recorded_once_each(server: Server, hooks: Webhooks) -> None:
    """Each (CallSid, status) is one change and one ``call.status`` event, whatever Twilio
    retries; the caller's ``completed`` ends the call with its duration and the walk in the
    menu is abandoned."""
    call = sid("CA")
    await hooks.post("/twilio/voice", voice_call(call, from_=CALLER))
    for status, extra in [
        ("in-progress", {}),
        ("in-progress", {}),
        ("completed", {"CallDuration": "42"}),
        ("completed", {"CallDuration": "42"}),
    ]:
        params = voice_call(call, status, from_=CALLER, **extra)
        assert (await hooks.post("/twilio/voice/status", params)).status == 200
    async with server.db.read() as s:
        row = await s.scalar(select(VoiceCall))
        assert row is not None and row.duration_s == 42 and row.ended_at is not None
        i = await s.get(Interaction, row.interaction_id)
        assert i is not None and i.state.value == "abandoned"
        statuses = [
            e.data
            for e in await s.scalars(
                select(Event).where(Event.type == "call.status").order_by(Event.id)
            )
        ]
    assert statuses == [
        {"call_sid": call, "role": "caller", "status": "ringing", "duration_s": None},
        {"call_sid": call, "role": "caller", "status": "in-progress", "duration_s": None},
        {"call_sid": call, "role": "caller", "status": "completed", "duration_s": 42},
    ]
