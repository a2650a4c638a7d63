"""Cross-site request checks for REST and socket.io, and the client's address.

A browser attaches the login cookie to requests that another site's page makes: a form
post, a ``fetch`` with ``mode: "no-cors"``, a websocket. ``SameSite=Lax`` keeps the cookie
off cross-site POSTs but not off requests from a sibling origin on the same site (another
port or subdomain), and websockets have no CORS at all. So every request that can change
state, and every console socket, must come from a page of ours:

- ``Origin`` (sent by browsers on every POST/PUT/PATCH/DELETE and websocket handshake)
  must be one of ours: the configured public URL and ``CENTER_ALLOWED_ORIGINS``, the
  listen address (``localhost`` too on a loopback one), or the request's own ``Host``
  (the page and the API on one origin; compared without the scheme, since a proxy that
  terminates TLS forwards plain HTTP). ``null`` is never ours.
- Without ``Origin``: ``Sec-Fetch-Site`` must say ``same-origin`` (or ``none``: typed by
  the user); without that too, a ``Referer`` must be ours.
- With none of the three the request is not from a browser (curl, scripts, Twilio's
  webhooks, the test suite): such a client holds no victim's cookie, so it passes.
- A state-changing request with a body must say ``Content-Type: application/json``: a
  cross-site page can send ``text/plain`` or form bodies without a CORS preflight, but not
  JSON. The exceptions are the routes in ``FORM_ROUTES`` (form posts and uploads, which the
  Origin check still covers). A request without a body (logout, publish) needs no type.

socket.io's own ``/socket.io/`` requests are left to its Origin check, configured here too
(``OriginPolicy.allows_socket``): console origins plus ``CENTER_WIDGET_ORIGINS``, where the
chat widget may be embedded. The console namespaces then accept only console origins
(``OriginPolicy.console_environ``), because socket.io's check is server-wide.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from center.config import Settings
from center.httpjson import error

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON = frozenset({"application/json"})
FORM = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
# Routes (canonical path) whose bodies are not JSON, and what they take instead.
FORM_ROUTES: Mapping[str, frozenset[str]] = {
    "/api/kb/articles/{article_id}/attachments": frozenset({"multipart/form-data"}),
    # The help center's anonymous "was this helpful?" form (no script on the portal).
    "/help/articles/{slug}/feedback": FORM,
}
# Prefixes whose routes take form bodies: Twilio's webhooks post form-encoded parameters.
FORM_PREFIXES = ("/twilio/",)
SOCKETIO_PATH = "/socket.io/"
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def normalise_origin(raw: str) -> str:
    """``scheme://host[:port]`` in lower case, default ports dropped; '' if not an origin."""
    try:
        parts = urlsplit(raw.strip())
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def is_origin(raw: str) -> bool:
    """An origin as configured: scheme, host and port, no path, query or user."""
    parts = urlsplit(raw.strip())
    bare = parts.path in ("", "/") and not (parts.query or parts.fragment or "@" in parts.netloc)
    return bare and bool(normalise_origin(raw))


def _netloc(origin: str) -> str:
    return origin.partition("://")[2]


@dataclass(frozen=True, slots=True)
class OriginPolicy:
    consoles: frozenset[str]
    widget: frozenset[str]  # besides the consoles' origins
    widget_anywhere: bool = False  # CENTER_WIDGET_ORIGINS=*

    @classmethod
    def from_settings(cls, settings: Settings) -> OriginPolicy:
        listen = [f"http://{_bracket(settings.host)}:{settings.port}"]
        if settings.host in _LOOPBACK_HOSTS:
            listen += [f"http://{h}:{settings.port}" for h in ("127.0.0.1", "localhost", "[::1]")]
        consoles = {normalise_origin(o) for o in [settings.public_url, *settings.allowed_origins]}
        consoles |= {normalise_origin(o) for o in listen}
        widget = {normalise_origin(o) for o in settings.widget_origins if o != "*"}
        return cls(
            consoles=frozenset(consoles - {""}),
            widget=frozenset(widget - {""}),
            widget_anywhere="*" in settings.widget_origins,
        )

    def console(self, origin: str, host: str | None) -> bool:
        """A page of ours: a console origin, or the origin the request itself was sent to."""
        normal = normalise_origin(origin)
        if not normal:
            return False
        return normal in self.consoles or (bool(host) and _netloc(normal) == host.lower())

    def allows_socket(self, origin: str, environ: dict[str, Any]) -> bool:
        """socket.io's server-wide Origin check (it calls this only when Origin is sent)."""
        if self.console(origin, environ.get("HTTP_HOST")):
            return True
        return self.widget_anywhere or normalise_origin(origin) in self.widget

    def console_environ(self, environ: dict[str, Any]) -> bool:
        """A console socket's handshake came from a console page (or not from a browser)."""
        origin = environ.get("HTTP_ORIGIN")
        return origin is None or self.console(origin, environ.get("HTTP_HOST"))

    def refusal(self, request: web.Request) -> web.HTTPException | None:
        """Why a state-changing REST request is refused as cross-site, or None."""
        headers = request.headers
        if "Origin" in headers:
            ok = self.console(headers["Origin"], request.host)
        elif "Sec-Fetch-Site" in headers:
            ok = headers["Sec-Fetch-Site"] in ("same-origin", "none")
        elif "Referer" in headers:
            ok = self.console(headers["Referer"], request.host)
        else:
            ok = True  # not a browser: no victim's cookie to ride on
        if not ok:
            return error(web.HTTPForbidden, "cross-site request refused")
        if not request.body_exists:
            return None
        allowed = _body_types(request)
        if request.content_type not in allowed:
            return error(
                web.HTTPUnsupportedMediaType,
                "unsupported Content-Type",
                expected=sorted(allowed),
            )
        return None

    def middleware(self) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
        @web.middleware
        async def cross_site_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.method in UNSAFE_METHODS and not request.path.startswith(SOCKETIO_PATH):
                refused = self.refusal(request)
                if refused is not None:
                    raise refused
            return await handler(request)

        return cross_site_guard


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _body_types(request: web.Request) -> frozenset[str]:
    if request.path.startswith(FORM_PREFIXES):
        return FORM
    resource = request.match_info.route.resource
    canonical = resource.canonical if resource is not None else ""
    return FORM_ROUTES.get(canonical, JSON)


# -- the client's address ------------------------------------------------------------------


def trusted_networks(settings: Settings) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(request: web.Request, networks: tuple[Network, ...]) -> str:
    """Who sent the request: the peer, unless the peer is a trusted proxy; then the nearest
    ``X-Forwarded-For`` hop that is not one (the hops left of it are the client's to
    write, so the right-most untrusted one is the first a proxy of ours vouches for)."""
    remote = request.remote or ""
    if not networks or not _trusted(remote, networks):
        return remote
    hops = [
        hop.strip()
        for header in request.headers.getall("X-Forwarded-For", [])
        for hop in header.split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop
    return hops[0] if hops else remote
