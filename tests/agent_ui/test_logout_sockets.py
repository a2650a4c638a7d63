"""A console socket ends with its login session: at logout on every process, and when the
session ends otherwise (the user deactivated)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import socketio

from center.config import Settings
from center.records import users
from center.records.db import Database
from center.records.enums import Role
from tests.support import Agent, Server, make_user, serve_app


class SupervisorConsole(Agent):
    namespace = "/supervisor"
    greeting = "stats"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # No periodic session check during a test unless it asks: logout alone must do it.
    return settings.model_copy(update={"session_check_interval_s": 3600})


@asynccontextmanager
async def _two(settings: Settings, db: Database) -> AsyncIterator[tuple[Server, Server]]:
    """Two app processes on one Redis prefix and database, as two `center serve`."""
    async with serve_app(settings, db) as one, serve_app(settings, db) as other:
        yield one, other


@pytest.fixture
async def two(settings: Settings, db: Database) -> AsyncIterator[tuple[Server, Server]]:
    async with _two(settings, db) as servers:
        yield servers


def _ended(client: Agent) -> asyncio.Event:
    ended = asyncio.Event()
    client.sio.on("disconnect", lambda *_: ended.set(), namespace=client.namespace)
    return ended


async def _console(server: Server, cls: type[Agent], cookie: str) -> Agent:
    client = cls(server.url)
    client.cookie = cookie
    await client.connect()
    return client


async def test_logout_on_one_process_ends_the_sessions_sockets_on_both(
    two: tuple[Server, Server],
) -> None:
    one, other = two
    await make_user(one.db, "alice")
    await make_user(one.db, "sam", role=Role.SUPERVISOR)
    alice, sam = Agent(one.url), Agent(one.url)
    alice_elsewhere = Agent(one.url)  # alice's second login (another browser): stays
    consoles: list[Agent] = []
    try:
        for client, name in ((alice, "alice"), (sam, "sam"), (alice_elsewhere, "alice")):
            assert (await client.login(name)).status == 200
        here = await _console(one, Agent, alice.cookie)
        there = await _console(other, Agent, alice.cookie)
        stats = await _console(other, SupervisorConsole, sam.cookie)
        second = await _console(other, Agent, alice_elsewhere.cookie)
        consoles = [here, there, stats, second]
        assert (await there.call("presence", {"presence": "available"}))["ok"]
        ends = {c: _ended(c) for c in consoles}

        for client in (alice, sam):
            async with client.http.post(
                f"{one.url}/api/logout", headers={"Cookie": client.cookie}
            ) as r:
                assert r.status == 200
        for client in (here, there, stats):
            await asyncio.wait_for(ends[client].wait(), 10)
            assert not client.sio.connected
        # The other session's socket is untouched and still works.
        assert not ends[second].is_set()
        assert (await second.call("presence", {"presence": "away"}))["ok"]
    finally:
        for c in (*consoles, alice, sam, alice_elsewhere):
            await c.close()


async def test_a_deactivated_users_sockets_end_on_every_process(
    settings: Settings, db: Database
) -> None:
    checking = settings.model_copy(update={"session_check_interval_s": 0.2})
    async with _two(checking, db) as (one, other):
        user = await make_user(db, "alice")
        alice = Agent(one.url)
        consoles: list[Agent] = []
        try:
            assert (await alice.login("alice")).status == 200
            consoles = [await _console(s, Agent, alice.cookie) for s in (one, other)]
            ends = [_ended(c) for c in consoles]
            await users.deactivate_user(db, user.id)  # as an admin tool would, in the DB
            for ended in ends:
                await asyncio.wait_for(ended.wait(), 10)  # each process's session check
            again = Agent(other.url)
            again.cookie = alice.cookie
            with pytest.raises(socketio.exceptions.ConnectionError):
                await again.connect()
            await again.close()
        finally:
            for c in (*consoles, alice):
                await c.close()
