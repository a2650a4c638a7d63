"""Bad input at the voice boundaries: socket payloads on /voice and the webhooks' query
and form fields get a clear refusal, never a crash; consoles need a login."""

from __future__ import annotations

from typing import Any

import pytest
import socketio

from tests.channels.voice.conftest import VoiceConsole
from tests.support import Server, signed_in_agent
from tests.twilio_support import Webhooks, sid, voice_call

CALLER = "+14155550144"


@pytest.mark.parametrize(
    ("event", "payload", "code"),
    [
        ("hold", {"interaction_id": 2**70, "on": True}, "malformed"),
        ("hold", {"interaction_id": 1, "on": "yes"}, "malformed"),
        ("hold", [1, 2], "malformed"),
        ("monitor", {"interaction_id": 1, "mode": "shout"}, "malformed"),
        ("transfer", {"interaction_id": 1}, "malformed"),
        ("transfer", {"interaction_id": 1, "to_queue": "x\u0000y"}, "malformed"),
        ("call", {"interaction_id": 999}, "not_found"),
        ("hangup", {"interaction_id": 999}, "not_found"),
    ],
)
async def test_bad_payloads_are_refused(
    server: Server, event: str, payload: Any, code: str
) -> None:
    ann = await signed_in_agent(server, "ann", capacity={"voice": 1}, available=False)
    console = VoiceConsole(ann)
    try:
        await console.connect()
        ack = await console.call(event, payload)
        assert ack["ok"] is False and ack["event"] == event
        assert ack["code"] == code or (code == "malformed" and ack["code"] != "unavailable"), ack
    finally:
        await console.close()
        await ann.close()


async def test_the_voice_namespace_needs_a_login(server: Server) -> None:
    client = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(server.url, namespaces=["/voice"], transports=["websocket"])
    await client.disconnect()


@pytest.mark.parametrize(
    ("path", "extra", "status"),
    [
        ("/twilio/voice/ivr?menu=../../etc&tries=0", {}, 400),
        ("/twilio/voice/ivr?menu=main&tries=99", {}, 400),
        ("/twilio/voice/ivr?menu=main&tries=0", {"Digits": "1" * 100}, 400),
        ("/twilio/voice/ivr?menu=main&tries=0", {"Confidence": "NaN"}, 400),
        ("/twilio/voice/callback?call=0", {}, 400),
        ("/twilio/voice/status", {"CallDuration": "1e999"}, 400),
        ("/twilio/voice", {"CallSid": "CA" + "z" * 32}, 400),
    ],
)
async def test_bad_webhook_fields_are_400(
    server: Server, hooks: Webhooks, path: str, extra: dict[str, str], status: int
) -> None:
    r = await hooks.post(path, {**voice_call(sid("CA"), "in-progress", from_=CALLER), **extra})
    assert r.status == status, r.text
