"""A call in the agent console (real browser): offered, accepted, bridged by REST; the
pane shows the call, puts the caller on hold, and says so when Twilio refuses."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.agent_ui.test_browser import go_available, sign_in
from tests.browser import watched_page
from tests.channels.voice.conftest import accept_in_console
from tests.support import PASSWORD, Server, make_user
from tests.twilio_support import ACCOUNT_SID, TwilioApi, Webhooks

pytestmark = pytest.mark.browser
CALLER = "+14155550133"


async def test_a_call_in_the_console_is_bridged_held_and_refusals_shown(
    server: Server, browser: Browser, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    await make_user(server.db, "alice", capacity={"voice": 1})
    errors: list[str] = []
    dialogs: list[str] = []
    context = await browser.new_context()
    try:
        agent = await watched_page(context, errors, dialogs)
        # No softphone key in this centre: the token is refused (409) and no softphone shows.
        async with agent.expect_response(lambda r: r.url.endswith("/api/voice/token")) as got:
            await sign_in(agent, server.url, "alice", PASSWORD)
        assert (await got.value).status == 409
        await go_available(agent)
        await expect(agent.locator("#softphone")).to_be_hidden()

        call, pane = await accept_in_console(agent, hooks, CALLER)
        await expect(pane.locator(".call-state")).to_contain_text("bridged")
        await expect(pane.locator(".call-state")).to_contain_text("agent")
        assert await pane.locator(".send").count() == 0
        (added,) = await twilio_api.wait_for("/Participants.json")
        assert added.form["To"].startswith("client:agent-")

        iid = (await pane.get_attribute("data-id")) or ""
        cf = twilio_api.add_conference(f"center-call-{iid}")
        twilio_api.add_participant(cf, call)
        await hooks.post(
            "/twilio/voice/conference",
            {
                "AccountSid": ACCOUNT_SID,
                "ConferenceSid": cf,
                "FriendlyName": f"center-call-{iid}",
                "StatusCallbackEvent": "conference-start",
            },
        )
        await pane.locator(".call-hold").click()
        await expect(pane.locator(".call-state")).to_contain_text("on hold")
        await expect(pane.locator(".call-hold")).to_have_text("Resume")
        (held,) = twilio_api.posts(f"/Conferences/{cf}/Participants/{call}.json")
        assert held.form["Hold"] == "true"

        twilio_api.fail_next("/Participants/", 500, 20500, "Internal Server Error")
        await pane.locator(".call-hold").click()
        await expect(pane.locator(".call-error")).to_contain_text("Internal Server Error")
        await expect(pane.locator(".call-hold")).to_have_text("Resume")  # still on hold
        assert errors == [] and dialogs == []
    finally:
        await context.close()
