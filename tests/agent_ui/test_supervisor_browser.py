"""The supervisor console in a real browser (Debian Chromium, headless): sign in, watch a
waiting chat appear with a ticking wait, and see agents with their presence and reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from center.records.enums import Role
from center.records.users import create_user
from tests.agent_ui.routing_support import Desk
from tests.agent_ui.test_browser import XSS
from tests.browser import TIMEOUT_MS, watch
from tests.support import PASSWORD, Agent, Server, make_user, signed_in_agent

pytestmark = pytest.mark.browser


async def signed_in_supervisor(
    ctx: BrowserContext, url: str, errors: list[str], dialogs: list[str], username: str = "sue"
) -> Page:
    """The supervisor console after signing in, watched for page errors and dialogs."""
    page = await ctx.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    watch(page, errors, dialogs)
    await page.goto(f"{url}/supervisor")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#signin")
    return page


async def test_supervisor_watches_queues_and_agents(
    server: Server, desk: Desk, browser: Browser, tmp_path: Path
) -> None:
    await make_user(server.db, "sue", role=Role.SUPERVISOR)
    # An agent whose name looks like HTML: shown as text, never parsed.
    await create_user(server.db, "mallory", PASSWORD, display_name=XSS, capacity={"chat": 2})
    errors: list[str] = []
    dialogs: list[str] = []
    ctx = await browser.new_context()
    try:
        page = await signed_in_supervisor(ctx, server.url, errors, dialogs)
        await expect(page.locator("#console")).to_be_visible()
        await expect(page.locator("#who")).to_contain_text("sue (supervisor)")
        await expect(page.locator("#live")).to_contain_text("live")

        customer = desk.customer()
        await customer.connect()
        assert (await customer.say("is anyone there?"))["ok"]
        row = page.locator("#queues tbody tr", has_text="chat").first
        await expect(row.locator("td").nth(0)).to_have_text("default")
        await expect(row.locator("td").nth(2)).to_have_text("1")
        # The longest wait ticks between pushes.
        await expect(row.locator("td").nth(4)).not_to_have_text("0:00")

        ann = await signed_in_agent(server, "ann", available=False)
        desk.clients.append(ann)
        assert (await ann.call("presence", {"presence": "away", "reason": "lunch"}))["ok"]
        mallory = Agent(server.url)
        desk.clients.append(mallory)
        assert (await mallory.login("mallory")).status == 200
        await mallory.connect()
        await mallory.available()

        agents = page.locator("#agents tbody")
        await expect(agents.locator("tr", has_text="ann")).to_contain_text("Away lunch")
        hostile = agents.locator("tr", has_text="is this safe?")
        await expect(hostile.locator("td").nth(0)).to_have_text(XSS)
        # Mallory took the waiting chat's offer: load shows against her capacity.
        await expect(hostile).to_contain_text("chat 1/2")
        assert await page.locator("img").count() == 0

        # Idle channels are hidden until asked for (the default queue takes all four).
        await expect(page.locator("#queues tbody tr")).to_have_count(1)
        await page.check("#show-idle")
        await expect(page.locator("#queues tbody tr")).to_have_count(4)
        await expect(page.locator("#queues tbody tr.idle", has_text="voice")).to_have_count(1)
        await expect(row.locator("td").nth(4)).not_to_have_text("")  # re-drawn at once

        await page.screenshot(path=str(tmp_path / "supervisor.png"), full_page=True)
        assert dialogs == [] and errors == []
    finally:
        await ctx.close()


async def test_an_agent_is_told_the_console_is_for_supervisors(
    server: Server, browser: Browser
) -> None:
    await make_user(server.db, "ann")
    ctx = await browser.new_context()
    try:
        page = await signed_in_supervisor(ctx, server.url, [], [], username="ann")
        await expect(page.locator("#error")).to_contain_text("for supervisors")
        await expect(page.locator("#queues tbody tr")).to_have_count(0)
    finally:
        await ctx.close()


async def test_the_history_chart_shows_todays_handled_chat(
    server: Server, desk: Desk, browser: Browser, tmp_path: Path
) -> None:
    await make_user(server.db, "sue", role=Role.SUPERVISOR)
    ann = await desk.agent("ann")
    iid = await desk.chat_assigned_to(ann)
    assert (await ann.call("close", {"interaction_id": iid, "note": ""}))["ok"]
    errors: list[str] = []
    dialogs: list[str] = []
    ctx = await browser.new_context()
    try:
        page = await signed_in_supervisor(ctx, server.url, errors, dialogs)

        # Today, per hour: one bar for the hour the chat came in, the others empty.
        await expect(page.locator("#h-caption")).to_contain_text("Today, per hour")
        await expect(page.locator("#h-caption")).to_contain_text("1 entered")
        bar = page.locator('#h-chart rect.bar[data-entered="1"]')
        await expect(bar).to_have_count(1)
        assert float(await bar.get_attribute("height") or 0) > 0
        busy = page.locator("#h-chart g.bucket", has=page.locator('rect.bar[data-entered="1"]'))
        title = await busy.locator("title").text_content()
        assert title is not None and "1 entered, 1 answered (1 within the threshold)" in title
        assert "service level 100%" in title
        await expect(page.locator("#h-chart path.sl")).to_have_count(1)

        # The same figures in the table, once it is opened.
        await page.click("#h-table >> xpath=ancestor::details/summary")
        row = page.locator("#h-table tbody tr", has=page.locator("td:nth-child(2)", has_text="1"))
        await expect(row).to_have_count(1)
        cells = row.locator("td")
        for i, text in enumerate(["1", "1", "1", "0", "100%", "0%"], start=1):
            await expect(cells.nth(i)).to_have_text(text)

        # The filters: the queue select offers the live board's queues; email saw nothing.
        await expect(page.locator("#h-queue option", has_text="default")).to_have_count(1)
        await page.select_option("#h-channel", "email")
        await expect(page.locator("#h-caption")).to_contain_text("email · 0 entered")
        await expect(bar).to_have_count(0)
        await page.select_option("#h-channel", "")
        await page.select_option("#h-range", "7")
        await expect(page.locator("#h-caption")).to_contain_text("Last 7 days, per day")
        await expect(page.locator("#h-chart rect.bar")).to_have_count(7)
        await expect(bar).to_have_count(1)

        await page.screenshot(path=str(tmp_path / "history.png"), full_page=True)
        assert dialogs == [] and errors == []
    finally:
        await ctx.close()
