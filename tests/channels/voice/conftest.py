"""Voice tests: the real server with Twilio configured against the REST stand-in, an IVR
file, and helpers to walk a call through it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Locator, Page, expect
from pydantic import SecretStr
from sqlalchemy import select

from center.config import Settings
from center.records.models import Event, User
from tests.support import Agent, Server
from tests.twilio_support import (  # noqa: F401
    AUTH_TOKEN,
    Webhooks,
    sid,
    twilio_api,
    voice_call,
    with_twilio,
)

IVR = """
languages: [en-US, fr-FR]
max_tries: 2
csat: true
greeting: Welcome to Example.
known_caller: Hello {name}.
menus:
  main:
    prompt:
      en-US: For sales press 1. For a quick answer press 2. To leave a message press 3.
      fr-FR: Pour les ventes tapez 1.
    options:
      - digit: 1
        say: [sales, buy]
        queue: default
        priority: 3
      - digit: 2
        kb: true
        fallback: default
      - digit: 3
        voicemail: true
      - digit: 9
        language: fr-FR
    default: default
"""


@pytest.fixture
def ivr_text() -> str:
    return IVR


@pytest.fixture
def settings(settings: Settings, twilio_api: Any, tmp_path: Path, ivr_text: str) -> Settings:  # noqa: F811
    path = tmp_path / "ivr.yaml"
    path.write_text(ivr_text)
    # (the token as the setting's type: model_copy does not validate)
    return with_twilio(settings, twilio_api, ivr_file=path, twilio_auth_token=SecretStr(AUTH_TOKEN))


@pytest.fixture
async def hooks(server: Server) -> AsyncIterator[Webhooks]:
    h = Webhooks(server.url)
    try:
        yield h
    finally:
        await h.close()


class VoiceConsole(Agent):
    """The /voice namespace of a signed-in agent (its cookie)."""

    namespace = "/voice"

    def __init__(self, agent: Agent) -> None:
        super().__init__(agent.url)
        self.cookie = agent.cookie

    async def connect(self) -> dict[str, Any]:
        await self.sio.connect(
            self.url,
            namespaces=[self.namespace],
            transports=["websocket"],
            headers={"Cookie": self.cookie},
            wait_timeout=10,
        )
        return {}


async def bridged_call(
    hooks: Webhooks, api: Any, agent: Agent, console: Agent, caller: str
) -> tuple[str, int, str, str]:
    """A call walked through the IVR to ``agent`` (available), accepted and bridged, its
    conference started: (caller CallSid, interaction id, conference sid, agent leg sid)."""
    from tests.twilio_support import ACCOUNT_SID, sid, voice_call

    call = sid("CA")
    await hooks.post("/twilio/voice", voice_call(call, from_=caller))
    await hooks.post(
        "/twilio/voice/ivr?menu=main&tries=0",
        voice_call(call, "in-progress", from_=caller, Digits="1"),
    )
    offer = await agent.next("offer")
    iid = offer["id"]
    assert (await agent.call("accept", {"interaction_id": iid}))["ok"]
    state = await console.next("call")
    assert state["stage"] == "bridged", state
    leg = next(x["call_sid"] for x in state["legs"] if x["role"] == "agent")
    cf = api.add_conference(f"center-call-{iid}")
    api.add_participant(cf, call)
    api.add_participant(cf, leg)
    r = await hooks.post(
        "/twilio/voice/conference",
        {
            "AccountSid": ACCOUNT_SID,
            "ConferenceSid": cf,
            "FriendlyName": f"center-call-{iid}",
            "StatusCallbackEvent": "conference-start",
        },
    )
    assert r.status == 200
    return call, iid, cf, leg


async def accept_in_console(page: Page, hooks: Webhooks, caller: str) -> tuple[str, Locator]:
    """A caller presses 1 for sales; the (available) agent in ``page`` clicks Accept on the
    offer. The caller's call sid and the call's pane."""
    call = sid("CA")
    await hooks.post("/twilio/voice", voice_call(call, from_=caller))
    await hooks.post(
        "/twilio/voice/ivr?menu=main&tries=0",
        voice_call(call, "in-progress", from_=caller, Digits="1"),
    )
    offer = page.locator("#offers .offer")
    await expect(offer.locator(".title")).to_contain_text("Incoming voice")
    await offer.locator(".accept").click()
    pane = page.locator("#panes .pane")
    await expect(pane.locator(".title")).to_contain_text("Call #")
    return call, pane


async def presences_of(server: Server, username: str) -> list[tuple[str, str | None]]:
    """The agent's presence changes as the log has them: (presence, reason), oldest first."""
    async with server.db.read() as s:
        data = await s.scalars(
            select(Event.data)
            .join(User, User.id == Event.actor_id)
            .where(User.username == username, Event.type == "agent.presence_changed")
            .order_by(Event.id)
        )
        return [(d["presence"], d["reason"]) for d in data]


async def told_set_away(
    server: Server, console: Agent, username: str, *, unreachable: bool = False
) -> None:
    """The agent's phone did not answer (or Twilio could not call it): their console is told
    the call went back to the queue and that they are away, which the log records."""
    why = "your phone could not be reached" if unreachable else "your phone did not answer"
    told = await console.next("call_error")
    assert told["error"] == (
        f"{why}: the call went back to the queue; you are away until you choose Available"
    )
    reason = "phone_unreachable" if unreachable else "phone_not_answered"
    assert (await presences_of(server, username))[-1] == ("away", reason)
