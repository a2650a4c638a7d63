"""Conference controls: a supervisor listens, whispers, barges; the agent hangs up and
the caller rates the call; Twilio's refusals reach the agent and never crash anything."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from sqlalchemy import select

from center.records.enums import Role
from center.records.models import Event, VoiceCall
from tests.channels.voice.conftest import VoiceConsole, bridged_call
from tests.support import Server, signed_in_agent
from tests.twilio_support import ACCOUNT_SID, TwilioApi, Webhooks, sid, voice_call

CALLER = "+14155550177"
ACCOUNT = f"/2010-04-01/Accounts/{ACCOUNT_SID}"


async def test_a_supervisor_listens_then_whispers_then_barges(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    ann = await signed_in_agent(server, "ann", capacity={"voice": 1})
    sue = await signed_in_agent(server, "sue", role=Role.SUPERVISOR, capacity={}, available=False)
    ann_voice, sue_voice = VoiceConsole(ann), VoiceConsole(sue)
    try:
        await ann_voice.connect()
        await sue_voice.connect()
        _call, iid, cf, ann_leg = await bridged_call(hooks, twilio_api, ann, ann_voice, CALLER)

        # An agent may not monitor.
        refused = await ann_voice.call("monitor", {"interaction_id": iid, "mode": "listen"})
        assert refused["ok"] is False and refused["code"] == "forbidden"
        # Nor list every live call; a supervisor does (the board's rows).
        refused = await ann_voice.call("calls", {})
        assert refused["ok"] is False and refused["code"] == "forbidden"
        listed = await sue_voice.call("calls", {})
        assert [c["interaction_id"] for c in listed["calls"]] == [iid], listed
        assert listed["calls"][0]["stage"] == "bridged" and listed["calls"][0]["from"] == CALLER

        ack = await sue_voice.call("monitor", {"interaction_id": iid, "mode": "listen"})
        assert ack["ok"], ack
        adds = twilio_api.posts("/Participants.json")
        listen = adds[-1]
        assert listen.path == f"{ACCOUNT}/Conferences/center-call-{iid}/Participants.json"
        assert listen.form["Muted"] == "true" and listen.form["Coaching"] == "false"
        assert listen.form["Label"].startswith("supervisor-")
        sue_leg = next(x["call_sid"] for x in ack["call"]["legs"] if x["role"] == "supervisor")
        twilio_api.add_participant(cf, sue_leg, muted=True)

        ack = await sue_voice.call("monitor", {"interaction_id": iid, "mode": "whisper"})
        assert ack["ok"], ack
        (whisper,) = twilio_api.posts(f"/Conferences/{cf}/Participants/{sue_leg}.json")
        assert whisper.form == {
            "Muted": "false",
            "Coaching": "true",
            "CallSidToCoach": ann_leg,
        }
        assert twilio_api.participants[cf][sue_leg]["coaching"] is True
        # The agent's console sees who is on the call and how.
        seen = None
        while seen is None or seen["legs"][-1].get("mode") != "whisper":
            seen = await ann_voice.next("call")
        assert seen["legs"][-1]["role"] == "supervisor"

        ack = await sue_voice.call("monitor", {"interaction_id": iid, "mode": "barge"})
        assert ack["ok"], ack
        barge = twilio_api.posts(f"/Conferences/{cf}/Participants/{sue_leg}.json")[-1]
        assert barge.form == {"Muted": "false", "Coaching": "false"}
        async with server.db.read() as s:
            modes = [
                e.data["mode"]
                for e in await s.scalars(
                    select(Event).where(Event.type == "call.monitor").order_by(Event.id)
                )
            ]
        assert modes == ["listen", "whisper", "barge"]
    finally:
        for c in (ann_voice, sue_voice, ann, sue):
            await c.close()


async def test_the_agent_hangs_up_and_the_caller_rates_the_call(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    ann = await signed_in_agent(server, "ann", capacity={"voice": 1})
    console = VoiceConsole(ann)
    try:
        await console.connect()
        call, iid, cf, _leg = await bridged_call(hooks, twilio_api, ann, console, CALLER)
        ack = await console.call("hangup", {"interaction_id": iid})
        assert ack["ok"], ack
        (ended,) = twilio_api.posts(f"/Conferences/{cf}.json")
        assert ended.form == {"Status": "completed"}
        # The caller's <Dial> moves on: the survey.
        r = await hooks.post(
            "/twilio/voice/after",
            voice_call(call, "in-progress", from_=CALLER, DialCallStatus="completed"),
        )
        gather = ET.fromstring(r.text).find("Gather")
        assert gather.get("action") == "/twilio/voice/csat" and gather.get("numDigits") == "1"
        bad = await hooks.post(
            "/twilio/voice/csat", voice_call(call, "in-progress", from_=CALLER, Digits="9")
        )
        assert ET.fromstring(bad.text).find("Gather") is not None  # asked again
        r = await hooks.post(
            "/twilio/voice/csat", voice_call(call, "in-progress", from_=CALLER, Digits="4")
        )
        assert [e.text for e in ET.fromstring(r.text).iter("Say")] == [
            "Thank you for your feedback. Goodbye."
        ]
        await hooks.post(
            "/twilio/voice/csat", voice_call(call, "in-progress", from_=CALLER, Digits="1")
        )
        async with server.db.read() as s:
            vc = await s.scalar(select(VoiceCall).where(VoiceCall.interaction_id == iid))
            csat = (await s.scalars(select(Event).where(Event.type == "call.csat"))).all()
        assert vc.csat == 4 and [e.data["score"] for e in csat] == [4]  # the first answer stands
    finally:
        await console.close()
        await ann.close()


async def test_a_twilio_refusal_is_shown_to_the_agent(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    ann = await signed_in_agent(server, "ann", capacity={"voice": 1})
    console = VoiceConsole(ann)
    try:
        await console.connect()
        _call, iid, _cf, _leg = await bridged_call(hooks, twilio_api, ann, console, CALLER)
        twilio_api.fail_next("/Participants/", 500, 20500, "Internal Server Error")
        ack = await console.call("hold", {"interaction_id": iid, "on": True})
        assert ack["ok"] is False and ack["code"] == "twilio_error"
        assert "Internal Server Error" in ack["error"]
        told = await console.next("call_error")
        assert told == {
            "interaction_id": iid,
            "action": "hold",
            "status": 500,
            "code": 20500,
            "error": "Unable to update record: Internal Server Error",
        }
        # Nothing broke: the next try goes through.
        assert (await console.call("hold", {"interaction_id": iid, "on": True}))["ok"]
        async with server.db.read() as s:
            errors = (await s.scalars(select(Event).where(Event.type == "call.rest_error"))).all()
        assert [e.data["code"] for e in errors] == [20500]
    finally:
        await console.close()
        await ann.close()


async def test_a_failed_bridge_reaches_the_agent_and_the_caller_keeps_holding(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    ann = await signed_in_agent(server, "ann", capacity={"voice": 1}, available=False)
    console = VoiceConsole(ann)
    try:
        await console.connect()
        call = sid("CA")
        await hooks.post("/twilio/voice", voice_call(call, from_=CALLER))
        await hooks.post(
            "/twilio/voice/ivr?menu=main&tries=0",
            voice_call(call, "in-progress", from_=CALLER, Digits="1"),
        )
        twilio_api.fail_next(f"/Calls/{call}", 404, 20404, "The requested resource was not found")
        await ann.available()
        offer = await ann.next("offer")
        assert (await ann.call("accept", {"interaction_id": offer["id"]}))["ok"]
        told = await console.next("call_error")
        assert told["action"] == "bridge the caller" and told["code"] == 20404
        r = await hooks.post("/twilio/voice/hold", voice_call(call, "in-progress", from_=CALLER))
        assert r.status == 200  # (still answered; the record says where the call is)
    finally:
        await console.close()
        await ann.close()
