"""The browser softphone in a real Chromium, against a stand-in for Twilio's signalling.

Twilio's cloud is not reachable from the tests, so a TLS websocket server on loopback
(wss://127.0.0.1:<port>/signal, CENTER_VOICE_SIGNALLING_HOST: the SDK's chunderw) answers
the Voice SDK's own protocol as far as registration goes: "listen" (the token) is answered
"connected", "register" is answered "ready". What this proves: the console loads the SDK
from our origin under its CSP, asks for the token, registers with it, shows the state, takes
a fresh token before the old one expires, and takes the call just accepted without a second
click. What it cannot: audio. The stand-in's invite carries no real SDP answerer and no
media server, so no test here says a caller and an agent hear each other.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from playwright.async_api import Browser, BrowserContext, Request, expect
from pydantic import SecretStr
from twilio.jwt import Jwt

from center.config import Settings
from center.records.enums import Role
from tests.agent_ui.test_browser import go_available, sign_in
from tests.agent_ui.test_supervisor_browser import signed_in_supervisor
from tests.browser import launch, watched_page
from tests.channels.email.dovecot import _certificate
from tests.channels.voice.conftest import VoiceConsole, accept_in_console, bridged_call
from tests.channels.voice.test_softphone import APP_SID, KEY_SECRET, KEY_SID
from tests.rest import Http
from tests.support import PASSWORD, Server, make_user, signed_in_agent
from tests.test_headers import REPORT
from tests.twilio_support import TwilioApi, Webhooks

pytestmark = pytest.mark.browser
TOKEN_TTL_S = 12  # told back in "connected": the SDK asks for a new one 10 s before
CALLER = "+14155550177"
# An SDP offer with one audio section, as Twilio's would carry (made by the page's own
# RTCPeerConnection: the stand-in has no media stack; nothing answers the ICE).
OFFER = """async () => {
  const pc = new RTCPeerConnection();
  pc.addTransceiver("audio");
  const offer = await pc.createOffer();
  pc.close();
  return offer.sdp;
}"""


@dataclass
class Signalling:
    """Twilio's signalling as far as a Device needs to register (and be offered a call)."""

    port: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    refuse: bool = False  # close every new connection at once (Twilio unreachable)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m["payload"] for m in self.received if m.get("type") == kind]

    async def wait_for(self, kind: str, count: int = 1) -> list[dict[str, Any]]:
        async with asyncio.timeout(20):
            while len(self.of(kind)) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.of(kind)

    async def send(self, kind: str, payload: dict[str, Any]) -> None:
        await self.sockets[-1].send_json({"type": kind, "payload": payload, "version": "1.6"})

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        if self.refuse:
            await ws.close()
            return ws
        self.sockets.append(ws)
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            data = msg.json()
            self.received.append(data)
            self.changed.set()
            if data["type"] == "listen":
                grants = Jwt.from_jwt(data["payload"]["token"], KEY_SECRET).payload["grants"]
                token = {"identity": grants["identity"], "ttl": TOKEN_TTL_S}
                connected = {"region": "us1", "token": token}
                await ws.send_json({"type": "connected", "payload": connected})
            elif data["type"] == "register":
                await ws.send_json({"type": "ready", "payload": {}})
        return ws


@pytest.fixture
def tls(tmp_path: Path) -> ssl.SSLContext:
    cert, key = _certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture
