"""The official async client, routed to the REST stand-in: the requests it really makes."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException

from center.channels.twilio import TwilioRest, TwilioSettings
from center.channels.twilio.client import RoutedHttpClient
from tests.twilio_support import ACCOUNT_SID, AUTH_TOKEN, CENTER_NUMBER, TwilioApi

BASE = f"/2010-04-01/Accounts/{ACCOUNT_SID}"


def twilio_settings(api_url: str, token: str = AUTH_TOKEN) -> TwilioSettings:
    return TwilioSettings(
        account_sid=ACCOUNT_SID,
        auth_token=token,
        number=CENTER_NUMBER,
        public_url="https://center.example.test",
        api_url=api_url,
        timeout_s=3.0,
    )


async def started(api_url: str, token: str = AUTH_TOKEN):
    rest = TwilioRest(twilio_settings(api_url, token))
    life = rest.lifespan(None)  # type: ignore[arg-type]
    await life.__anext__()
    return rest, life


async def stop(life) -> None:
    with pytest.raises(StopAsyncIteration):
        await life.__anext__()


async def test_default_base_leaves_twilio_urls_alone() -> None:
    http = RoutedHttpClient("https://api.twilio.com", timeout_s=1)
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json"
    assert http.route(url) == url
    await http.close()


async def test_custom_base_takes_every_twilio_host_keeps_path_and_query() -> None:
    http = RoutedHttpClient("http://127.0.0.1:9999/", timeout_s=1)
    assert (
        http.route("https://api.twilio.com/2010-04-01/Accounts/AC1/Calls.json?PageSize=5")
        == "http://127.0.0.1:9999/2010-04-01/Accounts/AC1/Calls.json?PageSize=5"
    )
    assert http.route("https://messaging.us1.twilio.com/v1/Services") == (
        "http://127.0.0.1:9999/v1/Services"
    )
    # Not Twilio's: untouched (the client never makes such a request, but never rewrite it).
    assert http.route("https://example.com/x") == "https://example.com/x"
    await http.close()


async def test_message_create_goes_to_the_stand_in_with_twilios_parameters(
    twilio_api: TwilioApi,
) -> None:
    rest, life = await started(twilio_api.url)
    try:
        message = await rest.account.messages.create_async(
            to="+15551234567",
            from_=CENTER_NUMBER,
            body="Hello there",
            status_callback="https://center.example.test/twilio/sms/status",
        )
    finally:
        await stop(life)
    assert message.sid.startswith("SM") and message.status == "queued"
    assert message.to == "+15551234567"
    [request] = twilio_api.requests
    assert (request.method, request.path) == ("POST", f"{BASE}/Messages.json")
    assert request.form == {
        "To": "+15551234567",
        "From": CENTER_NUMBER,
        "Body": "Hello there",
        "StatusCallback": "https://center.example.test/twilio/sms/status",
    }


async def test_calls_and_conference_participants(twilio_api: TwilioApi) -> None:
    conference = twilio_api.add_conference("ix-42")
    rest, life = await started(twilio_api.url)
    try:
        call = await rest.account.calls.create_async(
            to="+15551234567", from_=CENTER_NUMBER, url="https://center.example.test/twilio/x"
        )
        [found] = await rest.account.conferences.list_async(friendly_name="ix-42")
        participant = await rest.account.conferences(found.sid).participants.create_async(
            from_=CENTER_NUMBER, to="client:agent-7", label="agent", early_media=True
        )
        held = (
            await rest.account.conferences(found.sid).participants("agent").update_async(hold=True)
        )
    finally:
        await stop(life)
    assert call.sid.startswith("CA") and found.sid == conference
    assert participant.call_sid.startswith("CA") and held.hold is True
    paths = [(r.method, r.path) for r in twilio_api.requests]
    assert paths == [
        ("POST", f"{BASE}/Calls.json"),
        ("GET", f"{BASE}/Conferences.json"),
        ("POST", f"{BASE}/Conferences/{conference}/Participants.json"),
        ("POST", f"{BASE}/Conferences/{conference}/Participants/agent.json"),
    ]
    assert twilio_api.requests[1].query["FriendlyName"] == "ix-42"
    assert twilio_api.requests[2].form["To"] == "client:agent-7"
    assert twilio_api.requests[3].form == {"Hold": "true"}


async def test_rest_errors_arrive_as_twilio_exceptions(twilio_api: TwilioApi) -> None:
    twilio_api.fail_next("Messages", 400, 21211, "The 'To' number is not a valid phone number.")
    rest, life = await started(twilio_api.url)
    try:
        with pytest.raises(TwilioRestException) as caught:
            await rest.account.messages.create_async(to="+1", from_=CENTER_NUMBER, body="x")
    finally:
        await stop(life)
    assert (caught.value.status, caught.value.code) == (400, 21211)


async def test_wrong_credentials_are_refused_like_twilio(twilio_api: TwilioApi) -> None:
    rest, life = await started(twilio_api.url, token="not-the-token")
    try:
        with pytest.raises(TwilioRestException) as caught:
            await rest.account.messages.create_async(to="+15551234567", from_="+1", body="x")
    finally:
        await stop(life)
    assert (caught.value.status, caught.value.code) == (401, 20003)
