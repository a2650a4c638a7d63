"""The agent console and the chat widget in a real browser (Debian Chromium, headless).

One agent signs in through the form and goes available; a customer opens the chat page in a
separate browser context and writes; the agent accepts the offer, replies, sees the
customer's HTML-looking message as plain text, and closes with a wrap-up note.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser import TIMEOUT_MS, watched_page
from tests.support import PASSWORD, Server, make_user

XSS = "<img src=x onerror=alert(1)> is this safe?"

pytestmark = pytest.mark.browser


async def sign_in(page: Page, url: str, username: str, password: str) -> None:
    await page.goto(f"{url}/agent")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#signin")


async def go_available(page: Page) -> None:
    """Once the console's socket is up (the presence menu enabled), set the agent available."""
    await expect(page.locator("#presence")).to_be_enabled()
    await page.select_option("#presence", "available")
    await expect(page.locator("#presence")).to_have_value("available")


async def test_agent_and_customer_chat_in_the_browser(
    server: Server, browser: Browser, tmp_path: Path
) -> None:
    await make_user(server.db, "alice")
    errors: list[str] = []
    dialogs: list[str] = []
    agent_ctx = await browser.new_context()
    customer_ctx = await browser.new_context()
    try:
        agent = await watched_page(agent_ctx, errors, dialogs)
        await sign_in(agent, server.url, "alice", PASSWORD)
        await expect(agent.locator("#login")).to_be_hidden()
        await expect(agent.locator("#who")).to_contain_text("alice")
        await go_available(agent)

        customer = await watched_page(customer_ctx, errors, dialogs)
        await customer.goto(f"{server.url}/chat")
        await expect(customer.locator("#status")).to_have_text("connected")
        await customer.fill("#text", "Hi, my parcel is late")
        await customer.click("#send")
        await expect(customer.locator("#log .msg.inbound")).to_have_text(["Hi, my parcel is late"])
        # Their own message first, then where they are in the queue; confirmed once stored.
        await expect(customer.locator("#log > div").first).to_have_text("Hi, my parcel is late")
        await expect(customer.locator("#log .muted")).to_contain_text(["number 1 in the queue"])
        await expect(customer.locator("#log .msg.pending")).to_have_count(0)

        offer = agent.locator("#offers .offer")
        await expect(offer).to_have_count(1)
        await expect(offer.locator(".preview")).to_contain_text("parcel is late")
        await offer.locator(".accept").click()
        await expect(offer).to_have_count(0)
        pane = agent.locator("#panes .pane")
        await expect(pane).to_have_count(1)
        await expect(pane.locator(".log .msg.inbound")).to_have_text(["Hi, my parcel is late"])
        await expect(customer.locator("#status")).to_have_text("with an agent")

        await pane.locator(".text").fill("Sorry about that, let me check.")
        await pane.locator(".send button").click()
        await expect(pane.locator(".log .msg.outbound")).to_have_text(
            ["Sorry about that, let me check."]
        )
        await expect(customer.locator("#log .msg.outbound")).to_have_text(
            ["alice: Sorry about that, let me check."]
        )

        # Customer text that looks like HTML is shown as text, never parsed.
        await customer.fill("#text", XSS)
        await customer.click("#send")
        hostile = pane.locator(".log .msg.inbound").nth(1)
        await expect(hostile).to_have_text(XSS)
        await expect(hostile).to_be_visible()
        assert await pane.locator("img").count() == 0
        assert await agent.locator("img").count() == 0
        assert await customer.locator("#log img").count() == 0

        await agent.screenshot(path=str(tmp_path / "agent.png"), full_page=True)
        await pane.locator(".note").fill("parcel re-sent")
        await pane.locator(".disposition").fill("resolved")
        await pane.locator(".close").click()
        await expect(customer.locator("#log")).to_contain_text(
            "The agent closed this chat. Thank you!"
        )
        await expect(customer.locator("#status")).to_have_text("closed")
        await expect(pane).to_have_count(0)
        await expect(agent.locator("#error")).to_be_hidden()

        await agent.screenshot(path=str(tmp_path / "agent-closed.png"), full_page=True)
        await customer.screenshot(path=str(tmp_path / "customer.png"), full_page=True)
        assert dialogs == []
        assert errors == []
    finally:
        await agent_ctx.close()
        await customer_ctx.close()


async def test_wrong_password_shows_the_error(
    server: Server, browser: Browser, tmp_path: Path
) -> None:
    await make_user(server.db, "alice")
    ctx = await browser.new_context()
    try:
        page = await ctx.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        await sign_in(page, server.url, "alice", "not-the-password")
        await expect(page.locator("#login-error")).to_have_text("invalid username or password")
        await expect(page.locator("#login")).to_be_visible()
        await expect(page.locator("#console")).to_be_hidden()
        await page.screenshot(path=str(tmp_path / "login-error.png"), full_page=True)
    finally:
        await ctx.close()
