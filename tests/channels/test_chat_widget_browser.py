"""The customer's chat widget in a real browser (Debian Chromium) against the real server
(issue 9, item 18): an ended chat looks ended, nothing can be typed into it until the
customer asks for a new one, and a reload shows the transcript the customer saw live
(agent's name, queue and joined notes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import func, select

from center.config import Settings
from center.records.models import Interaction
from tests.agent_ui.test_browser import go_available, sign_in
from tests.browser import TIMEOUT_MS, watch
from tests.support import PASSWORD, Agent, Customer, Server, make_user, signed_in_agent

pytestmark = pytest.mark.browser
QUEUED = "You are number 1 in the queue."


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A reload is no departure (the suite's 0.2 s grace is shorter than a browser's reload).
    return settings.model_copy(update={"chat_abandon_grace_s": 60.0})


@asynccontextmanager
async def _page(browser: Browser, url: str | None = None) -> AsyncIterator[Page]:
    """A page in its own browser context (optionally at the chat widget, connected) that
    must end with no uncaught error and no dialog."""
    errors: list[str] = []
    dialogs: list[str] = []
    ctx = await browser.new_context()
    try:
        page = await ctx.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        watch(page, errors, dialogs)
        if url is not None:
            await page.goto(f"{url}/chat")
            await expect(page.locator("#status")).to_have_text("connected")
        yield page
        assert errors == [] and dialogs == []
    finally:
        await ctx.close()


async def _chats(server: Server) -> int:
    async with server.db.read() as s:
        return await s.scalar(select(func.count()).select_from(Interaction))


async def _transcript(page: Page) -> list[str]:
    return await page.locator("#log > div").all_inner_texts()


async def _reload_shows_the_same(page: Page, status: str) -> list[str]:
    before = await _transcript(page)
    await page.reload()
    await expect(page.locator("#status")).to_have_text(status)
    await expect(page.locator("#log > div")).to_have_text(before)
    return before


async def _accept(alice: Agent) -> int:
    offer = await alice.next("offer")
    assert (await alice.call("accept", {"interaction_id": offer["id"]}))["ok"]
    return offer["id"]


async def _expect_ended(page: Page, note: str, status: str) -> None:
    await expect(page.locator("#log")).to_contain_text(note)
    await expect(page.locator("#status")).to_have_text(status)
    await expect(page.locator("#text")).to_be_disabled()
    await expect(page.locator("#send")).to_be_disabled()
    await expect(page.locator("#restart")).to_be_visible()
    await expect(page.locator("#leave")).to_be_hidden()


async def test_reload_keeps_the_transcript_and_a_closed_chat_stays_closed(
    server: Server, browser: Browser, tmp_path: Path
) -> None:
    alice = await signed_in_agent(server, "alice", available=False)
    try:
        async with _page(browser, server.url) as page:
            await page.fill("#text", "Hi, my parcel is late")
            await page.click("#send")
            await expect(page.locator("#log .muted")).to_have_text([QUEUED])
            await expect(page.locator("#log .msg.pending")).to_have_count(0)
            await _reload_shows_the_same(page, "connected")

            await alice.available()
            iid = await _accept(alice)
            await expect(page.locator("#status")).to_have_text("with an agent")
            sent = await alice.call("message", {"interaction_id": iid, "text": "Let me check."})
            assert sent["ok"], sent
            await expect(page.locator("#log .msg.outbound")).to_have_text(["alice: Let me check."])
            seen = await _reload_shows_the_same(page, "with an agent")
            assert seen == [
                "Hi, my parcel is late",
                QUEUED,
                "alice joined the chat.",
                "alice: Let me check.",
            ]

            closed = await alice.call(
                "close", {"interaction_id": iid, "note": "", "disposition": ""}
            )
            assert closed["ok"], closed
            await _expect_ended(page, "The agent closed this chat. Thank you!", "closed")
            await page.screenshot(path=str(tmp_path / "closed.png"), full_page=True)
            assert await _chats(server) == 1  # nothing typed can open one behind the status

            await page.click("#restart")
            await expect(page.locator("#log > div")).to_have_count(0)
            await expect(page.locator("#text")).to_be_enabled()
            await expect(page.locator("#restart")).to_be_hidden()
            await page.fill("#text", "One more question")
            await page.click("#send")
            await expect(page.locator("#log .muted")).to_have_text([QUEUED])
            assert await _chats(server) == 2
    finally:
        await alice.close()


async def test_end_chat_ends_it_on_screen_and_the_agents_late_words_stay_out(
    server: Server, browser: Browser, tmp_path: Path
) -> None:
    alice = await signed_in_agent(server, "alice")
    try:
        async with _page(browser, server.url) as page:
            await page.fill("#text", "Never mind")
            await page.click("#send")
            iid = await _accept(alice)
            await expect(page.locator("#status")).to_have_text("with an agent")

            await page.click("#leave")
            await _expect_ended(page, "You left the chat.", "left")
            assert (await alice.next("customer_left"))["interaction_id"] == iid
            await page.screenshot(path=str(tmp_path / "left.png"), full_page=True)
            # The agent, not having seen it yet, writes into the chat the customer has left.
            late = await alice.call("message", {"interaction_id": iid, "text": "Still there?"})
            assert late["ok"], late
            await page.click("#restart")
            await page.fill("#text", "A new question")
            await page.click("#send")
            # Its queue note comes after the agent's message on the same socket: by then
            # the late message has arrived, and it is not shown in the new chat.
            await expect(page.locator("#log .muted")).to_have_text([QUEUED])
            await expect(page.locator("#log > div")).to_have_text(["A new question", QUEUED])
            new_iid = (await alice.next("offer"))["id"]
            assert new_iid != iid  # a new chat, not a message appended to the one they left

            # A reload after leaving shows the new chat, not the one they left.
            await _reload_shows_the_same(page, "connected")
    finally:
        await alice.close()


async def test_the_agent_console_marks_a_claimed_email_unverified(
    server: Server, browser: Browser, tmp_path: Path
) -> None:
    await make_user(server.db, "alice")
    customer = Customer(server.url)
    try:
        async with _page(browser) as page:
            await sign_in(page, server.url, "alice", PASSWORD)
            await go_available(page)
            await customer.connect(name="Dana", email="Dana@Example.com")  # typed, not proved
            await customer.say("I want a refund to a new card")
            await page.locator("#offers .offer .accept").click()
            panel = page.locator("#panes .pane .customer")
            await expect(panel).to_have_text("Dana · email: dana@example.com (unverified)")
            await page.screenshot(path=str(tmp_path / "agent-unverified.png"), full_page=True)
    finally:
        await customer.close()
