"""Twilio webhook benchmark: throughput and p50/p99 latency, signature validation included.

    .venv/bin/python bench/webhooks.py [--rate 200] [--seconds 5] [--only sms_inbound,...]
    .venv/bin/python bench/webhooks.py --only voice_incoming --profile /tmp/wh.txt  # pyinstrument
    .venv/bin/python bench/webhooks.py --only voice_incoming --show-slow 20  # when, in the run

Each scenario runs against one server process on loopback, first paced at ``--rate``
requests/s (latency from the moment a request was due, so a server falling behind shows),
then closed-loop with ``--concurrency`` clients for ``--burst`` seconds (throughput). The
anchors run in the same way in the same run: a bare aiohttp handler that reads the form
and answers empty TwiML, and the same with the official ``RequestValidator`` check; the
center's figures are printed beside them and as ratios. The center runs as ``center
serve`` (SQLite in a temporary directory and its embedded Redis, or CENTER_DATABASE_URL /
CENTER_REDIS_URL when set). Prints figures; asserts nothing about timing.

Scenarios are in ``SCENARIOS`` (name → path and a parameter factory): voice adds its own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.twilio_support import (  # noqa: E402  (the same builders the tests use)
    ACCOUNT_SID,
    AUTH_TOKEN,
    CENTER_NUMBER,
    PUBLIC_URL,
    sms_inbound,
    sms_status,
    voice_call,
)

Params = Callable[[int], dict[str, str]]
ENVS: dict[str, dict[str, str]] = {}  # the center servers' environments (their databases)
PROFILE: list[Path] = []  # --profile: the center server runs under cProfile, dumped here
CUSTOMERS = 50  # distinct numbers calling and texting in (known after the warm-up)


@dataclass(frozen=True)
class Scenario:
    path: str
    params: Params  # request number -> the form Twilio would post
    # Which server answers: "center" (one `center serve` for all its scenarios, in order),
    # or an anchor: "bare" / "signed" aiohttp.
    server: str = "center"


def _phone(n: int) -> str:
    return f"+1555{n % CUSTOMERS:07d}"


def _new_phone(n: int) -> str:
    """A number that never called or texted before (a new customer each request)."""
    return f"+1557{n:07d}"


def _inbound(n: int) -> dict[str, str]:
    return sms_inbound(
        f"bench message {n}", from_=_phone(n), message_sid="SM" + secrets.token_hex(16)
    )


def _inbound_new(n: int) -> dict[str, str]:
    return sms_inbound(
        f"first message {n}", from_=_new_phone(n), message_sid="SM" + secrets.token_hex(16)
    )


# Status callbacks for the outbound messages seeded before the run (ids 1..SEEDED): each
# request a new (MessageSid, status), so every one is stored (none is a replay).
SEEDED = 4000
STATUSES = ("queued", "sent", "delivered")


def _status_path(n: int) -> str:
    return f"/twilio/sms/status?m={1 + (n // len(STATUSES)) % SEEDED}"


def _status(n: int) -> dict[str, str]:
    message = 1 + (n // len(STATUSES)) % SEEDED
    return sms_status(f"SM{message:032x}", STATUSES[n % len(STATUSES)], to=_phone(message))


_REPLAYED = sms_inbound("the same one again", from_=_phone(0), message_sid="SM" + "ab" * 16)

# -- voice: a call coming in (customer, interaction, call, leg, greeting TwiML), its status
# callbacks (seeded calls 1..SEEDED_CALLS, each request a new (CallSid, status)), and a
# caller's key press in the IVR menu (a wrong key: the prompt again, the try logged).
SEEDED_CALLS = 1500
CALL_STATUSES = ("initiated", "ringing", "in-progress")


def _call_sid(n: int) -> str:
    return f"CA{n:032x}"


def _voice_incoming(n: int) -> dict[str, str]:
    return voice_call("CA" + secrets.token_hex(16), from_=_phone(n))


def _voice_new_caller(n: int) -> dict[str, str]:
    return voice_call("CA" + secrets.token_hex(16), from_=_new_phone(n))


def _voice_status(n: int) -> dict[str, str]:
    call = 1 + (n // len(CALL_STATUSES)) % SEEDED_CALLS
    status = CALL_STATUSES[n % len(CALL_STATUSES)]
    return voice_call(_call_sid(call), status, from_=_phone(call))


def _voice_ivr(n: int) -> dict[str, str]:
    call = 1 + n % SEEDED_CALLS
    return voice_call(_call_sid(call), "in-progress", from_=_phone(call), Digits="8")


SCENARIOS: dict[str, Scenario] = {
    "anchor_bare": Scenario("/twilio/sms", _inbound, server="bare"),
    "anchor_signed": Scenario("/twilio/sms", _inbound, server="signed"),
    "sms_inbound": Scenario("/twilio/sms", _inbound),
    "sms_replay": Scenario("/twilio/sms", lambda n: _REPLAYED),
    "sms_status": Scenario("/twilio/sms/status", _status),
    "voice_incoming": Scenario("/twilio/voice", _voice_incoming),
    "voice_status": Scenario("/twilio/voice/status", _voice_status),
    "voice_ivr": Scenario("/twilio/voice/ivr?menu=main&tries=0", _voice_ivr),
    # Last: each leaves a new customer's interaction waiting per request (thousands in the
    # queues, which the router's sweeps then scan), which would weigh on what follows.
    "voice_new_caller": Scenario("/twilio/voice", _voice_new_caller),
    "sms_new_number": Scenario("/twilio/sms", _inbound_new),
}
PATHS: dict[str, Callable[[int], str]] = {"sms_status": _status_path}


# -- the anchors: a bare aiohttp server (run as a subprocess: --serve-anchor PORT MODE) -------


def serve_anchor(port: int, signed: bool) -> None:
    validator = RequestValidator(AUTH_TOKEN)
    empty = str(MessagingResponse())

    async def handler(request: web.Request) -> web.Response:
        form = await request.post()
        if signed and not validator.validate(
            PUBLIC_URL + request.raw_path, form, request.headers.get("X-Twilio-Signature", "")
        ):
            raise web.HTTPForbidden()
        return web.Response(text=empty, content_type="application/xml")

    app = web.Application()
    app.router.add_post("/twilio/sms", handler)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# -- the load -----------------------------------------------------------------------------


@dataclass
class Figures:
    sent: int
    errors: int
    p50_ms: float
    p99_ms: float
    achieved_rps: float
    burst_rps: float
    cpu_ms: float  # the server's CPU (user + system) per request, paced and burst together
    cpu_start_s: float  # (the server's CPU seconds when the load began)
    requests: int  # paced and burst together


def _signed(path: str, params: dict[str, str]) -> dict[str, str]:
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + path, params)
    return {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}


async def _one(
    http: aiohttp.ClientSession, base: str, name: str, n: int, scenario: Scenario
) -> bool:
    path = PATHS[name](n) if name in PATHS else scenario.path
    params = scenario.params(n)
    # (Signed by the load generator, like Twilio: not part of the server's figure.)
    async with http.post(base + path, data=params, headers=_signed(path, params)) as r:
        await r.read()
        return r.status < 300


def _cpu_s(pid: int) -> float:
    """A process's CPU seconds so far (user + system; Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(
    base: str,
    name: str,
    scenario: Scenario,
    args: argparse.Namespace,
    pid: int,
    settle: Callable[[], Awaitable[None]] | None = None,
) -> Figures:
    connector = aiohttp.TCPConnector(limit=args.concurrency * 4)
    async with aiohttp.ClientSession(connector=connector) as http:
        # Warm-up (connections, prepared statements, caches), one request from each number
        # of the pool: the measured load is a centre whose callers and texters are known
        # (*_new_number / voice_new_caller measure the first contact on its own).
        for n in range(max(20, CUSTOMERS)):
            await _one(http, base, name, 10**6 + n, scenario)
        if settle is not None:  # (and what the warm-up started in the background)
            await settle()
        latencies: list[float] = []
        slow: list[tuple[float, float]] = []  # (when it was due, its latency): --show-slow
        errors = 0
        interval = 1 / args.rate
        cpu_start = _cpu_s(pid)
        total = int(args.rate * args.seconds)
        # The first request is due a moment from now: by then the client has made its
        # tasks (thousands), which would otherwise delay the first ones and be counted.
        start = time.perf_counter() + 0.2

        async def paced(n: int) -> None:
            nonlocal errors
            due = start + n * interval
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            ok = await _one(http, base, name, n, scenario)
            latencies.append(time.perf_counter() - due)
            if args.show_slow and latencies[-1] * 1000 > args.show_slow:
                slow.append((due - start, latencies[-1]))
            errors += not ok

        await asyncio.gather(*(paced(n) for n in range(total)))
        elapsed = time.perf_counter() - start
        if slow:  # (when in the run the slow ones were due: a stall, or a backlog building)
            print(f"{name}: {len(slow)} requests over {args.show_slow} ms, by when they were due:")
            for tenth in sorted({int(at * 10) for at, _ in slow}):
                these = [lat for at, lat in slow if int(at * 10) == tenth]
                print(f"  {tenth / 10:5.1f} s  {len(these):4d}  worst {max(these) * 1000:.0f} ms")
        done = 0
        stop = time.perf_counter() + args.burst

        async def worker(w: int) -> None:
            nonlocal done, errors
            n = 2 * 10**6 + w * 10**5
            while time.perf_counter() < stop:
                errors += not await _one(http, base, name, n, scenario)
                n += 1
                done += 1

        burst_start = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(args.concurrency)))
        burst = time.perf_counter() - burst_start
        cpu = _cpu_s(pid) - cpu_start
    q = statistics.quantiles(latencies, n=100)
    return Figures(
        total,
        errors,
        q[49] * 1000,
        q[98] * 1000,
        total / elapsed,
        done / burst,
        cpu * 1000 / (total + done),
        cpu_start,
        total + done,
    )