async def signalling(tls: ssl.SSLContext) -> AsyncIterator[Signalling]:
    standin = Signalling()
    app = web.Application()
    app.router.add_get("/signal", standin.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    standin.port = runner.addresses[0][1]
    try:
        yield standin
    finally:
        for ws in standin.sockets:
            await ws.close()
        await runner.cleanup()


@pytest.fixture
def settings(settings: Settings, signalling: Signalling) -> Settings:
    return settings.model_copy(
        update={
            "twilio_api_key_sid": KEY_SID,
            "twilio_api_key_secret": SecretStr(KEY_SECRET),
            "twilio_twiml_app_sid": APP_SID,
            "voice_signalling_host": f"127.0.0.1:{signalling.port}",
        }
    )


@pytest.fixture
async def mic_browser() -> AsyncIterator[Browser]:
    """Chromium with a fake microphone: the page's permission decides (granted or not)."""
    async for b in launch("--use-fake-device-for-media-stream"):
        yield b


async def _context(browser: Browser, *permissions: str) -> BrowserContext:
    # (The stand-in's certificate is the test's own: Twilio's is trusted the usual way.)
    context = await browser.new_context(ignore_https_errors=True, permissions=list(permissions))
    await context.add_init_script(REPORT)
    return context


async def test_the_softphone_registers_with_the_agents_token_and_shows_it(
    server: Server, browser: Browser, signalling: Signalling
) -> None:
    await make_user(server.db, "alice", capacity={"voice": 1})
    errors: list[str] = []
    dialogs: list[str] = []
    scripts: list[str] = []
    context = await _context(browser)
    try:
        page = await watched_page(context, errors, dialogs)
        page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)
        await sign_in(page, server.url, "alice", PASSWORD)
        state = page.locator("#sp-state")
        await expect(state).to_have_text("ready")

        sdk = [u for u in scripts if "twilio" in u]
        assert sdk == [f"{server.url}/static/vendor/twilio-voice.min.js"]  # our origin
        (listen,) = await signalling.wait_for("listen")
        grants = Jwt.from_jwt(listen["token"], KEY_SECRET).payload["grants"]
        assert grants["identity"].startswith("agent-")
        assert grants["voice"]["incoming"] == {"allow": True}
        (register,) = await signalling.wait_for("register")
        assert register == {"media": {"audio": True}}

        # 12 s tokens: the console fetches a new one and hands it to the same Device.
        first = Jwt.from_jwt(listen["token"], KEY_SECRET).payload
        again = (await signalling.wait_for("listen", 2))[1]
        fresh = Jwt.from_jwt(again["token"], KEY_SECRET).payload
        assert fresh["grants"]["identity"] == first["grants"]["identity"]
        assert fresh["exp"] > first["exp"]
        assert len(signalling.sockets) == 1  # (updateToken: no new connection)

        # Twilio's error is shown as the SDK words it; losing signalling shows "offline".
        await signalling.send("error", {"error": {"code": 31005, "message": "stand-in says no"}})
        await expect(page.locator("#sp-error")).to_contain_text("31005")
        signalling.refuse = True
        await signalling.sockets[-1].close()
        await expect(state).to_have_text("offline")
        assert await page.evaluate("window.__csp") == []
        assert errors == [] and dialogs == []
    finally:
        await context.close()


async def test_an_agent_with_a_phone_number_gets_no_softphone(
    server: Server, browser: Browser, signalling: Signalling
) -> None:
    await make_user(server.db, "alice", capacity={"voice": 1})
    http = Http(server)
    await http.call("POST", "/api/login", {"username": "alice", "password": PASSWORD})
    await http.call("PUT", "/api/voice/device", {"phone": "+14155550100"})
    await http.close()
    asked: list[str] = []
    context = await _context(browser)
    try:
        page = await watched_page(context, [], [])

        def seen(r: Request) -> None:
            if "/api/voice/" in r.url:
                asked.append(r.url.removeprefix(server.url))

        page.on("request", seen)
        async with page.expect_response(lambda r: r.url.endswith("/api/voice/device")):
            await sign_in(page, server.url, "alice", PASSWORD)
        await asyncio.sleep(0.5)  # (what would follow the device read: nothing should)
        assert asked == ["/api/voice/device"]  # no token asked for
        await expect(page.locator("#softphone")).to_be_hidden()
        assert signalling.received == []
    finally:
        await context.close()


async def _invite(page: Any, signalling: Signalling, call_sid: str) -> None:
    """Twilio's call to client:agent-<id> (the conference adding the agent) as an invite."""
    params = {"CallSid": call_sid, "From": CALLER, "To": "client:agent"}
    sdp = await page.evaluate(OFFER)
    await signalling.send("invite", {"callsid": call_sid, "sdp": sdp, "parameters": params})


async def test_the_call_just_accepted_is_taken_by_the_softphone_without_a_second_click(
    server: Server,
    mic_browser: Browser,
    signalling: Signalling,
    hooks: Webhooks,
    twilio_api: TwilioApi,
) -> None:
    await make_user(server.db, "alice", capacity={"voice": 1})
    errors: list[str] = []
    context = await _context(mic_browser, "microphone")
    try:
        page = await watched_page(context, errors, [])
        await sign_in(page, server.url, "alice", PASSWORD)
        await expect(page.locator("#sp-state")).to_have_text("ready")
        await go_available(page)
        await accept_in_console(page, hooks, CALLER)
        (added,) = await twilio_api.wait_for("/Participants.json")
        assert added.form["To"].startswith("client:agent-")

        await _invite(page, signalling, "CA" + "77" * 16)
        (answer,) = await signalling.wait_for("answer")  # accepted: no Answer click
        assert answer["callsid"] == "CA" + "77" * 16
        assert "m=audio" in answer["sdp"]
        # The SDK calls the call open once its answer is sent. That is not audio: nothing
        # answers ICE here, and no test here shows that anyone hears anyone.
        await expect(page.locator("#sp-state")).to_have_text("on a call")
        await expect(page.locator("#sp-answer")).to_be_hidden()
        await page.locator("#sp-mute").click()
        await expect(page.locator("#sp-mute")).to_have_text("Unmute")
        await page.locator("#sp-hangup").click()
        (hangup,) = await signalling.wait_for("hangup")
        assert hangup["callsid"] == "CA" + "77" * 16
        await expect(page.locator("#sp-state")).to_have_text("ready")
        await expect(page.locator("#sp-mute")).to_be_hidden()
        assert await page.evaluate("window.__csp") == []
        assert errors == []
    finally:
        await context.close()


