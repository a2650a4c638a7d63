"""Wiring the Twilio layer into the app, once, whichever channel (SMS, voice) asks first."""

from __future__ import annotations

from aiohttp import web

from center.channels.twilio.client import TWILIO, TwilioRest
from center.channels.twilio.settings import TwilioSettings
from center.channels.twilio.webhooks import install
from center.config import Settings


def setup(app: web.Application, settings: Settings) -> TwilioRest:
    """Settings and validator on the app, the REST client started with it; idempotent."""
    if TWILIO in app:
        return app[TWILIO]
    twilio = TwilioSettings.from_settings(settings)
    install(app, twilio)
    rest = TwilioRest(twilio)
    app[TWILIO] = rest
    app.cleanup_ctx.append(rest.lifespan)
    return rest
