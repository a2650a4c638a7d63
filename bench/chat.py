"""End-to-end chat benchmark: real `center serve` processes, real socket.io websocket clients,
and beside them, in the same run, the same load against a bare python-socketio relay.

    python bench/chat.py                                   # SQLite + embedded Redis
    python bench/chat.py --serve-processes 3               # three `center serve` processes
    python bench/chat.py --profile /tmp/chat.prof   # the server under cProfile; then:
    python -c "import pstats; pstats.Stats('/tmp/chat-0.prof').sort_stats('tottime').print_stats(9)"
    BENCH_SPY=/tmp/spy python bench/chat.py  # py-spy (if installed) over the load only
    CENTER_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
    CENTER_REDIS_URL=redis://127.0.0.1:6379/0 python bench/chat.py --customers 200 --agents 50

N customers and M agents (chat capacity 3 each) connect over websockets. Agents auto-accept
every offer and answer every customer message; customers send K messages each, one at a time,
waiting for the reply; the agent closes each chat after its last reply. Prints routed
interactions/s, offer latency, message latencies both ways (p50/p99), wall time, the servers'
peak RSS and CPU (psutil, the server processes only: the clients run here), and center's
figures as ratios of the relay's (bench/relay.py: the same socket work, no database, no
Redis), the ceiling on this machine. Figures only: nothing here asserts on timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import socketio
from sqlalchemy import text

from center.config import Settings
from center.records.db import Database
from center.records.users import create_user
from center.redisconn import start_embedded

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.processes
from tests.processes import ServeProcess, settings_env, spawn, start_serve

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


@dataclass
class Result:
    """One load run's figures (against center or the relay)."""

    name: str
    customers: int
    routed: int = 0
    rate: float = float("nan")  # routed chats/s
    offer: list[float] = field(default_factory=list)
    ack: list[float] = field(default_factory=list)
    c2a: list[float] = field(default_factory=list)
    a2c: list[float] = field(default_factory=list)
    closed: int = 0
    wall: float = 0.0
    cpu_s: float = 0.0  # the server processes' CPU over the load (user + system)
    rss_mib: float = 0.0  # peak, summed over the server processes
    failures: list[str] = field(default_factory=list)

    @property
    def cpu_ms_per_chat(self) -> float:
        return self.cpu_s * 1000 / max(1, self.customers)

    @property
    def messages_per_s(self) -> float:
        return (len(self.c2a) + len(self.a2c)) / self.wall if self.wall else float("nan")

    @property
    def ok(self) -> bool:
        return not self.failures and self.routed == self.customers == self.closed

    def print(self) -> None:
        print(f"  [{self.name}]")
        print(f"  routed interactions      {self.routed}/{self.customers} = {self.rate:.1f}/s")
        for label, values, what in (
            ("offer latency", self.offer, "customer sends first message -> agent has offer"),
            ("first message ack", self.ack, "customer sends first message -> ack"),
            ("customer -> agent", self.c2a, f"{len(self.c2a)} messages"),
            ("agent -> customer", self.a2c, f"{len(self.a2c)} messages"),
        ):
            print(
                f"  {label:<24} p50 {pct(values, 50):7.1f} ms   "
                f"p99 {pct(values, 99):7.1f} ms   ({what})"
            )
        print(f"  messages/s               {self.messages_per_s:.0f} (both ways, over the wall)")
        print(f"  chats closed             {self.closed}")
        print(f"  wall time                {self.wall:.2f} s")
        print(f"  peak RSS, servers        {self.rss_mib:.0f} MiB")
        print(
            f"  server CPU               {self.cpu_s:.2f} s = {self.cpu_ms_per_chat:.1f} ms"
            " per chat (server processes only)"
        )
        for f in self.failures[:10]:
            print(f"  FAILURE {f}")


