"""Connection scale: many consoles and chat widgets held open on one process, and messages
delivered through it meanwhile; beside the bare python-socketio relay holding the same.

    python bench/connections.py                                # 2,000 agents, 6,000 customers
    python bench/connections.py --agents 200 --customers 600   # a quick look
    CENTER_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
    CENTER_REDIS_URL=redis://127.0.0.1:6379/0 python bench/connections.py

Against each server (bench/relay.py first, then one real `center serve`): connects every
agent console (``/agent``, logged in by a session cookie seeded in the database: 2,000
argon2 logins would be the bench) and every customer widget (``/chat``, each resolving a
customer of its own), all websockets; waits until the server's memory settles and reports
RSS delta / connections; then, with all of them held, ``--active`` customers chat with
``--active-agents`` available agents (first message queued, offered, accepted; then
``--messages`` each way, one at a time, each waiting for its reply; closed), timing each
customer -> agent and agent -> customer delivery. Held sockets answer the server's pings.

The clients speak Engine.IO 4 / Socket.IO 5 text frames over aiohttp websockets directly
(a python-socketio client per socket costs the bench process more than the servers).
Figures only: nothing here asserts on timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from sqlalchemy import insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import chat as chatbench  # bench/chat.py: settings, processes, CPU and RSS helpers

from center.records.base import utcnow
from center.records.db import Database
from center.records.enums import Presence, Role
from center.records.models import AuthSession, User
from center.records.users import session_key
from center.redisconn import start_embedded
from tests.processes import spawn, start_serve

now = time.perf_counter
TIMEOUT = 60.0
CONNECT_AT_ONCE = 100  # connections being opened at a time (a burst of 8,000 is a SYN flood)


class Socket:
    """One Socket.IO client on one namespace, over a raw websocket."""

    def __init__(self, namespace: str) -> None:
        self.ns = namespace
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.joined = asyncio.get_running_loop().create_future()
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.ids = itertools.count(1)
        self.handlers: dict[str, Any] = {}
        self.reader: asyncio.Task[None] | None = None

    async def open(
        self, http: aiohttp.ClientSession, base: str, *, auth: Any = None, cookie: str = ""
    ) -> None:
        headers = {"Cookie": f"center_session={cookie}"} if cookie else {}
        self.ws = await http.ws_connect(
            f"{base}/socket.io/?EIO=4&transport=websocket", headers=headers, autoping=True
        )
        opening = await self.ws.receive_str(timeout=TIMEOUT)
        if not opening.startswith("0"):
            raise RuntimeError(f"no Engine.IO open: {opening[:80]!r}")
        await self.ws.send_str(f"40{self.ns}," + (json.dumps(auth) if auth is not None else ""))
        self.reader = asyncio.create_task(self._read())
        await asyncio.wait_for(self.joined, TIMEOUT)

    async def _read(self) -> None:
        assert self.ws is not None
        prefix = f"{self.ns},"
        async for msg in self.ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            data: str = msg.data
            if data == "2":  # Engine.IO ping: held sockets stay alive
                await self.ws.send_str("3")
                continue
            kind, body = data[:2], data[2:].removeprefix(prefix)
            if kind == "40" and not self.joined.done():
                self.joined.set_result(True)
            elif kind == "44" and not self.joined.done():
                self.joined.set_exception(RuntimeError(f"refused: {body[:200]}"))
            elif kind == "42":
                event, *args = json.loads(body)
                handler = self.handlers.get(event)
                if handler is not None:
                    handler(*args)
            elif kind == "43":
                digits = len(body) - len(body.lstrip("0123456789"))
                future = self.acks.pop(int(body[:digits]), None)
                if future is not None and not future.done():
                    payload = json.loads(body[digits:])
                    future.set_result(payload[0] if payload else None)

    async def call(self, event: str, data: Any) -> Any:
        assert self.ws is not None
        n = next(self.ids)
        future = self.acks[n] = asyncio.get_running_loop().create_future()
        await self.ws.send_str(f"42{self.ns},{n}" + json.dumps([event, data]))
        return await asyncio.wait_for(future, TIMEOUT)

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(BaseException):
                await self.reader


@dataclass
class Figures:
    name: str
    held: int = 0
    connect_s: float = 0.0
    rss_before_mib: float = 0.0
    rss_held_mib: float = 0.0
    c2a: list[float] = field(default_factory=list)
    a2c: list[float] = field(default_factory=list)
    talk_s: float = 0.0
    cpu_s: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def kib_per_connection(self) -> float:
        return (self.rss_held_mib - self.rss_before_mib) * 1024 / max(1, self.held)

    @property
    def messages_per_s(self) -> float:
        return (len(self.c2a) + len(self.a2c)) / self.talk_s if self.talk_s else float("nan")

    def print(self) -> None:
        print(f"  [{self.name}]")
        print(f"  connections held         {self.held} (opened in {self.connect_s:.1f} s)")
        print(
            f"  server RSS               {self.rss_before_mib:.0f} MiB -> "
            f"{self.rss_held_mib:.0f} MiB = {self.kib_per_connection:.1f} KiB per connection"
        )
        for label, values in (("customer -> agent", self.c2a), ("agent -> customer", self.a2c)):
            print(
                f"  {label:<24} p50 {chatbench.pct(values, 50):7.1f} ms   "
                f"p99 {chatbench.pct(values, 99):7.1f} ms   ({len(values)} messages, all held)"
            )
        print(f"  messages/s               {self.messages_per_s:.0f} (both ways, while held)")
        print(f"  server CPU while talking {self.cpu_s:.2f} s")
        for f in self.failures[:10]:
            print(f"  FAILURE {f}")


TASKS: set[asyncio.Task[Any]] = set()


def spawn_task(coro: Any) -> None:
    task = asyncio.ensure_future(coro)
    TASKS.add(task)
    task.add_done_callback(TASKS.discard)


def rss_mib(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


async def settled_rss(pid: int) -> float:
    """The server's RSS once it stops growing (connect work finishing, buffers settling)."""
    last = rss_mib(pid)
    for _ in range(20):
        await asyncio.sleep(0.5)
        current = rss_mib(pid)
        if abs(current - last) < 0.5:
            return current
        last = current
    return last


