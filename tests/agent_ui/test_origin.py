"""Cross-site requests on the real server: the cookie alone never lets another site's page
open a console socket or change state over REST."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import socketio

from center.config import Settings
from center.records.enums import Role
from center.records.users import create_user
from tests.support import CONNECT_TIMEOUT_S, PASSWORD, Agent, Client, Customer, Server

EVIL = "http://evil.example"
SHOP = "https://shop.example"  # a customer's site embedding the chat widget
CONSOLE = "https://console.example"  # a configured console origin (behind a proxy)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"widget_origins": [SHOP], "allowed_origins": [CONSOLE]})


class SupervisorConsole(Agent):
    namespace = "/supervisor"
    greeting = "stats"


async def _open(client: Client, origin: str | None) -> None:
    headers = {"Origin": origin} if origin else {}
    if isinstance(client, Agent) and client.cookie:
        headers["Cookie"] = client.cookie
    await client.sio.connect(
        client.url,
        namespaces=[client.namespace],
        transports=["websocket"],
        headers=headers,
        wait_timeout=CONNECT_TIMEOUT_S,
    )


async def _signed_in(server: Server, cls: type[Agent], username: str, role: Role) -> Agent:
    await create_user(server.db, username, PASSWORD, role=role, capacity={"chat": 1})
    client = cls(server.url)
    assert (await client.login(username)).status == 200
    return client


@pytest.mark.parametrize(
    ("console", "role"), [(Agent, Role.AGENT), (SupervisorConsole, Role.SUPERVISOR)]
)
async def test_console_sockets_only_from_our_pages(
    server: Server, console: type[Agent], role: Role
) -> None:
    for n, origin in enumerate((EVIL, SHOP, "null")):
        stranger = await _signed_in(server, console, f"bad{n}", role)
        try:
            with pytest.raises(socketio.exceptions.ConnectionError):
                await _open(stranger, origin)  # with the cookie
        finally:
            await stranger.close()
    for n, origin in enumerate((server.url, CONSOLE, None)):  # ours, configured, no browser
        ours = await _signed_in(server, console, f"ok{n}", role)
        try:
            await _open(ours, origin)
            await ours.next(console.greeting)
        finally:
            await ours.close()


async def test_the_chat_widget_may_be_embedded_on_its_configured_sites(server: Server) -> None:
    shop, evil = Customer(server.url), Customer(server.url)
    try:
        await _open(shop, SHOP)
        assert "customer_id" in await shop.next("welcome")
        with pytest.raises(socketio.exceptions.ConnectionError):
            await _open(evil, EVIL)
    finally:
        await shop.close()
        await evil.close()


@pytest.fixture
async def admin(server: Server) -> AsyncIterator[aiohttp.ClientSession]:
    await create_user(server.db, "root", PASSWORD, role=Role.ADMIN)
    # The browser's cookie jar: the cookie rides along on every request, as cross-site.
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.post(
        f"{server.url}/api/login", json={"username": "root", "password": PASSWORD}
    ) as r:
        assert r.status == 200
    yield http
    await http.close()


async def _queue_names(http: aiohttp.ClientSession, server: Server) -> set[str]:
    async with http.get(f"{server.url}/api/queues") as r:
        return {q["name"] for q in (await r.json())["queues"]}


async def test_state_changes_refused_from_other_sites_and_as_plain_text(
    server: Server, admin: aiohttp.ClientSession
) -> None:
    url, body = f"{server.url}/api/queues", '{"name": "sneaky"}'
    refused: list[tuple[dict[str, str], int]] = [
        ({"Content-Type": "text/plain"}, 415),  # a form's text/plain: no preflight needed
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ({"Content-Type": "application/json", "Origin": EVIL}, 403),
        ({"Content-Type": "application/json", "Origin": "null"}, 403),
        ({"Content-Type": "application/json", "Origin": SHOP}, 403),  # a widget site
        ({"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403),
        ({"Content-Type": "application/json", "Sec-Fetch-Site": "same-site"}, 403),
        ({"Content-Type": "application/json", "Referer": f"{EVIL}/page"}, 403),
        ({"Content-Type": "text/plain", "Origin": server.url}, 415),
    ]
    for headers, status in refused:
        async with admin.post(url, data=body, headers=headers) as r:
            assert r.status == status, (headers, await r.text())
            assert "error" in await r.json()
    assert "sneaky" not in await _queue_names(admin, server)

    for n, headers in enumerate(
        [
            {"Origin": server.url},  # the console page itself
            {"Origin": CONSOLE},
            {"Sec-Fetch-Site": "same-origin"},
            {"Referer": f"{server.url}/supervisor"},
            {},  # not a browser: curl, scripts
        ]
    ):
        async with admin.post(url, json={"name": f"ok{n}"}, headers=headers) as r:
            assert r.status == 201, (headers, await r.text())
    assert {f"ok{n}" for n in range(5)} <= await _queue_names(admin, server)

    # A body-less POST needs no type, but still our origin: logout stays logged in.
    async with admin.post(f"{server.url}/api/logout", headers={"Origin": EVIL}) as r:
        assert r.status == 403
    async with admin.get(f"{server.url}/api/me") as r:
        assert r.status == 200
    async with admin.post(f"{server.url}/api/logout", headers={"Origin": server.url}) as r:
        assert r.status == 200


async def test_uploads_and_the_portals_feedback_form_still_work(
    server: Server, admin: aiohttp.ClientSession
) -> None:
    ours = {"Origin": server.url}
    article: dict[str, Any] = {"slug": "reset", "title": "Reset", "body_md": "Hold the button."}
    async with admin.post(f"{server.url}/api/kb/articles", json=article, headers=ours) as r:
        assert r.status == 201, await r.text()
        path = f"{server.url}/api/kb/articles/{(await r.json())['id']}"
    async with admin.post(f"{path}/publish", headers=ours) as r:
        assert r.status == 200, await r.text()

    for origin, status in ((EVIL, 403), (server.url, 201)):
        form = aiohttp.FormData()
        form.add_field("file", b"\x89PNG fake", filename="shot.png", content_type="image/png")
        async with admin.post(f"{path}/attachments", data=form, headers={"Origin": origin}) as r:
            assert r.status == status, await r.text()

    feedback = f"{server.url}/help/articles/reset/feedback"
    async with aiohttp.ClientSession() as visitor:
        for origin, status in ((EVIL, 403), (server.url, 303)):
            async with visitor.post(
                feedback, data={"helpful": "yes"}, headers={"Origin": origin}, allow_redirects=False
            ) as r:
                assert r.status == status, await r.text()
