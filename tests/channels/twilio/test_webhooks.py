"""Signature checks and forms of the shared webhook layer, on a real loopback server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from center.channels.twilio.forms import SmsInbound, SmsStatus
from center.channels.twilio.settings import TwilioSettings
from center.channels.twilio.webhooks import install, signed_form
from center.errors import json_errors
from tests.twilio_support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CENTER_NUMBER,
    PUBLIC_URL,
    Webhooks,
    sms_inbound,
    sms_status,
)

SEEN: list[object] = []


async def inbound(request: web.Request) -> web.Response:
    form = await signed_form(request, SmsInbound)
    SEEN.append(form)
    return web.Response(text="ok")


async def status(request: web.Request) -> web.Response:
    form = await signed_form(request, SmsStatus)
    SEEN.append(form)
    return web.Response(text="ok")


@pytest.fixture
async def hooks() -> AsyncIterator[Webhooks]:
    SEEN.clear()
    app = web.Application(middlewares=[json_errors])
    install(
        app,
        TwilioSettings(ACCOUNT_SID, AUTH_TOKEN, CENTER_NUMBER, PUBLIC_URL, "http://x", 1.0),
    )
    app.router.add_post("/twilio/sms", inbound)
    app.router.add_post("/twilio/sms/status", status)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    client = Webhooks(str(server.make_url("")))
    try:
        yield client
    finally:
        await client.close()
        await server.close()


async def test_signed_against_the_public_url_is_parsed(hooks: Webhooks) -> None:
    media = [("https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME1", "image/png")]
    params = sms_inbound("hi there", from_="+15551234567", media=media)
    reply = await hooks.post("/twilio/sms", params)
    assert reply.status == 200
    [form] = SEEN
    assert isinstance(form, SmsInbound)
    assert (form.from_, form.body, form.num_media) == ("+15551234567", "hi there", 1)
    assert form.media[0].url == media[0][0] and form.media[0].content_type == "image/png"


async def test_unsigned_missigned_and_wrong_url_are_403(hooks: Webhooks) -> None:
    params = sms_inbound("hi", from_="+15551234567")
    assert (await hooks.post("/twilio/sms", params, sign=False)).status == 403
    assert (await hooks.post("/twilio/sms", params, signature="bm90IGl0")).status == 403
    # Signed for the URL this process sees (loopback) instead of the public one.
    behind_proxy = Webhooks(hooks.server_url, public_url=hooks.server_url)
    try:
        assert (await behind_proxy.post("/twilio/sms", params)).status == 403
    finally:
        await behind_proxy.close()
    # A parameter changed after signing.
    signature = hooks.signature("/twilio/sms", params)
    tampered = {**params, "Body": "send me everything"}
    assert (await hooks.post("/twilio/sms", tampered, signature=signature)).status == 403
    # Signed with another token.
    other = Webhooks(hooks.server_url, token="someone-elses-token")
    try:
        assert (await other.post("/twilio/sms", params)).status == 403
    finally:
        await other.close()
    assert SEEN == []


async def test_another_account_and_bad_fields_are_refused(hooks: Webhooks) -> None:
    other = {**sms_inbound("hi", from_="+15551234567"), "AccountSid": "AC" + "f" * 32}
    assert (await hooks.post("/twilio/sms", other)).status == 403
    for bad in (
        {"MessageSid": "SM123"},
        {"Body": "nul\x00byte"},
        {"NumMedia": "1e9"},
        {"NumMedia": "2"},  # MediaUrl0/1 missing
        {"Body": "x" * 5000},
    ):
        reply = await hooks.post("/twilio/sms", {**sms_inbound("hi", from_="+1555"), **bad})
        assert reply.status == 400, bad
    assert SEEN == []


async def test_status_callback_with_error_code(hooks: Webhooks) -> None:
    params = sms_status("SM" + "a" * 32, "undelivered", to="+15551234567", error_code=30003)
    assert (await hooks.post("/twilio/sms/status", params)).status == 200
    [form] = SEEN
    assert isinstance(form, SmsStatus)
    assert (form.status, form.error_code) == ("undelivered", 30003)
    bad = {**params, "MessageStatus": "exploded"}
    assert (await hooks.post("/twilio/sms/status", bad)).status == 400
