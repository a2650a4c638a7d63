"""Security headers on every response: a Content-Security-Policy, nosniff, Referrer-Policy.

The pages (consoles /agent, /supervisor, /kb/editor; the portal /help; the chat widget
/chat) load script and style only from files on this origin: no inline <script>, no event
handler attributes, no style attributes, so an injected tag cannot run even if some text
ever reached the page as HTML. Consoles and portal may not be framed at all (clickjacking a
supervisor's buttons); the chat widget is made to sit in an <iframe> on the customer's own
site, so the sites allowed to frame it come from ``CENTER_WIDGET_ORIGINS``.

The agent console alone carries Twilio's Voice SDK (the softphone, served from
/static/vendor/): its policy adds the SDK's signalling websocket (wss://*.twilio.com, or
``CENTER_VOICE_SIGNALLING_HOST`` instead) and its ringing/ending sounds (media from
sdk.twilio.com). Nothing else of Twilio's: the SDK's call-quality reports are switched
off in the console, so eventgw.twilio.com is not needed.

Set in ``on_response_prepare`` rather than a middleware so that every response gets them,
also the 404s and errors raised past the middlewares and the static files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aiohttp import web

from center.appkeys import SETTINGS

WIDGET_PATHS = ("/chat",)
# A CSP source is one token: a ";" or "," or a space in an origin would end the directive
# and let the setting inject another one.
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|https?://\*\.[A-Za-z0-9.-]+")

_BASE = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    # Article images may be hosted anywhere on https (the sanitiser allows http/https URLs).
    "img-src 'self' data: https:",
    # (CSP 3: 'self' also matches ws:/wss: to this host, which socket.io uses.)
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
)
CONSOLE_POLICY = "; ".join((*_BASE, "frame-ancestors 'none'"))
# The consoles that carry the softphone (the supervisor's: listen, whisper, barge).
SOFTPHONE_PAGES = ("/agent", "/supervisor")
TWILIO_SIGNALLING = "wss://*.twilio.com"
TWILIO_SOUNDS = "https://sdk.twilio.com"  # (the SDK's C.SOUNDS_BASE_URL)


def agent_console_policy(signalling_host: str = "") -> str:
    """The consoles' policy plus what the softphone needs (the sounds as <audio>: the
    console sets disableAudioContextSounds, so they are media, not fetches)."""
    signalling = f"wss://{signalling_host}" if signalling_host else TWILIO_SIGNALLING
    policy = [
        f"connect-src 'self' {signalling}" if d.startswith("connect-src") else d for d in _BASE
    ]
    return "; ".join((*policy, f"media-src 'self' {TWILIO_SOUNDS}", "frame-ancestors 'none'"))


def widget_policy(origins: Iterable[str]) -> str:
    """The chat widget's policy: as the consoles', framed only by this site and ``origins``."""
    sources = ["'self'"]
    for origin in origins:
        origin = origin.strip().rstrip("/")
        if origin == "*":  # (the setting's "anywhere")
            sources.append("*")
            continue
        if not _ORIGIN.fullmatch(origin):
            raise ValueError(
                f"CENTER_WIDGET_ORIGINS: {origin!r} is not an origin such as https://shop.example"
            )
        sources.append(origin)
    return "; ".join((*_BASE, f"frame-ancestors {' '.join(sources)}"))


def install(app: web.Application) -> None:
    """Add the headers to every response of ``app`` (and its sub-apps). Raises ValueError at
    start-up on a malformed widget origin."""
    settings = app.get(SETTINGS)
    widget = widget_policy(settings.widget_origins if settings is not None else [])
    agent = agent_console_policy(settings.voice_signalling_host if settings is not None else "")

    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        h = response.headers
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "same-origin")
        if request.path in WIDGET_PATHS:
            h.setdefault("Content-Security-Policy", widget)
        elif request.path in SOFTPHONE_PAGES:
            h.setdefault("Content-Security-Policy", agent)
            h.setdefault("X-Frame-Options", "DENY")
        else:
            h.setdefault("Content-Security-Policy", CONSOLE_POLICY)
            h.setdefault("X-Frame-Options", "DENY")  # (browsers without frame-ancestors)

    app.on_response_prepare.append(add_headers)
