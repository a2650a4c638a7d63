"""The browser softphone's access token, and where an agent takes calls."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr
from twilio.jwt import Jwt

from center.config import Settings
from center.records.enums import Role
from tests.channels.voice.conftest import VoiceConsole, bridged_call
from tests.rest import Http
from tests.support import Server, signed_in_agent
from tests.twilio_support import ACCOUNT_SID, TwilioApi, Webhooks

KEY_SID = "SK" + "ab" * 16
KEY_SECRET = "softphone-key-secret-0123456789abcdef"
APP_SID = "AP" + "cd" * 16


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "twilio_api_key_sid": KEY_SID,
            "twilio_api_key_secret": SecretStr(KEY_SECRET),
            "twilio_twiml_app_sid": APP_SID,
        }
    )


async def test_the_token_names_the_signed_in_agent_and_grants_voice(server: Server) -> None:
    http = await Http(server).login(server, "ann", Role.AGENT)
    try:
        answer = await http.call("GET", "/api/voice/token")
        assert answer.status == 200
        body = answer.json
        assert body["identity"] == f"agent-{http.user_id}"
        token = Jwt.from_jwt(body["token"], KEY_SECRET)  # verifies the signature
        payload: dict[str, Any] = token.payload
        assert payload["iss"] == KEY_SID and payload["sub"] == ACCOUNT_SID
        assert payload["grants"]["identity"] == f"agent-{http.user_id}"
        assert payload["grants"]["voice"] == {
            "incoming": {"allow": True},
            "outgoing": {"application_sid": APP_SID},
        }
        assert payload["exp"] - payload["nbf"] == 3600
        anonymous = Http(server)
        assert (await anonymous.call("GET", "/api/voice/token")).status == 401
        await anonymous.close()
    finally:
        await http.close()


async def test_an_agent_with_a_phone_is_called_there(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    ann = await signed_in_agent(server, "ann", capacity={"voice": 1})
    console = VoiceConsole(ann)
    try:
        http = Http(server)
        await http.call(
            "POST", "/api/login", {"username": "ann", "password": "correct-horse-battery"}
        )
        bad = await http.call("PUT", "/api/voice/device", {"phone": "call me maybe"})
        assert bad.status == 400
        ok = await http.call("PUT", "/api/voice/device", {"phone": "(415) 555-0100"})
        assert ok.json == {"phone": "+14155550100", "softphone": False, "signalling": None}
        assert (await http.call("GET", "/api/voice/device")).json == ok.json
        await http.close()
        await console.connect()
        await bridged_call(hooks, twilio_api, ann, console, "+14155550166")
        (added,) = twilio_api.posts("/Participants.json")
        assert added.form["To"] == "+14155550100"
    finally:
        await console.close()
        await ann.close()
