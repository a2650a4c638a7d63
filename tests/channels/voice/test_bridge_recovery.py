"""An accepted call reaches its agent whatever fails in between: Twilio answering 500 (with
or without having made the leg), the process stopping right after the accept; and a leg's
status callback that arrives before Twilio's answer to the request is not lost."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest
from sqlalchemy import select

from center.channels.voice.web import BRIDGE
from center.config import Settings
from center.records.db import Database
from center.records.models import Event, Interaction, VoiceCall, VoiceLeg
from tests.channels.voice.conftest import VoiceConsole, told_set_away
from tests.channels.voice.test_waiting import event_types, queued_call
from tests.support import Server, serve_app, signed_in_agent
from tests.twilio_support import CENTER_NUMBER, PUBLIC_URL, TwilioApi, Webhooks, sid, voice_call

CALLER = "+14155550177"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # (An agent whose console closes with the first process stays theirs meanwhile.)
    return settings.model_copy(update={"agent_offline_grace_s": 60.0})


async def agent_legs(db: Database, interaction_id: int) -> list[VoiceLeg]:
    async with db.read() as s:
        call = await s.scalar(select(VoiceCall).where(VoiceCall.interaction_id == interaction_id))
        assert call is not None
        rows = await s.scalars(
            select(VoiceLeg).where(VoiceLeg.voice_call_id == call.id, VoiceLeg.role == "agent")
        )
        return list(rows)


async def accepted(hooks: Webhooks, agent: Any, call: str) -> int:
    await queued_call(hooks, call, CALLER)
    offer = await agent.next("offer")
    assert (await agent.call("accept", {"interaction_id": offer["id"]}))["ok"]
    return int(offer["id"])


@pytest.mark.parametrize("made", [False, True], ids=["not-made", "made-then-500"])
async def test_a_dial_twilio_fails_is_retried_and_the_agent_dialled_once(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi, made: bool
) -> None:
    api = twilio_api
    # Twilio answers the agent's leg with a 500 (``made``: after creating it anyway).
    api.fail_next(
        "/Participants.json", 500, 20500, "Internal Server Error", method="POST", after=made
    )
    ann = await signed_in_agent(server, "ann", capacity={"voice": 1})
    console = VoiceConsole(ann)
    try:
        await console.connect()
        call = sid("CA")
        iid = await accepted(hooks, ann, call)
        told = await console.next("call_error")
        assert told["action"] == "add the agent" and told["status"] == 500
        assert told["error"].endswith("(trying again)")
        state = await console.next("call", timeout=10)  # the retry, a second later
        assert state["stage"] == "bridged"
        (leg,) = [x for x in state["legs"] if x["role"] == "agent"]
        (dialled,) = api.labelled("agent-")  # one leg on Twilio's side
        assert leg["call_sid"] == dialled["call_sid"]
        creates = api.posts("/Participants.json")
        assert len(creates) == (1 if made else 2)
        assert len(api.posts(f"/Calls/{call}.json")) == 1  # the caller moved once
        (row,) = await agent_legs(server.db, iid)
        assert row.call_sid == dialled["call_sid"] and row.attempts == 2
        # A sweep now (any process's) finds nothing owed: no third request.
        assert await server.app[BRIDGE].sweep() == 0
        assert len(api.posts("/Participants.json")) == len(creates)
        types = await event_types(server, iid)
        assert types.count("call.bridged") == 1 and types.count("call.rest_error") == 1
    finally:
        await console.close()
        await ann.close()


async def test_a_bridge_a_stopped_process_owed_is_done_by_the_next(
    settings: Settings, db: Database, twilio_api: TwilioApi
) -> None:
    api, call = twilio_api, sid("CA")
    async with serve_app(settings, db) as first:
        hooks = Webhooks(first.url)
        ann = await signed_in_agent(first, "ann", capacity={"voice": 1})
        try:
            # The process stops right after the accept commits: it never bridges.
            first.app[BRIDGE].assigned = lambda _i: None  # type: ignore[method-assign]
            iid = await accepted(hooks, ann, call)
        finally:
            await ann.close()
            await hooks.close()
        assert api.requests == [] and await agent_legs(db, iid) == []
    async with serve_app(settings, db) as second:
        (created,) = await api.wait_for("/Participants.json", timeout=10)
        assert created.path.endswith(f"/Conferences/center-call-{iid}/Participants.json")
        async with asyncio.timeout(10):  # (the answer recorded: read like the console would)
            while True:
                if any(x.call_sid for x in await agent_legs(db, iid)):
                    break
                await asyncio.sleep(0.05)
        await second.app[BRIDGE].sweep()  # owed nothing now: no second dial
        assert len(api.posts("/Participants.json")) == 1
        assert len(api.posts(f"/Calls/{call}.json")) == 1
        (leg,) = await agent_legs(db, iid)
        (dialled,) = api.labelled("agent-")
        assert leg.call_sid == dialled["call_sid"]


async def test_a_status_callback_before_the_answer_is_kept(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    api = twilio_api

    async def ringing_first(form: Mapping[str, Any], created: dict[str, Any]) -> None:
        """Twilio posts the new leg's status callback before answering the request."""
        url = str(form["StatusCallback"])
        assert url.startswith(PUBLIC_URL)
        params = voice_call(
            created["call_sid"],
            "ringing",
            from_=CENTER_NUMBER,
            to=str(form["To"]),
            direction="outbound-api",
            CallbackSource="call-progress-events",
            SequenceNumber="1",
            Timestamp="Wed, 02 Dec 2026 05:00:00 +0000",
        )
        for _ in range(2):  # (and again: a replay is one event)
            r = await hooks.post(url.removeprefix(PUBLIC_URL), params)
            assert r.status == 200

    api.before_answer = ringing_first
    ann = await signed_in_agent(server, "ann", capacity={"voice": 1})
    console = VoiceConsole(ann)
    try:
        await console.connect()
        iid = await accepted(hooks, ann, sid("CA"))
        state = await console.next("call", timeout=10)
        while not any(x["role"] == "agent" and x["call_sid"] for x in state["legs"]):
            state = await console.next("call", timeout=10)
        (leg,) = [x for x in state["legs"] if x["role"] == "agent"]
        (dialled,) = api.labelled("agent-")
        assert leg["call_sid"] == dialled["call_sid"]
        await server.app[BRIDGE].settle()
        (row,) = await agent_legs(server.db, iid)
        assert row.status == "ringing"  # not overwritten by the answer's "queued"
        async with server.db.read() as s:
            statuses = [
                e.data
                for e in await s.scalars(
                    select(Event).where(Event.interaction_id == iid, Event.type == "call.status")
                )
            ]
        assert [d["status"] for d in statuses if d["role"] == "agent"] == ["ringing"]
        types = await event_types(server, iid)
        assert types.count("call.bridged") == 1
    finally:
        await console.close()
        await ann.close()


