"""The article editor (/kb/editor) in a real browser (Debian Chromium, headless): an editor
opens a draft, attaches an image (the Markdown link lands in the body), publishes it (the
help center shows it), and unpublishes it again (the help center hides it)."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser import TIMEOUT_MS
from tests.knowledge_base.conftest import KbServer

PNG = b"\x89PNG\r\n\x1a\n fake image"

pytestmark = pytest.mark.browser


async def help_status(kb_server: KbServer, slug: str) -> int:
    async with kb_server.anonymous.get(f"{kb_server.url}/help/articles/{slug}") as r:
        return r.status


async def open_editor(kb_server: KbServer, browser: Browser, errors: list[str]) -> Page:
    context = await browser.new_context()
    # Playwright's request context shares the cookie jar with the pages.
    login = {"username": "editor", "password": "correct horse battery"}
    response = await context.request.post(f"{kb_server.url}/api/login", data=login)
    assert response.ok
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{kb_server.url}/kb/editor")
    return page


async def test_attach_publish_and_unpublish(kb_server: KbServer, browser: Browser) -> None:
    draft = {"slug": "kiosk-mode", "title": "Kiosk mode", "body_md": "Start the kiosk."}
    async with kb_server.admin.post(f"{kb_server.url}/api/kb/articles", json=draft) as r:
        assert r.status == 201
    assert await help_status(kb_server, "kiosk-mode") == 404
    errors: list[str] = []
    page = await open_editor(kb_server, browser, errors)
    try:
        await page.locator("#list li", has_text="Kiosk mode").click()
        await expect(page.locator("#state")).to_have_text("draft")
        publish = page.locator("#publish")
        await expect(publish).to_have_text("Publish")

        await page.set_input_files(
            "#file", files=[{"name": "screen.png", "mimeType": "image/png", "buffer": PNG}]
        )
        await expect(page.locator("#status")).to_contain_text("Attached screen.png")
        body = page.locator("textarea[name=body_md]")
        link = re.compile(r"^Start the kiosk\.\n!\[screen\.png\]\(/api/kb/attachments/\d+\)$")
        await expect(body).to_have_value(link)
        await expect(page.locator("#state")).to_have_text("draft (unsaved changes)")

        # Publishing saves the edit first: the help center shows the body with the image.
        await publish.click()
        await expect(page.locator("#state")).to_have_text("published")
        await expect(publish).to_have_text("Unpublish")
        assert await help_status(kb_server, "kiosk-mode") == 200
        async with kb_server.anonymous.get(f"{kb_server.url}/help/articles/kiosk-mode") as r:
            assert "/api/kb/attachments/" in await r.text()

        # Too large for the 5 MB limit: refused with a message, the body is unchanged.
        big = {"name": "big.bin", "mimeType": "application/octet-stream"}
        await page.set_input_files("#file", files=[{**big, "buffer": b"x" * (5 * 1024 * 1024 + 1)}])
        await expect(page.locator("#status")).to_contain_text("too large")

        await publish.click()
        await expect(page.locator("#state")).to_have_text("draft")
        await expect(publish).to_have_text("Publish")
        assert await help_status(kb_server, "kiosk-mode") == 404
        assert errors == []
    finally:
        await page.context.close()
