"""Twilio for tests: signed webhooks as Twilio posts them, and a stand-in for its REST API.

- ``Webhooks.post(path, params)`` signs ``public_url + path`` and the parameters with the
  official ``RequestValidator.compute_signature`` and posts the form to the running server,
  with the headers Twilio sends. ``sms_inbound`` / ``sms_status`` / ``voice_call`` build the
  parameter sets Twilio sends for those webhooks. Given the server's ``app``, a post to
  ``/twilio/sms`` returns once the SMS inbox is drained (``drained(app)``): the text was
  acted on, as a user would see it a moment later.
- ``TwilioApi`` is an aiohttp server on loopback answering the official client's requests
  (``CENTER_TWILIO_API_URL`` points there) with Twilio-shaped JSON for Messages, Calls,
  Conferences and Participants; it checks Basic auth like Twilio (401 + code 20003), records
  every request (method, path, form, query) and can be told to fail the next requests
  (``fail_next``; ``after=True``: Twilio did the work and still answered an error). Its
  ``before_answer`` hook runs after a call or participant is created and before the answer
  is sent (e.g. to post that leg's status callback first, as Twilio may).

Use in a test package's conftest::

    from tests.twilio_support import twilio_api  # noqa: F401  (the fixture)

    @pytest.fixture
    def settings(settings, twilio_api):
        return with_twilio(settings, twilio_api)
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr
from twilio.request_validator import RequestValidator

from center.config import Settings

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-test-auth-token-0123456789"
CENTER_NUMBER = "+15005550006"
PUBLIC_URL = "https://center.example.test"  # what Twilio calls; never the loopback URL
API_VERSION = "2010-04-01"


def sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def rfc2822(moment: datetime | None = None) -> str:
    return format_datetime(moment or datetime.now(UTC))


def with_twilio(settings: Settings, api: TwilioApi | None = None, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "public_url": PUBLIC_URL,
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": SecretStr(AUTH_TOKEN),
        "twilio_number": CENTER_NUMBER,
        "twilio_timeout_s": 3.0,
    }
    if api is not None:
        values["twilio_api_url"] = api.url
    values.update(extra)
    return settings.model_copy(update=values)


# -- webhooks -----------------------------------------------------------------------------


async def drained(app: web.Application, timeout: float = 10.0) -> None:
    """Wait until the server's SMS inbox processor has acted on everything stored so far
    (woken, then idle: no sleeping and hoping)."""
    from center.channels.sms.webhooks import INBOX

    async with asyncio.timeout(timeout):
        await app[INBOX].drained()


@dataclass
class Reply:
    status: int
    text: str
    content_type: str


class Webhooks:
    """Posts signed webhooks to ``server_url`` as Twilio would to ``public_url``."""

    def __init__(
        self,
        server_url: str,
        *,
        public_url: str = PUBLIC_URL,
        token: str = AUTH_TOKEN,
        app: web.Application | None = None,
    ) -> None:
        self.app = app
        self.server_url = server_url.rstrip("/")
        self.public_url = public_url.rstrip("/")
        self.validator = RequestValidator(token)
        self.http = aiohttp.ClientSession()

    def signature(self, path: str, params: Mapping[str, str]) -> str:
        return self.validator.compute_signature(self.public_url + path, dict(params))

    async def post(
        self,
        path: str,
        params: Mapping[str, str],
        *,
        signature: str | None = None,
        sign: bool = True,
    ) -> Reply:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
            "Accept": "*/*",
            "I-Twilio-Idempotency-Token": secrets.token_hex(16),
        }
        if sign:
            headers["X-Twilio-Signature"] = signature or self.signature(path, params)
        async with self.http.post(
            self.server_url + path, data=dict(params), headers=headers
        ) as resp:
            reply = Reply(resp.status, await resp.text(), resp.content_type)
        if self.app is not None and path.split("?")[0] == "/twilio/sms":
            await drained(self.app)
        return reply

    async def close(self) -> None:
        await self.http.close()


def sms_inbound(
    body: str,
    *,
    from_: str,
    to: str = CENTER_NUMBER,
    message_sid: str | None = None,
    media: list[tuple[str, str]] | None = None,
    **extra: str,
) -> dict[str, str]:
    """The parameters of Twilio's incoming-message webhook."""
    message_sid = message_sid or sid("MM" if media else "SM")
    params = {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": message_sid,
        "NumMedia": str(len(media or [])),
        "ToCity": "",
        "FromZip": "",
        "SmsSid": message_sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": "US",
        "To": to,
        "ToZip": "",
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "MessageSid": message_sid,
        "AccountSid": ACCOUNT_SID,
        "From": from_,
        "ApiVersion": API_VERSION,
    }
    for i, (url, content_type) in enumerate(media or []):
        params[f"MediaUrl{i}"] = url
        params[f"MediaContentType{i}"] = content_type
    params.update(extra)
    return params