async def run_load(
    name: str, urls: list[str], pids: list[int], customers: int, agents: int, messages: int
) -> Result:
    """The client load (this process) against servers (other processes, ``pids``)."""
    stats = Stats()
    result = Result(name, customers)
    bench_agents: list[BenchAgent] = []
    sampler = RssSampler(pids)
    try:
        async with aiohttp.ClientSession() as http:
            bench_agents = [
                BenchAgent(urls[a % len(urls)], f"agent{a}", messages, stats) for a in range(agents)
            ]
            await asyncio.gather(*(a.start(http) for a in bench_agents))
        clients = [BenchCustomer(urls[i % len(urls)], i, messages, stats) for i in range(customers)]
        await asyncio.gather(*(c.connect() for c in clients))
        spy = await start_spy(name, pids)
        cpu_before = server_cpu_s(pids)
        started = now()
        await asyncio.gather(*(c.run() for c in clients))
        result.wall = now() - started
        result.cpu_s = server_cpu_s(pids) - cpu_before
        await stop_spy(spy)
        for a in bench_agents:
            await a.stop()
    finally:
        for a in bench_agents:
            with contextlib.suppress(Exception):
                await a.sio.disconnect()
        result.rss_mib = await sampler.stop()

    result.routed = len(stats.accepted)
    # The offer usually reaches the agent before the customer has the ack of the message
    # that queued it, so latency runs from the moment the customer emitted that message.
    sent_at = {iid: stats.first_sent[idx] for idx, iid in stats.iid_of.items()}
    result.offer = [stats.offered[i] - sent_at[i] for i in stats.offered if i in sent_at]
    result.ack = [stats.first_ack[i] - sent_at[i] for i in stats.first_ack if i in sent_at]
    first = min(stats.first_sent.values(), default=started)
    last = max(stats.accepted.values(), default=first)
    result.rate = result.routed / (last - first) if last > first else float("nan")
    result.c2a, result.a2c = stats.to_agent, stats.to_customer
    result.closed, result.failures = stats.closed, stats.failures
    return result


async def run_relay(customers: int, agents: int, messages: int, log_dir: Path) -> Result:
    """The anchor: the same load against bench/relay.py (socket work only)."""
    port = free_port()
    argv = [sys.executable, str(Path(__file__).with_name("relay.py")), "--port", str(port)]
    proc = await spawn("relay", argv, dict(os.environ), log_dir / "relay.log", port)
    try:
        return await run_load(
            "bare python-socketio relay", [proc.url], [proc.proc.pid], customers, agents, messages
        )
    finally:
        await proc.stop()


async def run_center(
    customers: int, agents: int, messages: int, processes: int, profile: Path | None
) -> tuple[Result, str]:
    tag = uuid.uuid4().hex[:10]
    data_dir = Path(tempfile.mkdtemp(prefix="center-bench-"))
    settings = make_settings(data_dir, tag)
    backend = "postgresql" if settings.database_schema else "sqlite"
    backend += " + redis server" if settings.redis_url else " + embedded redis"
    embedded = None
    if not settings.redis_url:
        # The processes must share one Redis: one embedded server for all of them.
        embedded = await start_embedded(data_dir / "redis" / "bench.rdb")
        settings = settings.model_copy(update={"redis_url": embedded.url})
    servers: list[ServeProcess] = []
    try:
        db = Database(settings.resolved_database_url, schema=settings.database_schema or None)
        try:
            await db.migrate()
            await asyncio.gather(
                *(
                    create_user(db, f"agent{a}", PASSWORD, capacity={"chat": 3})
                    for a in range(agents)
                )
            )
        finally:
            await db.dispose()
        # Real `center serve` processes sharing the database and Redis; the clients stay
        # in this process, so the servers' CPU is their own.
        servers = list(
            await asyncio.gather(
                *(
                    start_center(settings, f"serve{n}", data_dir, profile=profile, n=n)
                    for n in range(processes)
                )
            )
        )
        name = f"center, {backend}, {processes} process{'es' if processes > 1 else ''}"
        result = await run_load(
            name, [s.url for s in servers], [s.proc.pid for s in servers],
            customers, agents, messages,
        )  # fmt: skip
    finally:
        if profile is not None:
            for s in servers:
                with contextlib.suppress(ProcessLookupError):
                    s.proc.send_signal(signal.SIGUSR1)
        await asyncio.gather(*(s.stop() for s in servers))
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
            await _forget_keys(settings)
        shutil.rmtree(data_dir, ignore_errors=True)
    return result, backend


