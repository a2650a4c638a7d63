"""End-to-end chat benchmark: the real app in-process, real socket.io websocket clients.

    python bench/chat.py                                   # SQLite + embedded Redis
    python bench/chat.py --serve-processes 2               # two real `center serve` processes
    CENTER_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
    CENTER_REDIS_URL=redis://127.0.0.1:6379/0 python bench/chat.py --customers 200 --agents 50

N customers and M agents (chat capacity 3 each) connect over websockets. Agents auto-accept
every offer and answer every customer message; customers send K messages each, one at a time,
waiting for the reply; the agent closes each chat after its last reply. Prints routed
interactions/s, offer latency, message latencies both ways (p50/p99), wall time and peak RSS.
Figures only: nothing here asserts on timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import socketio
from aiohttp import web
from sqlalchemy import text

from center.app import create_app
from center.config import Settings
from center.records.db import Database
from center.records.users import create_user
from center.redisconn import start_embedded

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.processes
from tests.processes import ServeProcess, start_serve

PASSWORD = "bench-password-123"
STEP_TIMEOUT = float(
    os.environ.get("BENCH_STEP_TIMEOUT", "60")
)  # any single wait (reply, offer, ack) longer than this is a failure
now = time.perf_counter


class Stats:
    def __init__(self) -> None:
        self.first_sent: dict[int, float] = {}  # customer idx -> first message emitted
        self.first_ack: dict[int, float] = {}  # interaction id -> first message acked
        self.iid_of: dict[int, int] = {}  # customer idx -> interaction id
        self.offered: dict[int, float] = {}  # interaction id -> offer received by agent
        self.accepted: dict[int, float] = {}  # interaction id -> accept acked
        self.to_agent: list[float] = []  # customer message -> agent receipt (s)
        self.to_customer: list[float] = []  # agent message -> customer receipt (s)
        self.closed = 0
        self.failures: list[str] = []

    def fail(self, what: str) -> None:
        self.failures.append(what)


def stamp(kind: str, idx: int, k: int) -> str:
    return f"{kind} {idx} {k} t={now():.9f}"


def parse(body: str) -> tuple[int, int, float]:
    _kind, idx, k, t = body.split()
    return int(idx), int(k), float(t.removeprefix("t="))


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0] * 1000
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] * 1000


class BenchAgent:
    def __init__(self, url: str, username: str, messages: int, stats: Stats) -> None:
        self.url, self.username, self.messages, self.stats = url, username, messages, stats
        self.sio = socketio.AsyncClient(reconnection=False)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.sio.on("offer", self._offer, namespace="/agent")
        self.sio.on("message", self._message, namespace="/agent")

    async def start(self, http: aiohttp.ClientSession) -> None:
        async with http.post(
            f"{self.url}/api/login", json={"username": self.username, "password": PASSWORD}
        ) as resp:
            if resp.status != 200:
                raise RuntimeError(f"login {self.username}: HTTP {resp.status}")
            cookie = resp.cookies["center_session"].value
        await self.sio.connect(
            self.url,
            namespaces=["/agent"],
            transports=["websocket"],
            headers={"Cookie": f"center_session={cookie}"},
            wait_timeout=STEP_TIMEOUT,
        )
        ack = await self._call("presence", {"presence": "available"})
        if not ack.get("ok"):
            raise RuntimeError(f"presence {self.username}: {ack}")

    async def _call(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        return await self.sio.call(event, data, namespace="/agent", timeout=STEP_TIMEOUT)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _offer(self, offer: dict[str, Any]) -> None:
        self.stats.offered[offer["id"]] = now()
        self._spawn(self._accept(offer["id"]))

    async def _accept(self, iid: int) -> None:
        try:
            ack = await self._call("accept", {"interaction_id": iid})
        except Exception as exc:
            self.stats.fail(f"accept {iid}: {exc!r}")
            return
        if not ack.get("ok"):
            self.stats.fail(f"accept {iid}: {ack}")
            return
        self.stats.accepted[iid] = now()
        # Messages written before the accept come with it, not as ``message`` events.
        for m in ack.get("messages", []):
            await self._message(m)

    async def _message(self, m: dict[str, Any]) -> None:
        if m.get("direction") != "inbound":
            return
        received = now()
        idx, k, sent = parse(m["body"])
        if k > 0:  # the first one waited in the queue: that is the offer latency above
            self.stats.to_agent.append(received - sent)
        self._spawn(self._reply(m["interaction_id"], idx, k))

    async def _reply(self, iid: int, idx: int, k: int) -> None:
        try:
            ack = await self._call(
                "message", {"interaction_id": iid, "text": stamp("agent", idx, k)}
            )
            if not ack.get("ok"):
                self.stats.fail(f"reply {iid}/{k}: {ack}")
                return
            if k == self.messages - 1:
                ack = await self._call(
                    "close", {"interaction_id": iid, "note": "bench", "disposition": "resolved"}
                )
                if ack.get("ok"):
                    self.stats.closed += 1
                else:
                    self.stats.fail(f"close {iid}: {ack}")
        except Exception as exc:
            self.stats.fail(f"reply {iid}/{k}: {exc!r}")

    async def stop(self) -> None:
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=STEP_TIMEOUT)
        with contextlib.suppress(Exception):
            await self.sio.disconnect()


class BenchCustomer:
    def __init__(self, url: str, idx: int, messages: int, stats: Stats) -> None:
        self.url, self.idx, self.messages, self.stats = url, idx, messages, stats
        self.sio = socketio.AsyncClient(reconnection=False)
        self.replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed = asyncio.Event()
        self.welcomed = asyncio.Event()
        self.sio.on("welcome", self._welcome, namespace="/chat")
        self.sio.on("message", self._message, namespace="/chat")
        self.sio.on("closed", self._closed, namespace="/chat")

    async def _welcome(self, _data: Any) -> None:
        self.welcomed.set()

    async def _message(self, m: dict[str, Any]) -> None:
        received = now()
        _idx, _k, sent = parse(m["body"])
        self.stats.to_customer.append(received - sent)
        self.replies.put_nowait(m)

    async def _closed(self, _data: Any = None) -> None:
        self.closed.set()

    async def connect(self) -> None:
        await self.sio.connect(
            self.url,
            namespaces=["/chat"],
            transports=["websocket"],
            auth={"name": f"customer {self.idx}"},
            wait_timeout=STEP_TIMEOUT,
        )
        await asyncio.wait_for(self.welcomed.wait(), STEP_TIMEOUT)

    async def run(self) -> None:
        try:
            for k in range(self.messages):
                if k == 0:
                    self.stats.first_sent[self.idx] = now()
                ack = await self.sio.call(
                    "message",
                    {"text": stamp("customer", self.idx, k)},
                    namespace="/chat",
                    timeout=STEP_TIMEOUT,
                )
                if not ack.get("ok"):
                    self.stats.fail(f"customer {self.idx} message {k}: {ack}")
                    return
                if k == 0:
                    self.stats.first_ack[ack["interaction_id"]] = now()
                    self.stats.iid_of[self.idx] = ack["interaction_id"]
                # Offers wait in the queue until an agent has room: allow for that.
                await asyncio.wait_for(self.replies.get(), STEP_TIMEOUT * 5)
            await asyncio.wait_for(self.closed.wait(), STEP_TIMEOUT)
        except TimeoutError:
            self.stats.fail(f"customer {self.idx}: timed out")
        except Exception as exc:
            self.stats.fail(f"customer {self.idx}: {exc!r}")
        finally:
            with contextlib.suppress(Exception):
                await self.sio.disconnect()


def make_settings(data_dir: Path, tag: str) -> Settings:
    database_url = os.environ.get("CENTER_DATABASE_URL", "")
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        database_url=database_url,
        redis_url=os.environ.get("CENTER_REDIS_URL", ""),
        redis_prefix=f"bench{tag}",
        database_schema=f"bench_{tag}" if database_url.startswith("postgresql") else "",
        offer_timeout_s=30,
        chat_abandon_grace_s=30,
        agent_offline_grace_s=30,
    )


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux, bytes on macOS.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


async def bench(customers: int, agents: int, messages: int, processes: int = 0) -> int:
    tag = uuid.uuid4().hex[:10]
    data_dir = Path(tempfile.mkdtemp(prefix="center-bench-"))
    settings = make_settings(data_dir, tag)
    backend = "postgresql" if settings.database_schema else "sqlite"
    backend += " + redis server" if settings.redis_url else " + embedded redis"
    embedded = None
    if processes and not settings.redis_url:
        # The processes must share one Redis: one embedded server for all of them.
        embedded = await start_embedded(data_dir / "redis" / "bench.rdb")
        settings = settings.model_copy(update={"redis_url": embedded.url})
    app = await create_app(settings) if processes == 0 else None
    runner = web.AppRunner(app, handle_signals=False) if app is not None else None
    stats = Stats()
    bench_agents: list[BenchAgent] = []
    servers: list[ServeProcess] = []
    rss_task: asyncio.Task[None] | None = None
    try:
        if runner is not None:
            await runner.setup()  # migrates the database, starts the router
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            urls = [f"http://127.0.0.1:{port}"]
        else:
            # Real `center serve` processes sharing the database and Redis; the clients stay
            # in this process, so the servers' CPU is their own.
            servers = list(
                await asyncio.gather(
                    *(start_serve(settings, f"serve{n}", data_dir) for n in range(processes))
                )
            )
            urls = [s.url for s in servers]
            backend += f", {processes} center serve processes"
            rss_task = asyncio.create_task(_sample_rss([s.proc.pid for s in servers]))
        db = Database(settings.resolved_database_url, schema=settings.database_schema or None)
        try:
            await asyncio.gather(
                *(
                    create_user(db, f"agent{a}", PASSWORD, capacity={"chat": 3})
                    for a in range(agents)
                )
            )
        finally:
            await db.dispose()

        async with aiohttp.ClientSession() as http:
            bench_agents = [
                BenchAgent(urls[a % len(urls)], f"agent{a}", messages, stats) for a in range(agents)
            ]
            await asyncio.gather(*(a.start(http) for a in bench_agents))
        clients = [BenchCustomer(urls[i % len(urls)], i, messages, stats) for i in range(customers)]
        await asyncio.gather(*(c.connect() for c in clients))
        print(f"center bench/chat: {backend}; {agents} agents, {customers} customers connected")

        cpu_before = _server_cpu_s(servers)
        started = now()
        await asyncio.gather(*(c.run() for c in clients))
        wall = now() - started
        server_cpu = _server_cpu_s(servers) - cpu_before
        for a in bench_agents:
            await a.stop()
    finally:
        for a in bench_agents:
            with contextlib.suppress(Exception):
                await a.sio.disconnect()
        if runner is not None:
            await runner.cleanup()
        await asyncio.gather(*(s.stop() for s in servers))
        if rss_task is not None:
            rss_task.cancel()
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
        elif settings.redis_url:
            await _forget_keys(settings)
        shutil.rmtree(data_dir, ignore_errors=True)

    routed = len(stats.accepted)
    # The offer usually reaches the agent before the customer has the ack of the message
    # that queued it, so latency runs from the moment the customer emitted that message.
    sent_at = {iid: stats.first_sent[idx] for idx, iid in stats.iid_of.items()}
    offer_lat = [stats.offered[i] - sent_at[i] for i in stats.offered if i in sent_at]
    ack_lat = [stats.first_ack[i] - sent_at[i] for i in stats.first_ack if i in sent_at]
    first = min(stats.first_sent.values(), default=started)
    last = max(stats.accepted.values(), default=first)
    rate = routed / (last - first) if last > first else float("nan")
    print(f"  routed interactions      {routed}/{customers} in {last - first:.2f}s = {rate:.1f}/s")
    print(
        f"  offer latency            p50 {pct(offer_lat, 50):7.1f} ms   "
        f"p99 {pct(offer_lat, 99):7.1f} ms   (customer sends first message -> agent has offer)"
    )
    print(
        f"  first message ack        p50 {pct(ack_lat, 50):7.1f} ms   "
        f"p99 {pct(ack_lat, 99):7.1f} ms   (customer sends first message -> ack)"
    )
    print(
        f"  customer -> agent        p50 {pct(stats.to_agent, 50):7.1f} ms   "
        f"p99 {pct(stats.to_agent, 99):7.1f} ms   ({len(stats.to_agent)} messages)"
    )
    print(
        f"  agent -> customer        p50 {pct(stats.to_customer, 50):7.1f} ms   "
        f"p99 {pct(stats.to_customer, 99):7.1f} ms   ({len(stats.to_customer)} messages)"
    )
    print(f"  chats closed             {stats.closed}")
    print(f"  wall time                {wall:.2f} s")
    print(f"  peak RSS                 {peak_rss_mb():.0f} MiB (this process)")
    if SERVER_RSS:
        print(f"  peak RSS, servers        {max(SERVER_RSS):.0f} MiB (sum of the processes)")
        print(
            f"  server CPU               {server_cpu:.2f} s = {server_cpu * 1000 / customers:.1f}"
            " ms per chat (all processes; the least noisy figure here)"
        )
    for f in stats.failures[:10]:
        print(f"  FAILURE {f}")
    ok = not stats.failures and routed == customers and stats.closed == customers
    print(
        f"SUMMARY chat {backend} customers={customers} agents={agents} messages={messages} "
        f"routed/s={rate:.1f} offer_p50={pct(offer_lat, 50):.1f}ms "
        f"offer_p99={pct(offer_lat, 99):.1f}ms c2a_p50={pct(stats.to_agent, 50):.1f}ms "
        f"c2a_p99={pct(stats.to_agent, 99):.1f}ms a2c_p50={pct(stats.to_customer, 50):.1f}ms "
        f"a2c_p99={pct(stats.to_customer, 99):.1f}ms wall={wall:.2f}s "
        f"rss={peak_rss_mb():.0f}MiB "
        + (f"cpu_per_chat={server_cpu * 1000 / customers:.1f}ms " if servers else "")
        + f"failures={len(stats.failures)} {'OK' if ok else 'FAILED'}"
    )
    return 0 if ok else 1


SERVER_RSS: list[float] = []


def _server_cpu_s(servers: list[ServeProcess]) -> float:
    total = 0.0
    for s in servers:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(s.proc.pid).cpu_times()
            total += t.user + t.system
    return total


async def _sample_rss(pids: list[int]) -> None:
    procs = [psutil.Process(p) for p in pids]
    while True:
        with contextlib.suppress(psutil.Error):
            SERVER_RSS.append(sum(p.memory_info().rss for p in procs) / 2**20)
        await asyncio.sleep(0.5)


async def _forget_keys(settings: Settings) -> None:
    from center.redisconn import client

    redis = client(settings.redis_url)
    try:
        keys = [k async for k in redis.scan_iter(match=f"*{settings.redis_prefix}*", count=1000)]
        for i in range(0, len(keys), 1000):
            await redis.delete(*keys[i : i + 1000])
    finally:
        await redis.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--messages", type=int, default=3)
    parser.add_argument(
        "--serve-processes",
        type=int,
        default=0,
        help="run N real `center serve` processes (0: the app in this process)",
    )
    args = parser.parse_args()
    return asyncio.run(bench(args.customers, args.agents, args.messages, args.serve_processes))


if __name__ == "__main__":
    raise SystemExit(main())
