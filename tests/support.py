"""Test helpers: real socket.io clients for agents and customers, and users."""

from __future__ import annotations

import asyncio
import os
import sys
import warnings
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import socketio
from aiohttp import web

from center.app import create_app
from center.config import Settings
from center.records.db import Database
from center.records.enums import Role
from center.records.models import User
from center.records.users import create_user

TEARDOWN_TIMEOUT_S = 20
PASSWORD = "correct-horse-battery"
# socket.io's default of 1 s is too short for a loaded 2-core CI machine.
CONNECT_TIMEOUT_S = 10


@dataclass
class Server:
    url: str
    app: web.Application
    settings: Settings
    db: Database


async def make_user(
    db: Database,
    username: str,
    *,
    role: Role = Role.AGENT,
    capacity: dict[str, int] | None = None,
    skills: dict[str, int] | None = None,
) -> User:
    return await create_user(
        db,
        username,
        PASSWORD,
        role=role,
        capacity=capacity if capacity is not None else {"chat": 3},
        skills=skills,
    )


class Client:
    """A socket.io client that files every received event into a queue per event name."""

    namespace = "/"

    def __init__(self, url: str) -> None:
        self.url = url
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: dict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)
        self.sio.on("*", self._record, namespace=self.namespace)

    async def _record(self, event: str, data: Any = None) -> None:
        self.events[event].put_nowait(data)

    async def next(self, event: str, timeout: float = 5.0) -> Any:
        return await asyncio.wait_for(self.events[event].get(), timeout)

    def pending(self, event: str) -> list[Any]:
        items = []
        while not self.events[event].empty():
            items.append(self.events[event].get_nowait())
        return items

    async def call(self, event: str, data: Any = None, timeout: float = 5.0) -> Any:
        return await self.sio.call(event, data, namespace=self.namespace, timeout=timeout)

    async def close(self) -> None:
        await self.sio.disconnect()


class Customer(Client):
    namespace = "/chat"

    async def connect(self, **auth: Any) -> dict[str, Any]:
        await self.sio.connect(
            self.url,
            namespaces=[self.namespace],
            transports=["websocket"],
            auth=auth or None,
            wait_timeout=CONNECT_TIMEOUT_S,
        )
        return await self.next("welcome")

    async def say(self, text: str) -> dict[str, Any]:
        return await self.call("message", {"text": text})


class Agent(Client):
    namespace = "/agent"
    greeting = "hello"  # the first event the server sends a console on this namespace

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.http = aiohttp.ClientSession()
        self.cookie = ""

    async def login(self, username: str, password: str = PASSWORD) -> aiohttp.ClientResponse:
        resp = await self.http.post(
            f"{self.url}/api/login", json={"username": username, "password": password}
        )
        await resp.read()
        morsel = resp.cookies.get("center_session")
        if morsel is not None:
            self.cookie = f"center_session={morsel.value}"
        return resp

    async def connect(self) -> dict[str, Any]:
        await self.sio.connect(
            self.url,
            namespaces=[self.namespace],
            transports=["websocket"],
            headers={"Cookie": self.cookie} if self.cookie else {},
            wait_timeout=CONNECT_TIMEOUT_S,
        )
        return await self.next(self.greeting)

    async def available(self) -> None:
        ack = await self.call("presence", {"presence": "available"})
        assert ack["ok"], ack

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.http.get(
            f"{self.url}{path}", headers={"Cookie": self.cookie} if self.cookie else {}
        ) as r:
            return r.status, await r.json()

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        await self.http.close()


async def signed_in_agent(
    server: Server,
    username: str,
    *,
    role: Role = Role.AGENT,
    capacity: dict[str, int] | None = None,
    skills: dict[str, int] | None = None,
    available: bool = True,
) -> Agent:
    await make_user(server.db, username, role=role, capacity=capacity, skills=skills)
    agent = Agent(server.url)
    resp = await agent.login(username)
    assert resp.status == 200
    await agent.connect()
    if available:
        await agent.available()
    return agent


@asynccontextmanager
async def serve_app(settings: Settings, db: Database) -> AsyncIterator[Server]:
    """The real application on a loopback port, shut down at the end (bounded)."""
    app = await create_app(settings)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield Server(url=f"http://127.0.0.1:{port}", app=app, settings=settings, db=db)
    finally:
        # Bound a stalled shutdown and dump every task's stack, so a stall is diagnosed
        # instead of silently eating the CI budget.
        try:
            await asyncio.wait_for(runner.cleanup(), TEARDOWN_TIMEOUT_S)
        except TimeoutError:
            with open(f"/tmp/stall-{os.getpid()}.txt", "a") as out:  # noqa: ASYNC230
                for task in asyncio.all_tasks():
                    out.write(f"--- {task!r}\n")
                    task.print_stack(file=out)
            for task in asyncio.all_tasks():
                task.print_stack(file=sys.stderr)
            warnings.warn("server shutdown stalled; task stacks printed above", stacklevel=1)