async def test_a_dial_twilio_refuses_gives_the_call_back_to_the_queue(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    """A 4xx for the agent's leg (their number is not one Twilio can call): never retried;
    the caller back on the hold loop and the call back in its queue, as when the agent's
    phone does not answer, instead of holding for a leg that will never ring."""
    api = twilio_api
    api.fail_next(
        "/Participants.json", 400, 21217, "Phone number is not a valid phone number.",
        method="POST",
    )  # fmt: skip
    ann = await signed_in_agent(server, "ann", capacity={"voice": 1})
    console = VoiceConsole(ann)
    try:
        await console.connect()
        call = sid("CA")
        iid = await accepted(hooks, ann, call)
        refused = await console.next("call_error")
        assert refused["action"] == "add the agent" and refused["status"] == 400
        assert not refused["error"].endswith("(trying again)")
        # (Away before the call was queued again: it never rang Ann's number twice.)
        await told_set_away(server, console, "ann", unreachable=True)
        moved = api.posts(f"/Calls/{call}.json")[-1]
        assert moved.form == {"Url": f"{PUBLIC_URL}/twilio/voice/hold", "Method": "POST"}
        async with server.db.read() as s:
            i = await s.get(Interaction, iid)
        assert i is not None and i.state.value == "queued" and i.agent_id is None
        bob = await signed_in_agent(server, "bob", capacity={"voice": 1})
        try:
            assert (await bob.next("offer"))["id"] == iid  # routed again, to the next agent
        finally:
            await bob.close()
        assert len(api.posts("/Participants.json")) == 1
        assert ann.pending("offer") == []
        # Back (her number fixed), Ann is offered the next call.
        await ann.available()
        await queued_call(hooks, sid("CA"), "+14155550178")
        assert (await ann.next("offer"))["id"] > iid
        (leg,) = await agent_legs(server.db, iid)
        assert leg.status == "failed" and leg.call_sid is None
        types = await event_types(server, iid)
        assert types.count("call.rest_error") == 1 and "interaction.transferred" in types
    finally:
        await console.close()
        await ann.close()
