"""The console's SMS pane in a real browser: a text arrives, the agent answers, the pane
follows its delivery to "delivered", and a STOP makes the next reply a clear refusal; a
reply Twilio refused is resent from the pane."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from playwright.async_api import Browser, Page, Route, expect

from tests.agent_ui.test_browser import go_available, sign_in
from tests.browser import watched_page
from tests.channels.sms.support import callback, text
from tests.support import PASSWORD, Server, make_user
from tests.twilio_support import TwilioApi, Webhooks

pytestmark = pytest.mark.browser
MEDIA = "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM1/Media/ME1"


@asynccontextmanager
async def sms_agent(server: Server, browser: Browser) -> AsyncIterator[Page]:
    """Alice (two texts at a time) in the agent console, available; at the end no page
    error or dialog (an injected alert() would open one) happened, and it is closed."""
    await make_user(server.db, "alice", capacity={"sms": 2})
    errors: list[str] = []
    dialogs: list[str] = []
    context = await browser.new_context()
    try:
        agent = await watched_page(context, errors, dialogs)
        await sign_in(agent, server.url, "alice", PASSWORD)
        await go_available(agent)
        yield agent
        assert errors == [] and dialogs == []
    finally:
        await context.close()


async def test_sms_pane_shows_delivery_media_and_opt_out(
    server: Server, browser: Browser, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    async with sms_agent(server, browser) as agent:
        await text(hooks, "<b>photo</b> of the damage", media=[(MEDIA, "image/jpeg")])
        offer = agent.locator("#offers .offer")
        await expect(offer.locator(".title")).to_contain_text("Incoming sms")
        await offer.locator(".accept").click()
        pane = agent.locator("#panes .pane")
        await expect(pane.locator(".title")).to_contain_text("SMS #")
        inbound = pane.locator(".log .msg.inbound")
        await expect(inbound).to_contain_text("<b>photo</b> of the damage")
        link = inbound.locator("a.media")
        await expect(link).to_have_attribute("href", MEDIA)
        assert await pane.locator("b").count() == 0

        await pane.locator(".text").fill("Thanks, a replacement is on its way.")
        await pane.locator(".send button").click()
        outbound = pane.locator(".log .msg.outbound")
        await expect(outbound).to_contain_text("Thanks, a replacement is on its way.")
        [sent] = await twilio_api.wait_for("Messages.json")
        [sid] = twilio_api.messages
        assert await callback(hooks, sent, sid, "delivered") == 200
        await expect(outbound.locator(".delivery")).to_have_text("delivered")

        await text(hooks, "STOP")
        await expect(pane.locator(".notice")).to_contain_text("opted out (STOP)")
        await pane.locator(".text").fill("One more thing")
        await pane.locator(".send button").click()
        await expect(agent.locator("#error")).to_contain_text("opted out of SMS")
        assert len(twilio_api.posts("Messages.json")) == 1


@pytest.mark.parametrize("push_first", [False, True], ids=["answer_first", "push_first"])
async def test_a_refused_reply_is_resent_from_the_pane(
    server: Server, browser: Browser, hooks: Webhooks, twilio_api: TwilioApi, push_first: bool
) -> None:
    async with sms_agent(server, browser) as agent:
        await text(hooks, "is my order shipped?")
        offer = agent.locator("#offers .offer")
        await offer.locator(".accept").click()
        pane = agent.locator("#panes .pane")
        await expect(pane.locator(".title")).to_contain_text("SMS #")

        # Twilio refuses the number (4xx): the outbox gives up at once, the pane says why.
        twilio_api.fail_next("Messages", 400, 21211, "The 'To' number is not a valid phone number.")
        await pane.locator(".text").fill("Yes, it left this morning.")
        await pane.locator(".send button").click()
        outbound = pane.locator(".log .msg.outbound")
        await expect(outbound.locator(".delivery")).to_contain_text("not sent")
        await expect(outbound.locator(".delivery")).to_contain_text("21211")
        assert twilio_api.messages == {}

        if push_first:
            # The worker sends and pushes "sent" before the resend's answer reaches the page
            # (held here until the push is shown): the late answer must not say "queued".
            async def hold(route: Route) -> None:
                answer = await route.fetch()
                await expect(outbound.locator(".delivery")).to_have_text("sent")
                await route.fulfill(response=answer)

            await agent.route("**/api/outbox/*/resend", hold)
            async with agent.expect_response("**/api/outbox/*/resend") as answered:
                await outbound.locator(".resend").click()
            assert (await answered.value).status == 202
            await agent.evaluate("() => new Promise((r) => setTimeout(r, 100))")
        else:
            await outbound.locator(".resend").click()
        await expect(outbound.locator(".delivery")).to_have_text("sent")
        await expect(outbound.locator(".resend")).to_have_count(0)
        sends = twilio_api.posts("Messages.json")
        assert len(sends) == 2 and sends[1].form["Body"] == "Yes, it left this morning."
        assert len(twilio_api.messages) == 1
