"""Nobody answers: an offer that times out goes to the next agent while the caller holds;
an agent whose phone does not pick up the conference's call gives the call back to the
queue at its place."""

from __future__ import annotations

import pytest

from center.config import Settings
from center.records.models import Interaction
from tests.channels.voice.conftest import VoiceConsole, bridged_call, told_set_away
from tests.support import Server, signed_in_agent
from tests.twilio_support import PUBLIC_URL, TwilioApi, Webhooks, sid, voice_call

CALLER = "+14155550122"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"offer_timeout_s": 1.0})


async def test_an_offer_that_times_out_goes_to_the_next_agent(
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
        first = await ann.next("offer")
        await bob.available()
        withdrawn = await ann.next("offer_withdrawn")
        assert withdrawn == {"interaction_id": first["id"], "reason": "timeout"}
        second = await bob.next("offer")
        assert second["id"] == first["id"]
        assert twilio_api.requests == []  # the caller was never moved: still holding
    finally:
        await ann.close()
        await bob.close()


async def test_an_agent_phone_that_does_not_answer_gives_the_call_back(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    ann = await signed_in_agent(server, "ann", capacity={"voice": 1})
    console = VoiceConsole(ann)
    try:
        await console.connect()
        call, iid, _cf, ann_leg = await bridged_call(hooks, twilio_api, ann, console, CALLER)
        assert (await ann.call("presence", {"presence": "away", "reason": "break"}))["ok"]
        r = await hooks.post(
            "/twilio/voice/status",
            voice_call(ann_leg, "no-answer", from_="+15005550006", to="client:agent-1"),
        )
        assert r.status == 200
        told = await console.next("call_error")
        assert told["error"] == "your phone did not answer: the call went back to the queue"
        moved = twilio_api.posts(f"/Calls/{call}.json")[-1]
        assert moved.form == {"Url": f"{PUBLIC_URL}/twilio/voice/hold", "Method": "POST"}
        async with server.db.read() as s:
            i = await s.get(Interaction, iid)
        assert i.state.value == "queued" and i.agent_id is None
    finally:
        await console.close()
        await ann.close()


async def test_the_agent_hanging_up_their_phone_ends_the_call(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    ann = await signed_in_agent(server, "ann", capacity={"voice": 1})
    console = VoiceConsole(ann)
    try:
        await console.connect()
        _call, _iid, cf, ann_leg = await bridged_call(hooks, twilio_api, ann, console, CALLER)
        r = await hooks.post(
            "/twilio/voice/status",
            voice_call(
                ann_leg, "completed", from_="+15005550006", to="client:agent-1", CallDuration="61"
            ),
        )
        assert r.status == 200
        (ended,) = await twilio_api.wait_for(f"/Conferences/{cf}.json")
        assert ended.form == {"Status": "completed"}
    finally:
        await console.close()
        await ann.close()


async def test_an_available_agent_whose_phone_does_not_answer_is_set_away(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    """Redirect on no answer: the agent is set away before the call is queued again, so
    neither it nor the next call rings the phone nobody picks up; Bob gets it."""
    ann = await signed_in_agent(server, "ann", capacity={"voice": 1})
    console = VoiceConsole(ann)
    try:
        await console.connect()
        _call, iid, _cf, ann_leg = await bridged_call(hooks, twilio_api, ann, console, CALLER)
        r = await hooks.post(
            "/twilio/voice/status",
            voice_call(ann_leg, "no-answer", from_="+15005550006", to="client:agent-1"),
        )
        assert r.status == 200
        await told_set_away(server, console, "ann")
        bob = await signed_in_agent(server, "bob", capacity={"voice": 1})
        try:
            assert (await bob.next("offer"))["id"] == iid
        finally:
            await bob.close()
        assert ann.pending("offer") == []
    finally:
        await console.close()
        await ann.close()
