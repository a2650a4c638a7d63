"""Voice's HTTP side: Twilio's webhooks under ``/twilio/voice`` and the console's
``/api/voice`` (softphone token, where the agent takes calls, a call's state).

Every webhook handler validates first (``signed_form``: 403 unsigned, nothing read or
stored), then runs one short step of ``VoiceCalls``/``Lifecycle`` and answers TwiML.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

from center.agent_ui.auth import require_user
from center.appkeys import SETTINGS
from center.channels.twilio import TWILIO_SETTINGS, signed_form
from center.channels.twilio.forms import (
    CallStatusCallback,
    ConferenceEvent,
    Gather,
    Sid,
    TwilioForm,
    Url,
    VoiceCall,
)
from center.channels.voice import store, twiml
from center.channels.voice.bridge import Bridge, VoiceError
from center.channels.voice.calls import VoiceCalls
from center.channels.voice.lifecycle import Lifecycle
from center.config import Settings
from center.httpjson import body_as, error, int_param, query_as
from center.interactions import rows
from center.payloads import Payload
from center.records import customers
from center.records.enums import IdentityKind

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
CALLS = web.AppKey("voice_calls", VoiceCalls)
LIFECYCLE = web.AppKey("voice_lifecycle", Lifecycle)
BRIDGE = web.AppKey("voice_bridge", Bridge)
XML = "text/xml"


def _twiml(body: str) -> web.Response:
    return web.Response(text=body, content_type=XML)


class MenuQuery(Payload):
    menu: Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{1,40}$")] = "main"
    tries: Annotated[int, Field(ge=0, le=10)] = 0
    option: Annotated[int, Field(ge=-1, le=100)] = -1


class RecordingQuery(Payload):
    kind: Annotated[str, Field(pattern=r"^(voicemail|call)$")] = "call"


class CallQuery(Payload):
    call: Annotated[int, Field(ge=1, le=2**63 - 1)]


class StatusQuery(Payload):
    # The leg's row, named in the status callback URL of a leg we dial (signed with it).
    leg: Annotated[int, Field(ge=1, le=2**63 - 1)] | None = None


class RecordingForm(TwilioForm):
    """A recording callback: of a call (<Record>) or of its conference (no CallSid)."""

    call_sid: Sid | None = Field(alias="CallSid", default=None)
    conference_sid: Sid | None = Field(alias="ConferenceSid", default=None)
    recording_sid: Sid = Field(alias="RecordingSid")
    recording_url: Url = Field(alias="RecordingUrl")
    recording_status: Annotated[str, Field(max_length=32)] = Field(
        alias="RecordingStatus", default="completed"
    )
    recording_duration: int | None = Field(alias="RecordingDuration", default=None, ge=-1, le=10**7)


# -- Twilio's webhooks --------------------------------------------------------------------


@routes.post("/twilio/voice")
async def incoming(request: web.Request) -> web.Response:
    f = await signed_form(request, VoiceCall)
    calls = request.app[CALLS]
    return _twiml(await calls.incoming(f.call_sid, f.from_, f.to, f.call_status.value))


@routes.post("/twilio/voice/ivr")
async def ivr(request: web.Request) -> web.Response:
    f = await signed_form(request, Gather)
    q = query_as(request, MenuQuery)
    body = await request.app[CALLS].gathered(f.call_sid, q.menu, q.tries, f.digits, f.speech_result)
    return _twiml(body)


@routes.post("/twilio/voice/ivr/kb")
async def ivr_kb(request: web.Request) -> web.Response:
    f = await signed_form(request, Gather)
    q = query_as(request, MenuQuery)
    return _twiml(await request.app[CALLS].kb_asked(f.call_sid, q.menu, q.option, f.speech_result))


@routes.post("/twilio/voice/ivr/agent")
async def ivr_agent(request: web.Request) -> web.Response:
    f = await signed_form(request, Gather)
    q = query_as(request, MenuQuery)
    return _twiml(await request.app[CALLS].kb_agent(f.call_sid, q.menu, q.option, f.digits))


@routes.post("/twilio/voice/hold")
async def hold(request: web.Request) -> web.Response:
    f = await signed_form(request, VoiceCall)
    return _twiml(await request.app[CALLS].hold(f.call_sid))


@routes.post("/twilio/voice/hold/key")
async def hold_key(request: web.Request) -> web.Response:
    f = await signed_form(request, Gather)
    return _twiml(await request.app[CALLS].hold_key(f.call_sid, f.from_, f.digits))


class VoicemailDone(VoiceCall):
    """<Record>'s action request: the call's parameters and the recording's."""

    recording_sid: Sid | None = Field(alias="RecordingSid", default=None)
    recording_url: Url | None = Field(alias="RecordingUrl", default=None)
    recording_duration: int | None = Field(alias="RecordingDuration", default=None, ge=-1, le=10**7)


@routes.post("/twilio/voice/voicemail")
async def voicemail_done(request: web.Request) -> web.Response:
    """<Record>'s action: the message is recorded. It names the recording, so the
    voicemail is made here if its recording callback has not made it (or never comes)."""
    f = await signed_form(request, VoicemailDone)
    if f.recording_sid and f.recording_url:
        await request.app[LIFECYCLE].voicemail(
            f.call_sid, f.recording_sid, f.recording_url, f.recording_duration
        )
    cfg = request.app[CALLS].ivr
    async with request.app[CALLS].db.read_step() as c:
        found = await request.app[CALLS].find(c, f.call_sid)
    lang = found.call.language if found is not None else cfg.languages[0]
    return _twiml(twiml.say_and_hang_up(cfg, lang, cfg.phrase("voicemail_thanks", lang)))