async def test_a_refused_microphone_is_told_plainly(
    server: Server,
    mic_browser: Browser,
    signalling: Signalling,
    hooks: Webhooks,
) -> None:
    await make_user(server.db, "alice", capacity={"voice": 1})
    context = await _context(mic_browser)  # (no microphone permission: the browser refuses)
    try:
        page = await watched_page(context, [], [])
        await sign_in(page, server.url, "alice", PASSWORD)
        await expect(page.locator("#sp-state")).to_have_text("ready")
        await go_available(page)
        await accept_in_console(page, hooks, CALLER)
        await _invite(page, signalling, "CA" + "78" * 16)
        await expect(page.locator("#sp-error")).to_contain_text("refused the microphone")
        assert signalling.of("answer") == []
    finally:
        await context.close()


async def test_a_call_the_agent_did_not_just_accept_waits_for_answer(
    server: Server, mic_browser: Browser, signalling: Signalling
) -> None:
    await make_user(server.db, "alice", capacity={"voice": 1})
    context = await _context(mic_browser, "microphone")
    try:
        page = await watched_page(context, [], [])
        await sign_in(page, server.url, "alice", PASSWORD)
        await expect(page.locator("#sp-state")).to_have_text("ready")
        await _invite(page, signalling, "CA" + "79" * 16)
        await expect(page.locator("#sp-state")).to_have_text("incoming call")
        assert signalling.of("answer") == []
        await page.locator("#sp-answer").click()
        (answer,) = await signalling.wait_for("answer")
        assert answer["callsid"] == "CA" + "79" * 16
    finally:
        await context.close()


async def test_a_supervisor_listens_on_the_boards_softphone(
    server: Server,
    mic_browser: Browser,
    signalling: Signalling,
    hooks: Webhooks,
    twilio_api: TwilioApi,
) -> None:
    """A supervisor with no phone number: the board registers a softphone, Listen adds it
    to the conference, and the leg Twilio places is taken without a second click."""
    sue = await make_user(server.db, "sue", role=Role.SUPERVISOR, capacity={})
    ann = await signed_in_agent(server, "ann", capacity={"voice": 1})
    console = VoiceConsole(ann)
    errors: list[str] = []
    context = await _context(mic_browser, "microphone")
    try:
        await console.connect()
        _call, iid, _cf, _leg = await bridged_call(hooks, twilio_api, ann, console, CALLER)
        page = await signed_in_supervisor(context, server.url, errors, [])
        await expect(page.locator("#sp-state")).to_have_text("ready")
        (listen,) = await signalling.wait_for("listen")
        grants = Jwt.from_jwt(listen["token"], KEY_SECRET).payload["grants"]
        assert grants["identity"] == f"agent-{sue.id}"

        row = page.locator(f"#calls tbody tr[data-id='{iid}']")
        await row.locator(".monitor-listen").click()
        await expect(row.locator(".monitor-state")).to_have_text("you are listening")
        (added,) = [
            r
            for r in twilio_api.posts(f"/Conferences/center-call-{iid}/Participants.json")
            if r.form["Label"].startswith("supervisor-")
        ]
        assert added.form["To"] == f"client:agent-{sue.id}" and added.form["Muted"] == "true"
        await _invite(page, signalling, "CA" + "80" * 16)
        (answer,) = await signalling.wait_for("answer")  # taken: no Answer click
        assert answer["callsid"] == "CA" + "80" * 16
        await expect(page.locator("#sp-state")).to_have_text("on a call")
        assert await page.evaluate("window.__csp") == []
        assert errors == []
    finally:
        await context.close()
        await console.close()
        await ann.close()