def sms_status(
    message_sid: str,
    status: str,
    *,
    to: str,
    from_: str = CENTER_NUMBER,
    error_code: int | None = None,
) -> dict[str, str]:
    """The parameters of a message's status callback."""
    params = {
        "SmsSid": message_sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": to,
        "MessageSid": message_sid,
        "AccountSid": ACCOUNT_SID,
        "From": from_,
        "ApiVersion": API_VERSION,
    }
    if error_code is not None:
        params["ErrorCode"] = str(error_code)
    return params


def voice_call(
    call_sid: str,
    status: str = "ringing",
    *,
    from_: str,
    to: str = CENTER_NUMBER,
    direction: str = "inbound",
    **extra: str,
) -> dict[str, str]:
    """The parameters of a voice webhook (the incoming call; add Digits, SpeechResult …)."""
    params = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": API_VERSION,
        "CallSid": call_sid,
        "CallStatus": status,
        "Called": to,
        "CalledCountry": "US",
        "Caller": from_,
        "CallerCountry": "US",
        "Direction": direction,
        "From": from_,
        "FromCountry": "US",
        "To": to,
        "ToCountry": "US",
    }
    params.update(extra)
    return params


# -- the REST API stand-in ----------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    form: dict[str, str]
    query: dict[str, str]
    # (Repeated form keys, e.g. StatusCallbackEvent, in order.)
    form_lists: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Failure:
    status: int
    code: int
    message: str
    match: str  # a substring of the path
    method: str | None = None  # None: any
    after: bool = False  # the request is done, then the error answered


