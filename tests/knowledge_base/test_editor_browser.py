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


async def test_slug_change_is_saved_and_unsaved_edits_warn(
    kb_server: KbServer, browser: Browser
) -> None:
    for slug, title in (("old-slug", "Renamed one"), ("other-one", "The other one")):
        body = {"slug": slug, "title": title, "body_md": "Text."}
        async with kb_server.admin.post(f"{kb_server.url}/api/kb/articles", json=body) as r:
            assert r.status == 201
            if slug == "old-slug":
                article_id = (await r.json())["id"]
    errors: list[str] = []
    page = await open_editor(kb_server, browser, errors)
    dialogs: list[tuple[str, str]] = []
    answer = {"accept": False}

    async def on_dialog(dialog) -> None:  # type: ignore[no-untyped-def]
        dialogs.append((dialog.type, dialog.message))
        await (dialog.accept() if answer["accept"] else dialog.dismiss())

    page.on("dialog", on_dialog)
    try:
        await page.locator("#list li", has_text="Renamed one").click()
        slug = page.locator("input[name=slug]")
        await expect(slug).to_have_value("old-slug")

        # A slug with a space is refused by the server, naming the problem.
        await slug.fill("new slug")
        await page.locator("#save").click()
        await expect(page.locator("#status")).to_contain_text("may use only lowercase")

        await slug.fill("new-slug")
        await page.locator("#save").click()
        await expect(page.locator("#status")).to_have_text("Saved (updated)")
        await expect(slug).to_have_value("new-slug")  # not reverted
        async with kb_server.admin.get(f"{kb_server.url}/api/kb/articles/{article_id}") as r:
            assert (await r.json())["slug"] == "new-slug"
        assert dialogs == []  # nothing unsaved: no question

        # An unsaved edit, then another article: asked first; "cancel" keeps the edit.
        title = page.locator("input[name=title]")
        await title.fill("Renamed one, edited")
        await page.locator("#list li", has_text="The other one").click()
        await expect(page.locator("#state")).to_have_text("draft (unsaved changes)")
        assert [d[0] for d in dialogs] == ["confirm"] and "unsaved" in dialogs[0][1]
        await expect(title).to_have_value("Renamed one, edited")
        await expect(slug).to_have_value("new-slug")

        # Leaving the page with the edit still unsaved: the browser's leave-page warning.
        answer["accept"] = True  # (leave: the page closes)
        async with page.expect_event("dialog") as leaving:
            await page.close(run_before_unload=True)
        assert (await leaving.value).type == "beforeunload"
        assert [d[0] for d in dialogs] == ["confirm", "beforeunload"]
        assert errors == []
    finally:
        await page.context.close()