@routes.post("/twilio/voice/status")
async def status(request: web.Request) -> web.Response:
    f = await signed_form(request, CallStatusCallback)
    q = query_as(request, StatusQuery)
    await request.app[LIFECYCLE].status(
        f.call_sid, f.call_status.value, f.call_duration, leg_id=q.leg, to=f.to
    )
    return _twiml(twiml.empty())


@routes.post("/twilio/voice/recording")
async def recording(request: web.Request) -> web.Response:
    f = await signed_form(request, RecordingForm)
    q = query_as(request, RecordingQuery)
    await request.app[LIFECYCLE].recording(
        f.call_sid,
        f.conference_sid,
        f.recording_sid,
        f.recording_url,
        f.recording_status,
        f.recording_duration,
        voicemail=q.kind == "voicemail",
    )
    return _twiml(twiml.empty())


@routes.post("/twilio/voice/conference")
async def conference(request: web.Request) -> web.Response:
    f = await signed_form(request, ConferenceEvent)
    await request.app[LIFECYCLE].conference(f.conference_sid, f.friendly_name, f.event)
    return _twiml(twiml.empty())


@routes.post("/twilio/voice/after")
async def after_dial(request: web.Request) -> web.Response:
    f = await signed_form(request, VoiceCall)
    return _twiml(await request.app[LIFECYCLE].after_dial(f.call_sid))


@routes.post("/twilio/voice/csat")
async def csat(request: web.Request) -> web.Response:
    f = await signed_form(request, Gather)
    return _twiml(await request.app[LIFECYCLE].csat(f.call_sid, f.digits))


@routes.post("/twilio/voice/callback")
async def callback_answered(request: web.Request) -> web.Response:
    await signed_form(request, VoiceCall)
    q = query_as(request, CallQuery)
    return _twiml(await request.app[LIFECYCLE].callback_answered(q.call))


# -- the console's side -------------------------------------------------------------------


@routes.get("/api/voice/token")
async def token(request: web.Request) -> web.Response:
    """An access token for the signed-in agent's browser softphone (identity agent-<id>)."""
    user = await require_user(request)
    settings = request.app[SETTINGS]
    tw = request.app[TWILIO_SETTINGS]
    secret = settings.twilio_api_key_secret.get_secret_value()
    if not (tw.account_sid and settings.twilio_api_key_sid and secret):
        # (Not a 5xx: nothing is wrong with the server; the admin has not set it up.)
        raise error(
            web.HTTPConflict,
            "the browser softphone is not configured (CENTER_TWILIO_API_KEY_SID/_SECRET)",
        )
    ttl = int(settings.voice_token_ttl_s)
    jwt = AccessToken(
        tw.account_sid, settings.twilio_api_key_sid, secret, identity=f"agent-{user.id}", ttl=ttl
    )
    jwt.add_grant(
        VoiceGrant(
            outgoing_application_sid=settings.twilio_twiml_app_sid or None, incoming_allow=True
        )
    )
    return web.json_response(
        {"token": jwt.to_jwt(), "identity": f"agent-{user.id}", "ttl_s": ttl},
        headers={"Cache-Control": "no-store"},
    )


class DeviceBody(Payload):
    # None: the browser softphone; a number: calls ring that phone.
    phone: Annotated[str, Field(min_length=3, max_length=40)] | None


def _device(settings: Settings, phone: str | None) -> dict[str, Any]:
    # signalling: the SDK's chunderw when set (CENTER_VOICE_SIGNALLING_HOST), else Twilio's.
    return {
        "phone": phone,
        "softphone": phone is None,
        "signalling": settings.voice_signalling_host or None,
    }


@routes.get("/api/voice/device")
async def get_device(request: web.Request) -> web.Response:
    """Where the signed-in agent takes calls: the console starts its softphone on None."""
    user = await require_user(request)
    async with request.app[CALLS].db.read_step() as c:
        phone = await store.agent_phone(c, user.id)
    return web.json_response(_device(request.app[SETTINGS], phone))


@routes.put("/api/voice/device")
async def set_device(request: web.Request) -> web.Response:
    user = await require_user(request)
    body = await body_as(request, DeviceBody, max_bytes=1000)
    phone = None
    if body.phone is not None:
        try:
            phone = customers.normalise(IdentityKind.PHONE, body.phone)
        except customers.InvalidIdentity:
            raise error(web.HTTPBadRequest, "not a phone number", field="phone") from None
    async with request.app[CALLS].db.step() as c:
        await store.set_agent_phone(c, user.id, phone)
    return web.json_response(_device(request.app[SETTINGS], phone))


@routes.get("/api/voice/calls/{interaction_id}")
async def call_state(request: web.Request) -> web.Response:
    """A call's voice side (stage, legs, recording, CSAT): its agent's, or any for
    supervisors and admins."""
    user = await require_user(request)
    iid = int_param(request, "interaction_id")
    async with request.app[CALLS].db.read_step() as c:
        try:
            i = await rows.interaction(c, iid)
        except rows.Missing:
            raise error(web.HTTPNotFound, "no such call", id=iid) from None
    if not user.role.sees_all and i.agent_id != user.id:
        raise error(web.HTTPForbidden, "this call is not yours")
    try:
        state: dict[str, Any] = await request.app[BRIDGE].state(iid)
    except VoiceError:
        raise error(web.HTTPNotFound, "no such call", id=iid) from None
    return web.json_response({"call": state})
