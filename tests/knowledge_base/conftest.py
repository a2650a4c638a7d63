"""Knowledge-base fixtures: the shipped sample KB imported into the per-test database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from center import headers
from center.agent_ui import auth
from center.appkeys import DB, SETTINGS
from center.config import Settings
from center.knowledge_base.io import SAMPLE_DIR, import_dir
from center.knowledge_base.web import setup
from center.records.db import Database
from center.records.enums import Role
from center.records.users import create_user


@pytest.fixture
async def kb(db: Database) -> Database:
    result = await import_dir(db, SAMPLE_DIR)
    assert not result.errors
    return db


@dataclass
class KbServer:
    url: str
    db: Database
    admin: aiohttp.ClientSession  # logged in as an admin
    anonymous: aiohttp.ClientSession


@pytest.fixture
async def kb_server(kb: Database, settings: Settings) -> AsyncIterator[KbServer]:
    """The KB routes and portal on a real loopback server, with login from agent_ui.auth."""
    app = web.Application()
    app[DB] = kb
    app[SETTINGS] = settings
    app.add_routes(auth.routes)
    setup(app)
    headers.install(app)  # the consoles' security headers, as in the full app
    server = TestServer(app, host="127.0.0.1")
    # An oversized upload is refused before its body is read; aiohttp then reads and drops
    # the rest for lingering_time (10 s by default), which only held up this fixture's close.
    await server.start_server(lingering_time=0.5)
    url = str(server.make_url("")).rstrip("/")
    await create_user(kb, "editor", "correct horse battery", role=Role.ADMIN)
    # unsafe=True: the jar must accept cookies from an IP-address host (127.0.0.1).
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as admin, aiohttp.ClientSession() as anonymous:
        login = {"username": "editor", "password": "correct horse battery"}
        async with admin.post(f"{url}/api/login", json=login) as response:
            assert response.status == 200
        try:
            yield KbServer(url, kb, admin, anonymous)
        finally:
            await server.close()
