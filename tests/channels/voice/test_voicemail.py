"""Overflow and voicemail: a full queue sends the caller to voicemail; the message becomes
a ticket with the recording, the call's interaction closed as voicemail."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from center.records.models import Message, Ticket
from tests.channels.voice.conftest import IVR
from tests.channels.voice.test_waiting import (
    CALLER,
    event_types,
    interaction_of,
    queued_call,
    root,
    says,
)
from tests.support import Server
from tests.twilio_support import ACCOUNT_SID, Webhooks, sid, voice_call


@pytest.fixture
def ivr_text() -> str:
    return IVR + "overflow:\n  max_waiting: 1\n"


async def test_a_full_queue_goes_to_voicemail_which_becomes_a_ticket(
    server: Server, hooks: Webhooks
) -> None:
    await queued_call(hooks, sid("CA"), "+14155550111")
    call = sid("CA")
    await hooks.post("/twilio/voice", voice_call(call, from_=CALLER))
    r = await hooks.post(
        "/twilio/voice/ivr?menu=main&tries=0",
        voice_call(call, "in-progress", from_=CALLER, Digits="1"),
    )
    assert says(r.text)[0] == "All our agents are busy. Please leave a message after the tone."
    record = root(r.text).find("Record")
    assert record.get("recordingStatusCallback") == "/twilio/voice/recording?kind=voicemail"
    r = await hooks.post("/twilio/voice/voicemail", voice_call(call, "in-progress", from_=CALLER))
    assert root(r.text).find("Hangup") is not None
    await hooks.post(
        "/twilio/voice/status", voice_call(call, "completed", from_=CALLER, CallDuration="25")
    )
    rec = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call,
        "RecordingSid": sid("RE"),
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE1",
        "RecordingStatus": "completed",
        "RecordingDuration": "12",
        "RecordingChannels": "1",
        "RecordingSource": "RecordVerb",
        "RecordingStartTime": "Wed, 02 Dec 2026 05:00:00 +0000",
    }
    assert (await hooks.post("/twilio/voice/recording?kind=voicemail", rec)).status == 200
    assert (await hooks.post("/twilio/voice/recording?kind=voicemail", rec)).status == 200  # replay
    i = await interaction_of(server, call)
    async with server.db.read() as s:
        tickets = (await s.scalars(select(Ticket))).all()
        msgs = (await s.scalars(select(Message).where(Message.interaction_id == i.id))).all()
    assert i.state.value == "closed" and i.disposition == "voicemail"
    assert (
        len(tickets) == 1
        and tickets[0].customer_id == i.customer_id
        and i.ticket_id == tickets[0].id
    )
    assert tickets[0].subject == f"Voicemail from {CALLER}"
    (m,) = msgs
    assert m.meta["voicemail"]["url"] == rec["RecordingUrl"] + ".mp3"
    assert m.meta["voicemail"]["duration_s"] == 12
    types = await event_types(server, i.id)
    assert types.count("call.voicemail") == 1 and "call.overflow" in types
    assert types[-1] == "interaction.closed" and "interaction.abandoned" not in types


@pytest.mark.parametrize("order", [["action"], ["action", "callback"], ["callback", "action"]])
async def test_the_voicemail_is_made_from_whichever_request_comes_first(
    server: Server, hooks: Webhooks, order: list[str]
) -> None:
    """<Record>'s action request names the recording too: a lost recording callback loses
    no voicemail, and both make one ticket and one set of events."""
    call, recording = sid("CA"), sid("RE")
    url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording}"
    await hooks.post("/twilio/voice", voice_call(call, from_=CALLER))
    r = await hooks.post(
        "/twilio/voice/ivr?menu=main&tries=0",
        voice_call(call, "in-progress", from_=CALLER, Digits="3"),
    )
    assert root(r.text).find("Record") is not None
    action = voice_call(
        call,
        "in-progress",
        from_=CALLER,
        RecordingUrl=url,
        RecordingSid=recording,
        RecordingDuration="9",
        Digits="hangup",
    )
    callback = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call,
        "RecordingSid": recording,
        "RecordingUrl": url,
        "RecordingStatus": "completed",
        "RecordingDuration": "9",
        "RecordingChannels": "1",
        "RecordingSource": "RecordVerb",
    }
    for which in order:
        if which == "action":
            r = await hooks.post("/twilio/voice/voicemail", action)
            assert r.status == 200 and root(r.text).find("Hangup") is not None
        else:
            r = await hooks.post("/twilio/voice/recording?kind=voicemail", callback)
            assert r.status == 200
    i = await interaction_of(server, call)
    async with server.db.read() as s:
        tickets = (await s.scalars(select(Ticket))).all()
        msgs = (await s.scalars(select(Message).where(Message.interaction_id == i.id))).all()
    assert i.state.value == "closed" and i.disposition == "voicemail"
    (ticket,) = tickets
    assert ticket.subject == f"Voicemail from {CALLER}" and i.ticket_id == ticket.id
    (m,) = msgs
    assert m.meta["voicemail"] == {"url": url + ".mp3", "recording_sid": recording, "duration_s": 9}
    types = await event_types(server, i.id)
    assert types.count("call.voicemail") == 1 and types.count("interaction.closed") == 1
