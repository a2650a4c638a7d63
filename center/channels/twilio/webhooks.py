"""Signed webhooks: the official ``RequestValidator`` against the public URL, then a form.

Twilio signs the URL it was configured with (``CENTER_PUBLIC_URL`` + path + query), so the
signature is checked against that, never against the URL this process sees behind a proxy
(another scheme, host or port). Order matters: signature first (403, nothing read further,
nothing stored), then the form model (400 with the field), then the handler.
"""

from __future__ import annotations

import logging
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from center.channels.twilio.settings import TwilioSettings
from center.httpjson import error, validated

log = logging.getLogger(__name__)
F = TypeVar("F", bound=BaseModel)
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_SIGNATURE = 200

TWILIO_SETTINGS = web.AppKey("twilio_settings", TwilioSettings)
VALIDATOR = web.AppKey("twilio_validator", RequestValidator)


def install(app: web.Application, settings: TwilioSettings) -> None:
    """Put the settings and the validator on the app (once, by whichever channel is first)."""
    if TWILIO_SETTINGS not in app:
        app[TWILIO_SETTINGS] = settings
        app[VALIDATOR] = RequestValidator(settings.auth_token)


def webhook_url(settings: TwilioSettings, request: web.Request) -> str:
    """The URL Twilio signed: the public base and the path and query as sent (raw)."""
    return settings.public(request.raw_path)


async def signed_form(request: web.Request, model: type[F]) -> F:
    """The request's Twilio form as ``model``, or 403 (unsigned / mis-signed / another
    account / Twilio not configured here), 415 (not a form), 400 (a bad field)."""
    settings = request.app[TWILIO_SETTINGS]
    if not settings.enabled:
        # Without a token no signature can be checked: refused like an unsigned one.
        log.warning("twilio webhook %s refused: Twilio is not configured", request.path)
        raise error(web.HTTPForbidden, "Twilio is not configured on this server")
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not signature or len(signature) > MAX_SIGNATURE:
        log.warning("twilio webhook %s without a signature refused", request.path)
        raise error(web.HTTPForbidden, "missing or invalid X-Twilio-Signature")
    if request.content_type != FORM_TYPE:
        raise error(web.HTTPUnsupportedMediaType, "expected a form", expected=[FORM_TYPE])
    form = await request.post()
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    if not request.app[VALIDATOR].validate(
        webhook_url(settings, request), form, signature, algorithm
    ):
        log.warning("twilio webhook %s with a wrong signature refused", request.path)
        raise error(web.HTTPForbidden, "missing or invalid X-Twilio-Signature")
    # (A key given twice: the last, as Twilio never does; the signature covered all.)
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    if data.get("AccountSid") != settings.account_sid:
        # Signed with our token but for another account: not ours to act on.
        raise error(web.HTTPForbidden, "webhook for another account")
    return validated(model, data)