async def start_center(
    settings: Settings, name: str, log_dir: Path, *, profile: Path | None, n: int
) -> ServeProcess:
    if profile is None:
        return await start_serve(settings, name, log_dir)
    # Under cProfile (the CPU figures of this run are inflated by it). SIGUSR1 (sent by
    # run_center once the load is done) writes the profile and exits at once: a graceful
    # shutdown under the profiler can outlast ServeProcess.stop's patience.
    port = free_port()
    out = profile.with_name(f"{profile.stem}-{n}{profile.suffix}")
    code = (
        "import cProfile, os, signal, sys\n"
        "import time\n"
        "p = cProfile.Profile(time.process_time)  # CPU, not wall: the machine is shared\n"
        "def dump(*_):\n"
        f"    p.disable(); p.dump_stats({str(out)!r}); os._exit(0)\n"
        "signal.signal(signal.SIGUSR1, dump)\n"
        "from center.cli import main\n"
        "p.enable()\n"
        f"sys.exit(main(['serve', '--host', '127.0.0.1', '--port', '{port}']))\n"
    )
    argv = [sys.executable, "-c", code]
    return await spawn(name, argv, settings_env(settings), log_dir / f"{name}.log", port)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_spy(name: str, pids: list[int]) -> asyncio.subprocess.Process | None:
    """With BENCH_SPY=FILE (and py-spy installed): sample the first server during the load
    only (not its start, sign-ins or connects), as collapsed stacks for a flame graph."""
    out = os.environ.get("BENCH_SPY")
    if not out or not shutil.which("py-spy"):
        return None
    path = f"{out}.{'relay' if 'relay' in name else 'center'}"
    return await asyncio.create_subprocess_exec(
        "py-spy", "record", "-p", str(pids[0]), "-r", "250", "-f", "raw", "-o", path,
        "--nonblocking", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def stop_spy(spy: asyncio.subprocess.Process | None) -> None:
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # (py-spy writes its file on SIGINT)
        await spy.wait()


def server_cpu_s(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
    return total


class RssSampler:
    """Peak RSS summed over the server processes, sampled every half second."""

    def __init__(self, pids: list[int]) -> None:
        self.procs = [psutil.Process(p) for p in pids]
        self.peak = 0.0
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(0.5)

    def sample(self) -> None:
        with contextlib.suppress(psutil.Error):
            self.peak = max(self.peak, sum(p.memory_info().rss for p in self.procs) / 2**20)

    async def stop(self) -> float:
        self.sample()
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        return self.peak


async def _forget_keys(settings: Settings) -> None:
    from center.redisconn import client

    redis = client(settings.redis_url)
    try:
        keys = [k async for k in redis.scan_iter(match=f"*{settings.redis_prefix}*", count=1000)]
        for i in range(0, len(keys), 1000):
            await redis.delete(*keys[i : i + 1000])
    finally:
        await redis.aclose()


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b and b == b and a == a else "n/a"


async def bench(
    customers: int, agents: int, messages: int, processes: int, anchor: bool, profile: Path | None
) -> int:
    log_dir = Path(tempfile.mkdtemp(prefix="center-bench-relay-"))
    relay = await run_relay(customers, agents, messages, log_dir) if anchor else None
    center, backend = await run_center(customers, agents, messages, processes, profile)
    shutil.rmtree(log_dir, ignore_errors=True)
    print(f"center bench/chat: {agents} agents, {customers} customers, {messages} messages each")
    for r in (relay, center):
        if r is not None:
            r.print()
    summary = (
        f"SUMMARY chat {backend} processes={processes} customers={customers} agents={agents} "
        f"messages={messages} routed/s={center.rate:.1f} "
        f"msgs/s={center.messages_per_s:.0f} "
        f"c2a_p50={pct(center.c2a, 50):.1f}ms c2a_p99={pct(center.c2a, 99):.1f}ms "
        f"a2c_p50={pct(center.a2c, 50):.1f}ms a2c_p99={pct(center.a2c, 99):.1f}ms "
        f"cpu_per_chat={center.cpu_ms_per_chat:.1f}ms rss={center.rss_mib:.0f}MiB "
    )
    if relay is not None:
        summary += (
            f"relay_cpu_per_chat={relay.cpu_ms_per_chat:.1f}ms "
            f"cpu_ratio={ratio(center.cpu_ms_per_chat, relay.cpu_ms_per_chat)} "
            f"msgs/s_ratio={ratio(center.messages_per_s, relay.messages_per_s)} "
            f"c2a_p50_ratio={ratio(pct(center.c2a, 50), pct(relay.c2a, 50))} "
            f"c2a_p99_ratio={ratio(pct(center.c2a, 99), pct(relay.c2a, 99))} "
        )
    ok = center.ok and (relay is None or relay.ok)
    print(summary + f"failures={len(center.failures)} {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--messages", type=int, default=3)
    parser.add_argument(
        "--serve-processes", type=int, default=1, help="real `center serve` processes"
    )
    parser.add_argument(
        "--no-anchor", action="store_true", help="skip the bare relay run (bench/relay.py)"
    )
    parser.add_argument(
        "--profile", type=Path, help="run the servers under cProfile; pstats file(s) here"
    )
    args = parser.parse_args()
    return asyncio.run(
        bench(
            args.customers,
            args.agents,
            args.messages,
            args.serve_processes,
            not args.no_anchor,
            args.profile,
        )
    )


if __name__ == "__main__":
    raise SystemExit(main())