# -- the servers --------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _wait_up(url: str, proc: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            if proc.returncode is not None:
                raise SystemExit(f"server exited with {proc.returncode}")
            try:
                async with http.get(url) as r:
                    await r.read()
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
    raise SystemExit(f"server at {url} did not come up")


def _center_env(data: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CENTER_")}
    env.update(
        CENTER_PORT=str(port),
        CENTER_DATA_DIR=str(data),
        CENTER_PUBLIC_URL=PUBLIC_URL,
        CENTER_TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        CENTER_TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        CENTER_TWILIO_NUMBER=CENTER_NUMBER,
        CENTER_TWILIO_API_URL="http://127.0.0.1:9",  # nothing is sent in these scenarios
        CENTER_SMS_KB_DEFLECTION="0",
        PYTHONPATH=str(ROOT),
    )
    for key in ("CENTER_DATABASE_URL", "CENTER_REDIS_URL"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    if os.environ.get("CENTER_DATABASE_URL", "").startswith("postgresql"):
        env["CENTER_DATABASE_SCHEMA"] = f"bench_{uuid.uuid4().hex[:8]}"
        env["CENTER_REDIS_PREFIX"] = env["CENTER_DATABASE_SCHEMA"]
    return env


async def _seed(env: dict[str, str]) -> None:
    """Outbound messages for the status callbacks to name (ids 1..SEEDED)."""
    from sqlalchemy import insert

    from center.interactions import rows
    from center.records.enums import Channel, Direction, InteractionState
    from center.records.models import Customer

    db = _db(env)
    customers = Customer.__table__
    try:
        async with db.step() as c:
            created = await c.execute(
                insert(customers).values(display_name="bench").returning(customers.c.id)
            )
            i = await rows.insert_interaction(
                c,
                customer_id=created.scalar_one(),
                channel=Channel.SMS,
                state=InteractionState.CLOSED,
                queue="default",
                priority=0,
            )
            for n in range(1, SEEDED + 1):
                meta = {"sms": {"to": _phone(n), "status": None}}
                await rows.insert_message(c, i.id, Direction.OUTBOUND, "seeded", meta=meta)
    finally:
        await db.dispose()


def _db(env: dict[str, str]) -> Any:
    from center.config import Settings
    from center.records.db import Database

    settings = Settings(
        _env_file=None,
        data_dir=Path(env["CENTER_DATA_DIR"]),
        database_url=env.get("CENTER_DATABASE_URL", ""),
        database_schema=env.get("CENTER_DATABASE_SCHEMA", ""),
    )
    return Database(settings.resolved_database_url, schema=settings.database_schema or None)


@dataclass(frozen=True)
class Drain:
    rows: int
    rows_per_s: float  # processed / (last processed - first received): the whole run
    backlog_rows_per_s: float  # processed after the load ended / the time that took
    lag_s: float  # from the end of the load until the inbox was empty
    failed: int  # rows marked with an error
    messages: int  # inbound messages stored (a text acted on makes one)


async def _inbox_left(db: Any) -> int:
    from sqlalchemy import func, select

    from center.records.models import TwilioInbox

    t = TwilioInbox.__table__
    async with db.read_step() as c:
        return int(await c.scalar(select(func.count()).where(t.c.processed_at.is_(None))) or 0)


async def _inbox_emptied(db: Any, timeout_s: float = 300.0) -> None:
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        if not await _inbox_left(db):
            return
        await asyncio.sleep(0.05)  # (another process's table: polled, nothing to wait on)


def _inbox_settled(env: dict[str, str]) -> Callable[[], Awaitable[None]]:
    """The warm-up's texts acted on before the measured load starts: their first-use
    costs (a process's first conversations, statements, caches) are the warm-up's."""

    async def settle() -> None:
        db = _db(env)
        try:
            await _inbox_emptied(db, 60.0)
        finally:
            await db.dispose()

    return settle


async def _drain(env: dict[str, str], ended: float) -> Drain:
    """Wait (polling, up to 5 min) until the SMS inbox is empty; how fast it emptied."""
    from sqlalchemy import func, select

    from center.records.enums import Direction
    from center.records.models import Message, TwilioInbox

    t = TwilioInbox.__table__
    m = Message.__table__
    db = _db(env)
    try:
        left_at_end = await _inbox_left(db)
        await _inbox_emptied(db)
        empty = time.perf_counter()
        async with db.read_step() as c:
            rows, first, last = (
                await c.execute(
                    select(func.count(), func.min(t.c.received_at), func.max(t.c.processed_at))
                )
            ).one()
            failed = await c.scalar(select(func.count()).where(t.c.error.is_not(None)))
            messages = await c.scalar(
                select(func.count()).where(m.c.direction == Direction.INBOUND)
            )
    finally:
        await db.dispose()
    whole = (last - first).total_seconds() if rows else 0.0
    lag = max(0.0, empty - ended)
    return Drain(
        rows,
        rows / whole if whole else 0.0,
        (left_at_end or 0) / lag if lag > 0.05 else float("nan"),
        lag,
        int(failed or 0),
        int(messages or 0),
    )


async def _start(kind: str, tmp: Path) -> tuple[str, asyncio.subprocess.Process, int]:
    port = _free_port()
    if kind in ("bare", "signed"):
        cmd = [sys.executable, __file__, "--serve-anchor", str(port), kind]
        proc = await asyncio.create_subprocess_exec(
            *cmd, env={**os.environ, "PYTHONPATH": str(ROOT)}
        )
        await _wait_up(f"http://127.0.0.1:{port}/nothing", proc)
        return kind, proc, port
    data = tmp / kind
    data.mkdir()
    env = _center_env(data, port)
    ENVS[kind] = env
    argv = [sys.executable, "-m", "center", "serve"]
    if PROFILE:
        # pyinstrument (pip install pyinstrument; not a dependency): a sampled call tree of
        # the server; SIGUSR1 writes it and exits at once.
        argv[1:] = ["-c", (
            "import os, signal, sys\n"
            "from pyinstrument import Profiler\n"
            "p = Profiler(interval=0.0005, async_mode='disabled')\n"
            "def dump(*_):\n"
            "    p.stop()\n"
            f"    open({str(PROFILE[0])!r}, 'w').write(p.output_text(show_all=False))\n"
            "    os._exit(0)\n"
            "signal.signal(signal.SIGUSR1, dump)\n"
            "from center.cli import main\n"
            "p.start()\n"
            "sys.exit(main(['serve']))\n"
        )]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(*argv, env=env)
    await _wait_up(f"http://127.0.0.1:{port}/healthz", proc)
    await _seed(env)  # (the status callbacks' messages; harmless to the other scenarios)
    await _seed_calls(env)  # (the calls the voice callbacks name)
    return kind, proc, port


async def _stop(proc: asyncio.subprocess.Process, kind: str) -> None:
    if PROFILE and kind == "center":
        proc.send_signal(signal.SIGUSR1)
    else:
        proc.terminate()
    await asyncio.wait_for(proc.wait(), 20)
    if kind in ENVS:
        await _forget(ENVS[kind])


async def _forget(env: dict[str, str]) -> None:
    """The run's schema and Redis keys go with it (a shared server is left as found)."""
    from sqlalchemy import text

    from center.redisconn import client

    schema = env.get("CENTER_DATABASE_SCHEMA")
    if schema:
        db = _db({**env, "CENTER_DATABASE_SCHEMA": ""})
        try:
            async with db.engine.begin() as c:
                await c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        finally:
            await db.dispose()
    prefix, url = env.get("CENTER_REDIS_PREFIX"), env.get("CENTER_REDIS_URL")
    if prefix and url:
        redis = client(url)
        try:
            keys = [k async for k in redis.scan_iter(match=f"*{prefix}*", count=1000)]
            for n in range(0, len(keys), 1000):
                await redis.delete(*keys[n : n + 1000])
        finally:
            await redis.aclose()


async def _seed_calls(env: dict[str, str]) -> None:
    """Calls in the IVR for the voice callbacks to name (CallSids 1..SEEDED_CALLS)."""
    from sqlalchemy import insert

    from center.channels.voice import store
    from center.interactions import rows
    from center.records.enums import Channel, InteractionState
    from center.records.models import Customer

    db = _db(env)
    customers = Customer.__table__
    try:
        async with db.step() as c:
            created = await c.execute(
                insert(customers).values(display_name="bench").returning(customers.c.id)
            )
            customer_id = created.scalar_one()
            for n in range(1, SEEDED_CALLS + 1):
                i = await rows.insert_interaction(
                    c,
                    customer_id=customer_id,
                    channel=Channel.VOICE,
                    state=InteractionState.IVR,
                    queue="default",
                    priority=0,
                    external_ref=_call_sid(n),
                )
                call = await store.insert_call(
                    c,
                    interaction_id=i.id,
                    customer_id=customer_id,
                    from_number=_phone(n),
                    to_number=CENTER_NUMBER,
                    language="en-US",
                    stage="ivr",
                    menu="main",
                    conference=store.conference_name(i.id),
                )
                await store.insert_leg(c, call, _call_sid(n), store.Role.CALLER, status="queued")
    finally:
        await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--burst", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--profile", type=Path, help="write the center's pyinstrument profile here")
    parser.add_argument(
        "--show-slow", type=float, default=0.0, metavar="MS",
        help="list when the paced requests slower than this were due (diagnosis)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.profile:
        PROFILE.append(args.profile.resolve())
    names = [n for n in SCENARIOS if not args.only or n in args.only.split(",")]
    results: dict[str, Figures] = {}
    drains: dict[str, Drain] = {}
    cpu_whole: dict[str, float] = {}  # CPU per text until the inbox drained (processing too)
    with tempfile.TemporaryDirectory() as tmp:
        running: tuple[str, asyncio.subprocess.Process, int] | None = None
        try:
            for name in names:
                scenario = SCENARIOS[name]
                if running is None or running[0] != scenario.server:
                    if running is not None:
                        await _stop(running[1], running[0])
                    running = await _start(scenario.server, Path(tmp))
                _, proc, port = running
                base = f"http://127.0.0.1:{port}"
                inbox = scenario.server == "center" and scenario.path == "/twilio/sms"
                settle = _inbox_settled(ENVS["center"]) if inbox else None
                results[name] = await load(base, name, scenario, args, proc.pid, settle)
                if inbox:
                    # (The inbox: answered texts are acted on afterwards; how fast?)
                    drains[name] = await _drain(ENVS["center"], time.perf_counter())
                    whole = _cpu_s(proc.pid) - results[name].cpu_start_s
                    cpu_whole[name] = whole * 1000 / results[name].requests
        finally:
            if running is not None:
                await _stop(running[1], running[0])
    anchor = results.get("anchor_bare")
    print(
        f"\nTwilio webhooks at {args.rate:.0f} req/s for {args.seconds:.0f} s, then "
        f"{args.concurrency} clients for {args.burst:.0f} s; one server process per kind"
    )
    print(
        f"{'scenario':<16}{'p50 ms':>9}{'p99 ms':>9}{'paced/s':>9}{'max/s':>9}{'errors':>8}"
        f"{'CPU ms/req':>11}{'p99 ×anchor':>13}{'max ×anchor':>13}{'CPU ×anchor':>13}"
    )
    for name, f in results.items():
        ratio99 = f"{f.p99_ms / anchor.p99_ms:.1f}" if anchor else "-"
        ratio_max = f"{f.burst_rps / anchor.burst_rps:.2f}" if anchor else "-"
        ratio_cpu = f"{f.cpu_ms / anchor.cpu_ms:.1f}" if anchor else "-"
        print(
            f"{name:<16}{f.p50_ms:>9.2f}{f.p99_ms:>9.2f}{f.achieved_rps:>9.0f}"
            f"{f.burst_rps:>9.0f}{f.errors:>8}{f.cpu_ms:>11.2f}{ratio99:>13}{ratio_max:>13}"
            f"{ratio_cpu:>13}"
        )
    for name, d in drains.items():
        print(
            f"drain after {name}: {d.rows} texts, {d.rows_per_s:.0f} processed/s over the run, "
            f"backlog {d.backlog_rows_per_s:.0f}/s, inbox empty {d.lag_s:.1f} s after the load; "
            f"{d.failed} failed, {d.messages} inbound messages stored; "
            f"{cpu_whole[name]:.2f} ms CPU per text, answer and processing"
        )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-anchor":
        serve_anchor(int(sys.argv[2]), sys.argv[3] == "signed")
    else:
        asyncio.run(main())
