"""The official Twilio REST client, asynchronous, pointed at ``CENTER_TWILIO_API_URL``.

The client builds absolute ``https://<product>.twilio.com/...`` URLs itself (each domain's
``base_url``; ``edge``/``region`` can only pick other ``*.twilio.com`` hosts), so the one
place every request passes through is the HTTP client: ``RoutedHttpClient`` is the
official ``AsyncTwilioHttpClient`` with the scheme and host of every Twilio URL replaced by
the configured base, path and query untouched. With the default base nothing changes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aiohttp import encode_basic_auth, web
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from center.channels.twilio.settings import TWILIO_API, TwilioSettings

log = logging.getLogger(__name__)


class RoutedHttpClient(AsyncTwilioHttpClient):
    """``AsyncTwilioHttpClient`` sending every ``*.twilio.com`` request to ``base_url``."""

    def __init__(self, base_url: str, *, timeout_s: float) -> None:
        # (No retries here: the outbox retries, and only what is safe to repeat.)
        super().__init__(pool_connections=True, timeout=timeout_s)
        parts = urlsplit(base_url.rstrip("/"))
        self._scheme, self._netloc, self._prefix = parts.scheme, parts.netloc, parts.path
        self._routed = base_url.rstrip("/") != TWILIO_API

    def route(self, url: str) -> str:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if not self._routed or not (host == "twilio.com" or host.endswith(".twilio.com")):
            return url
        return urlunsplit((self._scheme, self._netloc, self._prefix + parts.path, parts.query, ""))

    async def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        # (The base class takes ``timeout`` in its constructor but only applies the
        # per-request one: without this a stalled API would hold a request forever. The
        # credentials go as the header aiohttp 4 wants rather than its deprecated BasicAuth.)
        if auth is not None:
            headers = {**(headers or {}), "Authorization": encode_basic_auth(*auth)}
        return await super().request(
            method,
            self.route(url),
            params=params,
            data=data,
            headers=headers,
            auth=None,
            timeout=timeout if timeout is not None else self.timeout,
            allow_redirects=allow_redirects,
        )


def build_client(settings: TwilioSettings) -> Client:
    """The official client on the routed async HTTP client (call inside the event loop)."""
    http = RoutedHttpClient(settings.api_url, timeout_s=settings.timeout_s)
    return Client(
        settings.account_sid or None,
        settings.auth_token or None,
        http_client=http,
        # (Never the process environment's TWILIO_* variables: only our settings.)
        environment={},
    )


class TwilioRest:
    """The app's one REST client: built at start-up, its HTTP session closed at shutdown."""

    def __init__(self, settings: TwilioSettings) -> None:
        self.settings = settings
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError("the Twilio client is not started")
        return self._client

    @property
    def account(self) -> Any:
        """``client.api.v2010.accounts(<sid>)``: messages, calls, conferences."""
        return self.client.api.v2010.accounts(self.settings.account_sid)

    async def lifespan(self, app: web.Application) -> AsyncIterator[None]:
        self._client = build_client(self.settings)
        try:
            yield
        finally:
            http = self._client.http_client
            self._client = None
            await http.close()  # type: ignore[attr-defined]


TWILIO = web.AppKey("twilio_rest", TwilioRest)
