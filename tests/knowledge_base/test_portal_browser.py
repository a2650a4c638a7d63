"""The help centre in a real browser (Debian Chromium, headless): suggestions appear while
the customer types, and the feedback buttons are answered in place, under the page's
Content-Security-Policy (no inline script or style)."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select

from center.knowledge_base.models import Feedback
from tests.browser import TIMEOUT_MS
from tests.knowledge_base.conftest import KbServer

pytestmark = pytest.mark.browser


async def test_suggestions_as_you_type_and_feedback_in_place(
    kb_server: KbServer, browser: Browser
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # (The browser's own favicon request is the one 404 a page may cause.)
    page.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    await page.goto(f"{kb_server.url}/help")
    await page.locator("form.search input[type=search]").press_sequentially("charged twise")
    first = page.locator("#suggestions a").first
    await expect(first).to_be_visible()
    await expect(first).to_have_attribute("href", "/help/articles/charged-twice")
    await first.click()
    await expect(page.locator("article h1")).to_have_text("I was charged twice")
    url = page.url
    await page.get_by_role("button", name="Yes").click()
    await expect(page.locator(".thanks")).to_have_text("Thanks for your feedback!")
    assert page.url == url  # answered in place, no reload
    await expect(page.locator("form.feedback")).to_have_count(0)
    async with kb_server.db.read() as session:
        assert [v.helpful for v in await session.scalars(select(Feedback))] == [True]
    assert errors == []
    await context.close()
