"""Real ``center serve`` processes for the multi-process proofs, and self-driving clients.

Each process is started with the command a team runs in production (``python -m center
serve``) and the same database, Redis and key prefix as the test's settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from center.config import Settings
from tests.support import Agent, Customer

START_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_env(settings: Settings, **overrides: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CENTER_")}
    values = {
        "database_url": settings.resolved_database_url,
        "database_schema": settings.database_schema,
        "redis_url": settings.redis_url,
        "redis_prefix": settings.redis_prefix,
        "data_dir": str(settings.data_dir),
        "offer_timeout_s": settings.offer_timeout_s,
        "chat_abandon_grace_s": settings.chat_abandon_grace_s,
        "agent_offline_grace_s": settings.agent_offline_grace_s,
        "sweep_interval_s": settings.sweep_interval_s,
        # No SMTP listener on the default port in every test process (email tests open one).
        "smtp_listen": "off",
        **overrides,
    }
    env.update({f"CENTER_{k.upper()}": str(v) for k, v in values.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class ServeProcess:
    name: str
    url: str
    proc: asyncio.subprocess.Process
    log: Path

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye -- a crashed machine."""
        self.proc.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
        with contextlib.suppress(ProcessLookupError):
            await self.proc.wait()


async def start_serve(
    settings: Settings,
    name: str,
    log_dir: Path,
    *,
    python_args: tuple[str, ...] = ("-m", "center"),
    **overrides: Any,
) -> ServeProcess:
    """``python -m center serve`` (or ``python <python_args> serve``) on a free port."""
    port = _free_port()
    argv = [sys.executable, *python_args, "serve", "--host", "127.0.0.1", "--port", str(port)]
    return await spawn(
        name, argv, settings_env(settings, **overrides), log_dir / f"{name}.log", port
    )


async def spawn(
    name: str, argv: list[str], env: dict[str, str], log: Path, port: int
) -> ServeProcess:
    """Run ``argv`` (a server on ``port`` answering ``/healthz``) until it answers."""
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *argv, env=env, stdout=out, stderr=asyncio.subprocess.STDOUT
        )
    server = ServeProcess(name, f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise RuntimeError(f"{name} exited {proc.returncode}:\n{server.tail()}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{server.url}/healthz") as r:
                    if r.status == 200:
                        return server
            await asyncio.sleep(0.2)
    await server.stop()
    raise RuntimeError(f"{name} did not start in {START_TIMEOUT_S} s:\n{server.tail()}")


REPLY = "Thanks for waiting, sorted now."


@dataclass
class AutoAgent:
    """An agent console that accepts every offer, replies once and closes after a short hold."""

    url: str
    username: str
    capacity: int
    accept: bool = True
    hold_s: tuple[float, float] = (0.0, 0.05)
    client: Agent = field(init=False)
    offers: list[int] = field(default_factory=list)
    accepted: list[int] = field(default_factory=list)
    failed: list[tuple[str, int, Any]] = field(default_factory=list)
    active: set[int] = field(default_factory=set)
    max_active: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        self.client = Agent(self.url)
        resp = await self.client.login(self.username)
        assert resp.status == 200, resp.status
        self.client.sio.on("offer", self._on_offer, namespace="/agent")
        await self.client.connect()
        await self.client.available()

    async def _on_offer(self, data: dict[str, Any]) -> None:
        self.offers.append(data["id"])
        if self.accept:
            task = asyncio.create_task(self._serve(data["id"]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, iid: int) -> None:
        ack = await self.client.call("accept", {"interaction_id": iid}, timeout=60)
        if not ack.get("ok"):
            self.failed.append(("accept", iid, ack))
            return
        self.accepted.append(iid)
        self.active.add(iid)
        # Counted between the accept's ack and sending close: a lower bound of the load the
        # router holds for this agent, so exceeding capacity here proves it was exceeded.
        self.max_active = max(self.max_active, len(self.active))
        await asyncio.sleep(random.uniform(*self.hold_s))
        ack = await self.client.call("message", {"interaction_id": iid, "text": REPLY}, timeout=60)
        if not ack.get("ok"):
            self.failed.append(("message", iid, ack))
        self.active.discard(iid)
        ack = await self.client.call(
            "close", {"interaction_id": iid, "note": "done", "disposition": "resolved"}, timeout=60
        )
        if not ack.get("ok"):
            self.failed.append(("close", iid, ack))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.client.close()


@dataclass
class Story:
    """One customer's chat: message, the agent's reply, closed."""

    url: str
    n: int
    token: str = ""
    interaction_id: int = 0
    got_reply: bool = False
    closed: bool = False
    error: str = ""


async def customer_story(story: Story, *, wait_s: float, client: Customer | None = None) -> None:
    """Run (or, given a reconnected client, resume) one customer's chat to its end."""
    c = client or Customer(story.url)
    deadline = time.monotonic() + wait_s
    stage = "connect"
    try:
        if client is None:
            await c.sio.connect(
                c.url, namespaces=[c.namespace], transports=["websocket"], wait_timeout=wait_s
            )
            welcome = await c.next("welcome", wait_s)
            story.token = welcome["token"]
            stage = "message"
            ack = await c.call("message", {"text": f"Order {story.n} is late"}, timeout=wait_s)
            if not ack.get("ok"):
                story.error = f"message refused: {ack}"
                return
            story.interaction_id = ack["interaction_id"]
        stage = "reply"
        while not story.got_reply:
            m = await c.next("message", max(0.1, deadline - time.monotonic()))
            story.got_reply = m.get("body") == REPLY
        stage = "closed"
        await c.next("closed", max(0.1, deadline - time.monotonic()))
        story.closed = True
    except Exception as exc:  # the proof reports every failed story
        story.error = f"{stage}: {exc!r}"
    finally:
        await c.close()
