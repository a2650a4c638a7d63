"""The real browser for the console tests: Debian's Chromium driven by Playwright (never a
downloaded build). The ``browser`` fixture in tests/conftest.py skips where it is missing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HAVE_CHROMIUM = CHROMIUM.exists()  # checked once, at import: not on the event loop
TIMEOUT_MS = 10_000
expect.set_options(timeout=TIMEOUT_MS)


async def launch(*extra: str) -> AsyncIterator[Browser]:
    """Chromium with ARGS and ``extra`` (e.g. a fake microphone for the softphone)."""
    if not HAVE_CHROMIUM:
        pytest.skip(f"no Chromium at {CHROMIUM}")
    async with async_playwright() as pw:
        b = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=[*ARGS, *extra]
        )
        try:
            yield b
        finally:
            await b.close()


def watch(page: Page, errors: list[str], dialogs: list[str]) -> None:
    """Collect uncaught page errors and any dialog (an injected alert() would open one)."""
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    async def on_dialog(dialog):  # type: ignore[no-untyped-def]
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", on_dialog)


async def watched_page(context: BrowserContext, errors: list[str], dialogs: list[str]) -> Page:
    """A new page with the tests' timeout, its errors and dialogs collected (watch)."""
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    watch(page, errors, dialogs)
    return page
