"""Whole calls through the running server, Twilio's side played by signed webhooks and the
REST stand-in (which records the official client's real requests)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from sqlalchemy import select

from center.records.models import User
from tests.channels.voice.conftest import VoiceConsole
from tests.support import Agent, Server, signed_in_agent
from tests.twilio_support import (
    ACCOUNT_SID,
    CENTER_NUMBER,
    PUBLIC_URL,
    TwilioApi,
    Webhooks,
    sid,
    voice_call,
)

CALLER = "+14155550123"
ACCOUNT = f"/2010-04-01/Accounts/{ACCOUNT_SID}"


def says(text: str) -> list[str]:
    return [e.text or "" for e in ET.fromstring(text).iter("Say")]


async def conference_started(hooks: Webhooks, api: TwilioApi, name: str, *legs: str) -> str:
    """Twilio ran the caller's <Dial><Conference>: it exists, the legs are in it, and its
    status callback tells us its sid."""
    cf = api.add_conference(name)
    for leg in legs:
        api.add_participant(cf, leg)
    r = await hooks.post(
        "/twilio/voice/conference",
        {
            "AccountSid": ACCOUNT_SID,
            "ConferenceSid": cf,
            "FriendlyName": name,
            "StatusCallbackEvent": "conference-start",
            "SequenceNumber": "1",
            "Timestamp": "Wed, 02 Dec 2026 05:00:00 +0000",
        },
    )
    assert r.status == 200
    return cf


async def timeline(agent: Agent, customer_id: int) -> list[str]:
    status, body = await agent.get(f"/api/customers/{customer_id}/timeline")
    assert status == 200, body
    return [e["type"] for e in body["events"]]


async def test_ivr_wait_position_bridge_warm_transfer_completed(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    api = twilio_api
    ann = await signed_in_agent(server, "ann", capacity={"voice": 1}, available=False)
    bob = await signed_in_agent(server, "bob", capacity={"voice": 1})
    ann_voice, bob_voice = VoiceConsole(ann), VoiceConsole(bob)
    try:
        await ann_voice.connect()
        await bob_voice.connect()
        # Bob is busy elsewhere until later: away.
        assert (await bob.call("presence", {"presence": "away", "reason": "break"}))["ok"]

        call = sid("CA")
        r = await hooks.post("/twilio/voice", voice_call(call, from_=CALLER))
        assert "For sales press 1" in says(r.text)[-1]
        r = await hooks.post(
            "/twilio/voice/ivr?menu=main&tries=0",
            voice_call(call, "in-progress", from_=CALLER, Digits="1"),
        )
        assert says(r.text)[0] == "You are number 1 in the queue."
        # The hold loop comes back for the next announcement.
        r = await hooks.post("/twilio/voice/hold", voice_call(call, "in-progress", from_=CALLER))
        assert says(r.text)[0] == "You are number 1 in the queue."
        assert "press 1" in says(r.text)[-1]

        # Ann comes available: offered, accepts; the caller is bridged into the conference
        # and Ann's softphone is added to it by the REST API.
        await ann.available()
        offer = await ann.next("offer")
        iid = offer["id"]
        assert offer["channel"] == "voice"
        assert (await ann.call("accept", {"interaction_id": iid}))["ok"]
        (update,) = await api.wait_for(f"/Calls/{call}.json")
        assert update.path == f"{ACCOUNT}/Calls/{call}.json"
        conf = ET.fromstring(update.form["Twiml"]).find("Dial/Conference")
        assert conf is not None and conf.text == f"center-call-{iid}"
        assert conf.get("endConferenceOnExit") == "true"
        (added,) = await api.wait_for("/Participants.json")
        assert added.path == f"{ACCOUNT}/Conferences/center-call-{iid}/Participants.json"
        assert added.form["To"] == f"client:agent-{await user_id(server, 'ann')}"
        assert added.form["From"] == CENTER_NUMBER
        assert added.form["EndConferenceOnExit"] == "false"
        # (The leg's row is named: its status callbacks find it before the answer does.)
        assert added.form["StatusCallback"].startswith(f"{PUBLIC_URL}/twilio/voice/status?leg=")
        assert added.form_lists["StatusCallbackEvent"] == [
            "initiated",
            "ringing",
            "answered",
            "completed",
        ]
        state = await ann_voice.next("call")
        ann_leg = next(leg for leg in state["legs"] if leg["role"] == "agent")
        assert state["stage"] == "bridged"

        # A replayed hold round after the bridge puts the caller into the conference too.
        r = await hooks.post("/twilio/voice/hold", voice_call(call, "in-progress", from_=CALLER))
        assert ET.fromstring(r.text).find("Dial/Conference").text == f"center-call-{iid}"

        cf = await conference_started(hooks, api, f"center-call-{iid}", call, ann_leg["call_sid"])
        # Hold and resume: participant updates on the caller.
        ack = await ann_voice.call("hold", {"interaction_id": iid, "on": True})
        assert ack["ok"], ack
        held = api.posts(f"/Conferences/{cf}/Participants/{call}.json")
        assert [p.form["Hold"] for p in held] == ["true"]
        assert (await ann_voice.call("hold", {"interaction_id": iid, "on": False}))["ok"]

        # Warm transfer to Bob: offered to him while the caller stays with Ann.
        assert (await bob.call("presence", {"presence": "available"}))["ok"]
        ack = await ann_voice.call(
            "transfer", {"interaction_id": iid, "to_agent_id": await user_id(server, "bob")}
        )
        assert ack["ok"], ack
        offer = await bob.next("offer")
        assert offer["id"] == iid
        assert (await bob.call("accept", {"interaction_id": iid}))["ok"]
        adds = await api.wait_for("/Participants.json", 2)
        assert adds[1].form["To"] == f"client:agent-{await user_id(server, 'bob')}"
        assert len(api.posts(f"/Calls/{call}.json")) == 1  # the caller was not moved again
        # Ann has introduced the caller: she leaves the conference.
        ack = await ann_voice.call("leave", {"interaction_id": iid})
        assert ack["ok"], ack
        deleted = [r for r in api.requests if r.method == "DELETE"]
        assert [r.path for r in deleted] == [
            f"{ACCOUNT}/Conferences/{cf}/Participants/{ann_leg['call_sid']}.json"
        ]

        # The conference's recording (its callback names the conference, not a call).
        recording = {
            "AccountSid": ACCOUNT_SID,
            "ConferenceSid": cf,
            "RecordingSid": sid("RE"),
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE9",
            "RecordingStatus": "completed",
            "RecordingDuration": "181",
            "RecordingChannels": "2",
            "RecordingSource": "Conference",
        }
        assert (await hooks.post("/twilio/voice/recording?kind=call", recording)).status == 200

        # The caller hangs up: completed with its duration; Bob is told and closes.
        r = await hooks.post(
            "/twilio/voice/status",
            voice_call(call, "completed", from_=CALLER, CallDuration="184"),
        )
        assert r.status == 200
        # (Replayed: one record, one event.)
        await hooks.post(
            "/twilio/voice/status",
            voice_call(call, "completed", from_=CALLER, CallDuration="184"),
        )
        left = await bob.next("customer_left")
        assert left["interaction_id"] == iid
        ack = await bob.call(
            "close", {"interaction_id": iid, "note": "sorted", "disposition": "resolved"}
        )
        assert ack["ok"], ack

        status, body = await bob.get(f"/api/voice/calls/{iid}")
        assert status == 200 and body["call"]["duration_s"] == 184
        assert body["call"]["recording_url"] == recording["RecordingUrl"] + ".mp3"
        assert body["call"]["recording_duration_s"] == 181
        customer_id = offer["customer_id"]
        kinds = await timeline(bob, customer_id)
        story = [k for k in kinds if not k.startswith("customer.")]
        assert story == [
            "interaction.started",
            "call.status",
            "call.ivr_choice",
            "interaction.queued",
            "interaction.offered",
            "interaction.accepted",
            "call.bridged",
            "call.hold",
            "call.hold",
            "interaction.transferred",
            "interaction.offered",
            "interaction.accepted",
            "call.bridged",
            "call.agent_left",
            "call.recording",
            "call.status",
            "interaction.customer_left",
            "interaction.wrap_up",
            "interaction.closed",
        ]
    finally:
        for c in (ann_voice, bob_voice, ann, bob):
            await c.close()


async def user_id(server: Server, username: str) -> int:
    async with server.db.read() as s:
        return int(await s.scalar(select(User.id).where(User.username == username)))