class TwilioApi:
    """A loopback HTTP server answering as Twilio's REST API (2010-04-01) does."""

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        self.account_sid = account_sid
        self.auth = aiohttp.encode_basic_auth(account_sid, auth_token)
        self.requests: list[Recorded] = []
        self.messages: dict[str, dict[str, Any]] = {}
        self.calls: dict[str, dict[str, Any]] = {}
        self.conferences: dict[str, dict[str, Any]] = {}
        self.participants: dict[str, dict[str, dict[str, Any]]] = {}
        self.failures: list[Failure] = []
        # (the create request's form, the created call or participant) -> before the answer
        self.before_answer: Callable[[Mapping[str, Any], dict[str, Any]], Awaitable[None]] | None
        self.before_answer = None
        self.delay_s = 0.0
        self.url = ""
        self.changed = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # -- control from tests --

    def fail_next(
        self,
        match: str,
        status: int,
        code: int,
        message: str,
        times: int = 1,
        method: str | None = None,
        after: bool = False,
    ) -> None:
        """The next ``times`` requests (of ``method``, or any) whose path contains ``match``
        fail as Twilio fails (``after``: once they have been carried out)."""
        self.failures.extend(
            Failure(status, code, message, match, method, after) for _ in range(times)
        )

    def labelled(self, prefix: str) -> list[dict[str, Any]]:
        """Every participant (of any conference) whose label starts with ``prefix``."""
        return [
            p
            for people in self.participants.values()
            for p in people.values()
            if str(p.get("label") or "").startswith(prefix)
        ]

    def add_conference(self, friendly_name: str, status: str = "in-progress") -> str:
        """A conference Twilio made when a call's TwiML <Dial><Conference> ran."""
        conference_sid = sid("CF")
        self.conferences[conference_sid] = self._conference(conference_sid, friendly_name, status)
        self.participants[conference_sid] = {}
        return conference_sid

    def add_participant(self, conference_sid: str, call_sid: str, **fields: Any) -> None:
        self.participants[conference_sid][call_sid] = self._participant(
            conference_sid, call_sid, fields
        )

    def posts(self, match: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and match in r.path]

    async def wait_for(self, match: str, count: int = 1, timeout: float = 5.0) -> list[Recorded]:
        """The POSTs to paths containing ``match``, once there are ``count`` of them."""
        async with asyncio.timeout(timeout):
            while len(self.posts(match)) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.posts(match)

    # -- lifecycle --

    async def start(self) -> None:
        app = web.Application()
        base = f"/{API_VERSION}/Accounts/{{account}}"
        app.router.add_post(base + "/Messages.json", self._create_message)
        app.router.add_get(base + "/Messages.json", self._list_messages)
        app.router.add_get(base + "/Messages/{sid}.json", self._fetch_message)
        app.router.add_post(base + "/Calls.json", self._create_call)
        app.router.add_get(base + "/Calls/{sid}.json", self._fetch_call)
        app.router.add_post(base + "/Calls/{sid}.json", self._update_call)
        app.router.add_get(base + "/Conferences.json", self._list_conferences)
        app.router.add_get(base + "/Conferences/{sid}.json", self._fetch_conference)
        app.router.add_post(base + "/Conferences/{sid}.json", self._update_conference)
        app.router.add_post(base + "/Conferences/{sid}/Participants.json", self._add_participant)
        app.router.add_get(base + "/Conferences/{sid}/Participants.json", self._list_participants)
        app.router.add_post(
            base + "/Conferences/{sid}/Participants/{call}.json", self._update_participant
        )
        app.router.add_delete(
            base + "/Conferences/{sid}/Participants/{call}.json", self._remove_participant
        )
        app.middlewares.append(self._middleware)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- Twilio's behaviour --

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        form = await request.post() if request.method == "POST" else {}
        lists: dict[str, list[str]] = {}
        for key, value in form.items():
            lists.setdefault(key, []).append(str(value))
        self.requests.append(
            Recorded(
                request.method,
                request.path,
                {k: v[-1] for k, v in lists.items()},
                dict(request.query),
                lists,
            )
        )
        self.changed.set()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if request.headers.get("Authorization") != self.auth:
            return self._error(401, 20003, "Authenticate")
        if request.match_info.get("account") != self.account_sid:
            return self._error(404, 20404, "The requested resource was not found")
        for failure in self.failures:
            if failure.match in request.path and failure.method in (None, request.method):
                self.failures.remove(failure)
                if failure.after:
                    await handler(request)
                return self._error(failure.status, failure.code, failure.message)
        return await handler(request)

    def _error(self, status: int, code: int, message: str) -> web.Response:
        return web.json_response(
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
            status=status,
        )

    def _uri(self, tail: str) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/{tail}"

    async def _create_message(self, request: web.Request) -> web.Response:
        form = await request.post()
        to, body = form.get("To"), form.get("Body", "")
        if not to or not (body or form.get("MediaUrl")):
            return self._error(400, 21602, "Message body is required.")
        media = form.getall("MediaUrl", [])
        message_sid = sid("MM" if media else "SM")
        now = rfc2822()
        message = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": str(len(media)),
            "num_segments": str(max(1, -(-len(str(body)) // 153))),
            "price": None,
            "price_unit": "USD",
            "sid": message_sid,
            "status": "queued",
            "subresource_uris": {"media": self._uri(f"Messages/{message_sid}/Media.json")},
            "to": to,
            "uri": self._uri(f"Messages/{message_sid}.json"),
        }
        self.messages[message_sid] = message
        return web.json_response(message, status=201)

    async def _list_messages(self, request: web.Request) -> web.Response:
        q = request.query
        items = [
            m
            for m in reversed(self.messages.values())  # newest first, as Twilio lists them
            if q.get("To") in (None, m["to"]) and q.get("From") in (None, m["from"])
        ]
        return web.json_response(self._page("messages", items, "Messages.json"))

    async def _fetch_message(self, request: web.Request) -> web.Response:
        message = self.messages.get(request.match_info["sid"])
        if message is None:
            return self._error(404, 20404, "The requested resource was not found")
        return web.json_response(message)

    def _call(self, call_sid: str, form: Mapping[str, Any], status: str) -> dict[str, Any]:
        now = rfc2822()
        return {
            "account_sid": self.account_sid,
            "answered_by": None,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": now,
            "date_updated": now,
            "direction": "outbound-api",
            "duration": None,
            "end_time": None,
            "forwarded_from": None,
            "from": form.get("From"),
            "from_formatted": form.get("From"),
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "sid": call_sid,
            "start_time": None,
            "status": status,
            "subresource_uris": {},
            "to": form.get("To"),
            "to_formatted": form.get("To"),
            "trunk_sid": None,
            "uri": self._uri(f"Calls/{call_sid}.json"),
            "queue_time": "0",
        }

    async def _create_call(self, request: web.Request) -> web.Response:
        form = await request.post()
        if not form.get("To") or not form.get("From"):
            return self._error(400, 21201, "No 'To' number is specified")
        if not (form.get("Url") or form.get("Twiml") or form.get("ApplicationSid")):
            return self._error(400, 21205, "Url parameter is required.")
        call_sid = sid("CA")
        self.calls[call_sid] = self._call(call_sid, form, "queued")
        if self.before_answer is not None:
            await self.before_answer(form, self.calls[call_sid])
        return web.json_response(self.calls[call_sid], status=201)

    async def _fetch_call(self, request: web.Request) -> web.Response:
        call = self.calls.get(request.match_info["sid"])
        if call is None:
            return self._error(404, 20404, "The requested resource was not found")
        return web.json_response(call)

    async def _update_call(self, request: web.Request) -> web.Response:
        form = await request.post()
        call_sid = request.match_info["sid"]
        call = self.calls.setdefault(call_sid, self._call(call_sid, {}, "in-progress"))
        if "Status" in form:
            call["status"] = form["Status"]
        return web.json_response(call)

    def _conference(self, conference_sid: str, name: str, status: str) -> dict[str, Any]:
        now = rfc2822()
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "call_sid_ending_conference": None,
            "date_created": now,
            "date_updated": now,
            "friendly_name": name,
            "reason_conference_ended": None,
            "region": "us1",
            "sid": conference_sid,
            "status": status,
            "subresource_uris": {
                "participants": self._uri(f"Conferences/{conference_sid}/Participants.json"),
                "recordings": self._uri(f"Conferences/{conference_sid}/Recordings.json"),
            },
            "uri": self._uri(f"Conferences/{conference_sid}.json"),
        }

    def _page(self, key: str, items: list[dict[str, Any]], tail: str) -> dict[str, Any]:
        uri = self._uri(tail)
        return {
            key: items,
            "end": max(0, len(items) - 1),
            "first_page_uri": f"{uri}?PageSize=50&Page=0",
            "next_page_uri": None,
            "page": 0,
            "page_size": 50,
            "previous_page_uri": None,
            "start": 0,
            "uri": f"{uri}?PageSize=50&Page=0",
        }

    async def _list_conferences(self, request: web.Request) -> web.Response:
        name, status = request.query.get("FriendlyName"), request.query.get("Status")
        items = [
            c
            for c in self.conferences.values()
            if (name is None or c["friendly_name"] == name)
            and (status is None or c["status"] == status)
        ]
        return web.json_response(self._page("conferences", items, "Conferences.json"))

    async def _fetch_conference(self, request: web.Request) -> web.Response:
        conference = self.conferences.get(request.match_info["sid"])
        if conference is None:
            return self._error(404, 20404, "The requested resource was not found")
        return web.json_response(conference)

    async def _update_conference(self, request: web.Request) -> web.Response:
        conference = self.conferences.get(request.match_info["sid"])
        if conference is None:
            return self._error(404, 20404, "The requested resource was not found")
        form = await request.post()
        if form.get("Status") == "completed":
            conference["status"] = "completed"
        return web.json_response(conference)

    def _participant(
        self, conference_sid: str, call_sid: str, fields: Mapping[str, Any]
    ) -> dict[str, Any]:
        now = rfc2822()
        participant = {
            "account_sid": self.account_sid,
            "call_sid": call_sid,
            "call_sid_to_coach": None,
            "coaching": False,
            "conference_sid": conference_sid,
            "date_created": now,
            "date_updated": now,
            "end_conference_on_exit": False,
            "hold": False,
            "label": None,
            "muted": False,
            "queue_time": None,
            "start_conference_on_enter": True,
            "status": "connected",
            "uri": self._uri(f"Conferences/{conference_sid}/Participants/{call_sid}.json"),
        }
        participant.update(fields)
        return participant

    @staticmethod
    def _flag(value: Any) -> bool:
        return str(value).lower() == "true"

    async def _add_participant(self, request: web.Request) -> web.Response:
        conference_sid = request.match_info["sid"]
        form = await request.post()
        if not form.get("From") or not form.get("To"):
            return self._error(400, 21201, "No 'To' number is specified")
        call_sid = sid("CA")
        fields: dict[str, Any] = {"status": "queued", "label": form.get("Label")}
        for key, name in (("Muted", "muted"), ("Coaching", "coaching"), ("Beep", None)):
            if key in form and name:
                fields[name] = self._flag(form[key])
        if "CallSidToCoach" in form:
            fields["call_sid_to_coach"] = form["CallSidToCoach"]
        if "EndConferenceOnExit" in form:
            fields["end_conference_on_exit"] = self._flag(form["EndConferenceOnExit"])
        # (Twilio creates a conference named by the URL's sid when a participant is added.)
        self.conferences.setdefault(
            conference_sid, self._conference(conference_sid, conference_sid, "init")
        )
        self.participants.setdefault(conference_sid, {})[call_sid] = self._participant(
            conference_sid, call_sid, fields
        )
        self.calls[call_sid] = self._call(call_sid, form, "queued")
        if self.before_answer is not None:
            await self.before_answer(form, self.participants[conference_sid][call_sid])
        return web.json_response(self.participants[conference_sid][call_sid], status=201)

    async def _list_participants(self, request: web.Request) -> web.Response:
        conference_sid = request.match_info["sid"]
        items = list(self.participants.get(conference_sid, {}).values())
        tail = f"Conferences/{conference_sid}/Participants.json"
        return web.json_response(self._page("participants", items, tail))

    def _find_participant(self, request: web.Request) -> dict[str, Any] | None:
        people = self.participants.get(request.match_info["sid"], {})
        key = request.match_info["call"]
        if key in people:
            return people[key]
        # (Twilio accepts a participant's label in place of its CallSid.)
        return next((p for p in people.values() if p.get("label") == key), None)

    async def _update_participant(self, request: web.Request) -> web.Response:
        participant = self._find_participant(request)
        if participant is None:
            return self._error(404, 20404, "The requested resource was not found")
        form = await request.post()
        for key, name in (("Muted", "muted"), ("Hold", "hold"), ("Coaching", "coaching")):
            if key in form:
                participant[name] = self._flag(form[key])
        if "CallSidToCoach" in form:
            participant["call_sid_to_coach"] = form["CallSidToCoach"]
        return web.json_response(participant)

    async def _remove_participant(self, request: web.Request) -> web.Response:
        participant = self._find_participant(request)
        if participant is None:
            return self._error(404, 20404, "The requested resource was not found")
        del self.participants[request.match_info["sid"]][participant["call_sid"]]
        return web.Response(status=204)


@pytest.fixture
async def twilio_api() -> AsyncIterator[TwilioApi]:
    api = TwilioApi()
    await api.start()
    try:
        yield api
    finally:
        await api.stop()