async def open_all(
    http: aiohttp.ClientSession, jobs: list[tuple[Socket, dict[str, Any]]], base: str
) -> list[str]:
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)
    failures: list[str] = []

    async def one(sock: Socket, kwargs: dict[str, Any]) -> None:
        async with gate:
            try:
                await sock.open(http, base, **kwargs)
            except Exception as exc:
                failures.append(f"connect {sock.ns}: {exc!r}")

    await asyncio.gather(*(one(s, k) for s, k in jobs))
    return failures


async def hold_and_talk(
    name: str, base: str, pid: int, cookies: list[str], args: argparse.Namespace
) -> Figures:
    fig = Figures(name)
    agents = [Socket("/agent") for _ in range(args.agents)]
    customers = [Socket("/chat") for _ in range(args.customers)]
    replies: dict[int, asyncio.Queue[float]] = {}
    closed: dict[int, asyncio.Event] = {}

    # Agents: accept every offer, answer every customer message, close after the last.
    def agent_handlers(sock: Socket) -> None:
        async def accept(iid: int) -> None:
            try:
                ack = await sock.call("accept", {"interaction_id": iid})
                for m in ack.get("messages", []):
                    on_message(m)
            except Exception as exc:
                fig.failures.append(f"accept {iid}: {exc!r}")

        async def reply(m: dict[str, Any], idx: int, k: int) -> None:
            step = "message"
            try:
                await sock.call(
                    "message",
                    {"interaction_id": m["interaction_id"], "text": f"a {idx} {k} {now()}"},
                )
                if k == args.messages - 1:
                    step = "close"
                    await sock.call(
                        "close",
                        {
                            "interaction_id": m["interaction_id"],
                            "note": "",
                            "disposition": "resolved",
                        },
                    )
            except Exception as exc:
                fig.failures.append(f"reply ({step} {m['interaction_id']}): {exc!r}")

        def on_message(m: dict[str, Any]) -> None:
            if m.get("direction") != "inbound":
                return
            _, idx, k, sent = m["body"].split()
            if int(k) > 0:  # (the first waited in the queue for an agent)
                fig.c2a.append(now() - float(sent))
            spawn_task(reply(m, int(idx), int(k)))

        sock.handlers["offer"] = lambda o: spawn_task(accept(o["id"]))
        sock.handlers["message"] = on_message

    def customer_handlers(sock: Socket, idx: int) -> None:
        replies[idx], closed[idx] = asyncio.Queue(), asyncio.Event()

        def on_message(m: dict[str, Any]) -> None:
            parts = m["body"].split()
            if parts[0] == "a":
                fig.a2c.append(now() - float(parts[3]))
                replies[idx].put_nowait(now())

        sock.handlers["message"] = on_message
        sock.handlers["closed"] = lambda *_: closed[idx].set()

    for a in agents:
        agent_handlers(a)
    for i, c in enumerate(customers):
        customer_handlers(c, i)

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        try:
            fig.rss_before_mib = await settled_rss(pid)
            t0 = now()
            jobs: list[tuple[Socket, dict[str, Any]]] = [
                (a, {"cookie": cookies[n] if cookies else ""}) for n, a in enumerate(agents)
            ]
            jobs += [(c, {"auth": {"name": f"customer {i}"}}) for i, c in enumerate(customers)]
            fig.failures += await open_all(http, jobs, base)
            fig.connect_s = now() - t0
            gc.collect()
            fig.rss_held_mib = await settled_rss(pid)
            fig.held = sum(
                1 for s in agents + customers if s.joined.done() and not s.joined.exception()
            )

            for a in agents[: args.active_agents]:
                ack = await a.call("presence", {"presence": "available"})
                if not ack.get("ok"):
                    fig.failures.append(f"presence: {ack}")
            cpu0, t1 = chatbench.server_cpu_s([pid]), now()

            async def talk(idx: int) -> None:
                sock = customers[idx]
                try:
                    for k in range(args.messages):
                        ack = await sock.call("message", {"text": f"c {idx} {k} {now()}"})
                        if not ack.get("ok"):
                            raise RuntimeError(ack)
                        await asyncio.wait_for(replies[idx].get(), TIMEOUT * 2)
                    await asyncio.wait_for(closed[idx].wait(), TIMEOUT)
                except Exception as exc:
                    fig.failures.append(f"customer {idx}: {exc!r}")

            # The talkers are spread over the held sockets (every n-th customer).
            step = max(1, args.customers // max(1, args.active))
            await asyncio.gather(*(talk(i) for i in range(0, args.customers, step)[: args.active]))
            fig.talk_s = now() - t1
            fig.cpu_s = chatbench.server_cpu_s([pid]) - cpu0
        finally:
            await asyncio.gather(*(s.close() for s in agents + customers))
    return fig


async def seed_agents(db: Database, n: int) -> list[str]:
    """``n`` agents with a live session each (a cookie per agent), straight into the record."""
    async with db.transaction() as s:
        await s.execute(
            insert(User),
            [
                {
                    "username": f"agent{a}",
                    "display_name": f"Agent {a}",
                    "password_hash": "-",  # (never logs in with a password)
                    "role": Role.AGENT,
                    "skills": {},
                    "capacity": {"chat": 3},
                    "presence": Presence.OFFLINE,
                }
                for a in range(n)
            ],
        )
        ids = list(await s.scalars(select(User.id).order_by(User.id)))
        tokens = [secrets.token_urlsafe(32) for _ in ids]
        await s.execute(
            insert(AuthSession),
            [
                {
                    "token_hash": session_key(t),
                    "user_id": uid,
                    "created_at": utcnow(),
                    "expires_at": utcnow() + timedelta(hours=2),
                }
                for uid, t in zip(ids, tokens, strict=True)
            ],
        )
    return tokens


# A load against one server: (name, base URL, server pid, agents' cookies, args) -> figures.
Load = Callable[[str, str, int, list[str], argparse.Namespace], Awaitable[Any]]


async def run_relay(args: argparse.Namespace, log_dir: Path, load: Load | None = None) -> Any:
    """``load`` (this bench's by default) against bench/relay.py."""
    port = chatbench.free_port()
    argv = [sys.executable, str(Path(__file__).with_name("relay.py")), "--port", str(port)]
    proc = await spawn("relay", argv, dict(os.environ), log_dir / "relay.log", port)
    try:
        run = load or hold_and_talk
        return await run("bare python-socketio relay", proc.url, proc.proc.pid, [], args)
    finally:
        await proc.stop()


async def run_center(
    args: argparse.Namespace, load: Load | None = None, seeded: int | None = None
) -> tuple[Any, str]:
    """``load`` (this bench's by default) against one real `center serve` process, with
    ``seeded`` agents signed in (``--agents`` by default)."""
    tag = uuid.uuid4().hex[:10]
    data_dir = Path(tempfile.mkdtemp(prefix="center-bench-"))
    settings = chatbench.make_settings(data_dir, tag)
    backend = "postgresql" if settings.database_schema else "sqlite"
    embedded = None
    if not settings.redis_url:
        embedded = await start_embedded(data_dir / "redis" / "bench.rdb")
        settings = settings.model_copy(update={"redis_url": embedded.url})
    server = None
    try:
        db = Database(settings.resolved_database_url, schema=settings.database_schema or None)
        try:
            await db.migrate()
            cookies = await seed_agents(db, args.agents if seeded is None else seeded)
        finally:
            await db.dispose()
        server = await start_serve(settings, "serve0", data_dir)
        fig = await (load or hold_and_talk)(
            f"center, {backend}, 1 process", server.url, server.proc.pid, cookies, args
        )
    finally:
        if server is not None:
            await server.stop()
            kept = Path(tempfile.gettempdir()) / "center-bench-connections-serve0.log"
            # (Read after a failure: the data dir goes.)
            await asyncio.to_thread(shutil.copyfile, data_dir / "serve0.log", kept)
            print(f"  the server's log: {kept}")
        if settings.database_schema:
            db = Database(settings.resolved_database_url)
            try:
                async with db.engine.begin() as conn:
                    await conn.execute(
                        text(f'DROP SCHEMA IF EXISTS "{settings.database_schema}" CASCADE')
                    )
            finally:
                await db.dispose()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
        else:
            await chatbench._forget_keys(settings)
        shutil.rmtree(data_dir, ignore_errors=True)
    return fig, backend


async def bench(args: argparse.Namespace) -> int:
    log_dir = Path(tempfile.mkdtemp(prefix="center-bench-conn-"))
    relay = None if args.no_anchor else await run_relay(args, log_dir)
    center, backend = await run_center(args)
    shutil.rmtree(log_dir, ignore_errors=True)
    print(
        f"center bench/connections: {args.agents} agent consoles + {args.customers} customer "
        f"sockets held; {args.active} customers x {args.messages} messages each way meanwhile"
    )
    if relay is None:  # (--no-anchor: center's own figures only)
        center.print()
        print(
            f"SUMMARY connections {backend} held={center.held} "
            f"kib_per_conn={center.kib_per_connection:.1f} "
            f"c2a_p99={chatbench.pct(center.c2a, 99):.1f}ms msgs/s={center.messages_per_s:.0f} "
            f"failures={len(center.failures)} {'FAILED' if center.failures else 'OK'}"
        )
        return 1 if center.failures else 0
    relay.print()
    center.print()
    ok = not relay.failures and not center.failures
    r = chatbench.ratio
    print(
        f"SUMMARY connections {backend} held={center.held}/{args.agents + args.customers} "
        f"kib_per_conn={center.kib_per_connection:.1f} "
        f"relay_kib_per_conn={relay.kib_per_connection:.1f} "
        f"c2a_p50={chatbench.pct(center.c2a, 50):.1f}ms "
        f"c2a_p99={chatbench.pct(center.c2a, 99):.1f}ms "
        f"a2c_p99={chatbench.pct(center.a2c, 99):.1f}ms "
        f"c2a_p99_ratio={r(chatbench.pct(center.c2a, 99), chatbench.pct(relay.c2a, 99))} "
        f"mem_ratio={r(center.kib_per_connection, relay.kib_per_connection)} "
        f"msgs/s={center.messages_per_s:.0f} relay_msgs/s={relay.messages_per_s:.0f} "
        f"failures={len(center.failures) + len(relay.failures)} {'OK' if ok else 'FAILED'}"
    )
    return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=2000, help="agent consoles held")
    ap.add_argument("--customers", type=int, default=6000, help="customer sockets held")
    ap.add_argument("--active-agents", type=int, default=50, help="of them, available")
    ap.add_argument("--active", type=int, default=150, help="customers chatting while held")
    ap.add_argument("--messages", type=int, default=3)
    ap.add_argument("--no-anchor", action="store_true", help="skip the bare relay run")
    return asyncio.run(bench(ap.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
