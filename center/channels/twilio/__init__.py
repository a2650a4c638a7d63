"""The Twilio layer SMS and voice share: settings, signed webhooks, forms, the REST client.

- ``settings.TwilioSettings``: the account, token, number, public URL and REST base.
- ``webhooks``: every ``/twilio/...`` POST is checked with the official ``RequestValidator``
  against ``CENTER_PUBLIC_URL`` (never the URL the app sees behind a proxy) and parsed into
  a pydantic form model; unsigned or mis-signed → 403 before anything is read or stored.
- ``client``: the official ``twilio.rest.Client`` on ``AsyncTwilioHttpClient``, with every
  REST request sent to ``CENTER_TWILIO_API_URL`` (same paths) when it is set.
- ``idempotency.first_delivery``: one row per (Sid, status) so a replayed webhook makes one
  record and one event.
"""

from center.channels.twilio.client import TWILIO, RoutedHttpClient, TwilioRest, build_client
from center.channels.twilio.idempotency import first_delivery
from center.channels.twilio.settings import TwilioSettings
from center.channels.twilio.setup import setup
from center.channels.twilio.webhooks import TWILIO_SETTINGS, signed_form, webhook_url

__all__ = [
    "TWILIO",
    "TWILIO_SETTINGS",
    "RoutedHttpClient",
    "TwilioRest",
    "TwilioSettings",
    "build_client",
    "first_delivery",
    "setup",
    "signed_form",
    "webhook_url",
]
