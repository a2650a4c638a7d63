"""Security headers on the real app: a CSP without inline script for consoles and portal,
nosniff, Referrer-Policy, no framing of the consoles, the widget framed only by the sites in
CENTER_WIDGET_ORIGINS; and, in a real browser, no CSP violation on any page."""

from __future__ import annotations

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from center.app import create_app
from center.knowledge_base.io import SAMPLE_DIR, import_dir
from center.records.enums import Role
from tests.agent_ui.test_browser import go_available
from tests.browser import TIMEOUT_MS
from tests.support import PASSWORD, Server, make_user, serve_app

PAGES = ["/agent", "/supervisor", "/kb/editor", "/help", "/help/search?q=refund"]
OTHER = ["/api/me", "/static/agent.js", "/no/such/page", "/kb/static/editor.js", "/help/x/y"]


def _directives(policy: str) -> dict[str, str]:
    out = {}
    for part in policy.split(";"):
        name, _, value = part.strip().partition(" ")
        out[name] = value
    return out


async def _headers(url: str) -> aiohttp.typedefs.LooseHeaders:
    async with aiohttp.ClientSession() as http, http.get(url, allow_redirects=False) as r:
        await r.read()
        return r.headers


@pytest.mark.parametrize("path", PAGES + OTHER)
async def test_consoles_and_portal_headers(server: Server, path: str) -> None:
    h = await _headers(f"{server.url}{path}")
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] == "same-origin"
    assert h["X-Frame-Options"] == "DENY"
    csp = _directives(h["Content-Security-Policy"])
    assert csp["frame-ancestors"] == "'none'"
    assert csp["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert csp["style-src"] == "'self'"
    assert csp["object-src"] == "'none'" and csp["base-uri"] == "'none'"
    # Only the consoles carry the softphone (the supervisor's: listen, whisper, barge):
    # Twilio's signalling and sounds, no more.
    if path in ("/agent", "/supervisor"):
        assert csp["connect-src"] == "'self' wss://*.twilio.com"
        assert csp["media-src"] == "'self' https://sdk.twilio.com"
    else:
        assert csp["connect-src"] == "'self'" and "media-src" not in csp


async def test_the_chat_widget_may_be_framed_only_by_the_configured_sites(
    server: Server,
) -> None:
    h = await _headers(f"{server.url}/chat")
    assert h["X-Content-Type-Options"] == "nosniff"
    assert "X-Frame-Options" not in h
    csp = _directives(h["Content-Security-Policy"])
    assert csp["frame-ancestors"] == "'self'"  # none configured: this site only
    assert csp["script-src"] == "'self'"

    shop = server.settings.model_copy(
        update={"widget_origins": ["https://shop.example", "http://localhost:3000/"]}
    )
    async with serve_app(shop, server.db) as embedded:
        csp = _directives((await _headers(f"{embedded.url}/chat"))["Content-Security-Policy"])
        assert csp["frame-ancestors"] == "'self' https://shop.example http://localhost:3000"
        console = _directives((await _headers(f"{embedded.url}/agent"))["Content-Security-Policy"])
        assert console["frame-ancestors"] == "'none'"

    anywhere = server.settings.model_copy(update={"widget_origins": ["*"]})
    async with serve_app(anywhere, server.db) as embedded:
        csp = _directives((await _headers(f"{embedded.url}/chat"))["Content-Security-Policy"])
        assert csp["frame-ancestors"] == "'self' *"  # the setting's "anywhere"
        console = _directives((await _headers(f"{embedded.url}/agent"))["Content-Security-Policy"])
        assert console["frame-ancestors"] == "'none'"


@pytest.mark.parametrize("origin", ["https://a.example; script-src *", "javascript:x", "* *"])
async def test_a_widget_origin_that_is_not_an_origin_is_refused_at_start(
    server: Server, origin: str
) -> None:
    bad = server.settings.model_copy(update={"widget_origins": [origin]})
    with pytest.raises(ValueError, match="CENTER_WIDGET_ORIGINS"):
        await create_app(bad)


# -- in the browser: no Content-Security-Policy violation on any page -----------------------

REPORT = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


async def _watched(browser: Browser, problems: list[str]) -> Page:
    context = await browser.new_context()
    await context.add_init_script(REPORT)
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.on("pageerror", lambda exc: problems.append(f"error: {exc}"))
    page.on(
        "console",
        lambda m: (
            problems.append(f"console: {m.text}")
            if "Content Security Policy" in m.text or "Content-Security-Policy" in m.text
            else None
        ),
    )
    return page


async def _violations(page: Page) -> list[str]:
    return await page.evaluate("window.__csp")


async def _sign_in(page: Page, url: str, path: str, username: str) -> None:
    await page.goto(f"{url}{path}")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.locator("#login button").click()
    await expect(page.locator("#login")).to_be_hidden()


@pytest.mark.browser
async def test_no_csp_violation_on_the_pages(server: Server, browser: Browser) -> None:
    await make_user(server.db, "alice")
    await make_user(server.db, "sam", role=Role.SUPERVISOR)
    assert not (await import_dir(server.db, SAMPLE_DIR)).errors
    problems: list[str] = []

    agent = await _watched(browser, problems)
    await _sign_in(agent, server.url, "/agent", "alice")
    await go_available(agent)  # the socket.io connection works

    customer = await _watched(browser, problems)
    await customer.goto(f"{server.url}/chat")
    await expect(customer.locator("#status")).to_have_text("connected")
    await customer.fill("#text", "Hello there")
    await customer.click("#send")
    offer = agent.locator("#offers .offer")
    await expect(offer).to_have_count(1)
    await offer.locator(".accept").click()
    await expect(agent.locator("#panes .pane")).to_have_count(1)

    supervisor = await _watched(browser, problems)
    await _sign_in(supervisor, server.url, "/supervisor", "sam")
    await expect(supervisor.locator("#queues")).to_contain_text("default")

    editor = await _watched(browser, problems)
    login = {"username": "sam", "password": PASSWORD}
    assert (await editor.context.request.post(f"{server.url}/api/login", data=login)).ok
    await editor.goto(f"{server.url}/kb/editor")
    await editor.locator("#list li").first.click()
    await expect(editor.locator("input[name=slug]")).not_to_have_value("")

    portal = await _watched(browser, problems)
    await portal.goto(f"{server.url}/help")
    await portal.locator("a", has_text="Billing").first.click()
    await portal.locator("ul a").first.click()
    await expect(portal.locator("h1")).not_to_be_empty()
    # The stylesheet was applied (it is a file now, and allowed by the policy).
    width = await portal.evaluate("getComputedStyle(document.querySelector('main')).maxWidth")
    assert width != "none"

    for page in (agent, customer, supervisor, editor, portal):
        assert await _violations(page) == [], page.url
        await page.context.close()
    assert problems == []
