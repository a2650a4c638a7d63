"""Email benchmark: messages/s through the SMTP listener to a stored, queued ticket.

    .venv/bin/python bench/mail.py [--messages 400] [--concurrency 8]

Runs ``center serve`` (its own process: SQLite file + embedded Redis, or the servers in
CENTER_DATABASE_URL / CENTER_REDIS_URL) and, as the anchor in the same run, a bare aiosmtpd
sink that answers 250 at once (also its own process). The same aiosmtplib clients send
the same mail to both: each message is MAIL, RCPT, DATA on a kept-open connection, and the
time from DATA to the 250 is the latency (for center: stored, parsed, ticket and queued
interaction committed, routed). Prints messages/s, p50/p99 and the server's peak RSS,
beside the anchor's. Asserts nothing.
"""

# (Named mail.py, not email.py: bench/ is first on sys.path of every script run from it, and
# a bench/mail.py would shadow the standard library's email package for all of them.)
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiosmtplib
import psutil

ROOT = Path(__file__).resolve().parent.parent
SUPPORT = "support@bench.test"

ANCHOR = """
import asyncio, sys
from aiosmtpd.smtp import SMTP
class H:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"
async def main():
    loop = asyncio.get_running_loop()
    await loop.create_server(lambda: SMTP(H(), loop=loop), "127.0.0.1", int(sys.argv[1]))
    await asyncio.Event().wait()
asyncio.run(main())
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _message(n: int, run: str) -> bytes:
    return (
        f"From: Customer {n} <customer{n}@example.test>\r\n"
        f"To: {SUPPORT}\r\n"
        f"Subject: Order {n} has not arrived\r\n"
        f"Message-ID: <{run}.{n}@example.test>\r\n"
        "Date: Wed, 2 Dec 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\n'
        "\r\n"
        f"Hello, order {n} has not arrived yet. Could you check it?\r\n\r\n"
        "On Tue, 1 Dec 2026 at 09:12, Support wrote:\r\n> Thanks for your order.\r\n"
    ).encode()


def _center_cmd(profile: Path | None) -> list[str]:
    if profile is None:
        return [sys.executable, "-m", "center", "serve"]
    # CPU time, not wall (the machine is shared); SIGUSR1 writes the profile and exits.
    code = (
        "import cProfile, os, signal, sys, time\n"
        "p = cProfile.Profile(time.process_time)\n"
        "def dump(*_):\n"
        f"    p.disable(); p.dump_stats({str(profile)!r}); os._exit(0)\n"
        "signal.signal(signal.SIGUSR1, dump)\n"
        "from center.cli import main\n"
        "p.enable()\n"
        "sys.exit(main(['serve']))\n"
    )
    return [sys.executable, "-c", code, "profiled"]


async def _wait_port(port: int, proc: asyncio.subprocess.Process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            _r, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port}")


async def _load(port: int, messages: int, concurrency: int) -> tuple[float, list[float]]:
    """(elapsed s, DATA→250 latencies ms) for ``messages`` over ``concurrency``
    kept-open connections."""
    run = uuid.uuid4().hex[:8]
    latencies: list[float] = []
    todo = iter(range(messages))

    async def client() -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60)
        await smtp.connect()
        await smtp.ehlo()
        for n in todo:
            await smtp.mail(f"customer{n}@example.test")
            await smtp.rcpt(SUPPORT)
            started = time.perf_counter()
            reply = await smtp.data(_message(n, run))
            latencies.append((time.perf_counter() - started) * 1000)
            assert reply.code == 250, reply
        await smtp.quit()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


async def _measure(
    name: str, cmd: list[str], env: dict[str, str], port: int, args: argparse.Namespace
) -> tuple[float, float, float, float, float]:
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    peak = 0.0
    try:
        await _wait_port(port, proc)
        ps = psutil.Process(proc.pid)
        stop = asyncio.Event()

        async def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, ps.memory_info().rss / 2**20)
                await asyncio.sleep(0.05)

        sampler = asyncio.create_task(sample())
        await _load(port, min(40, args.messages), args.concurrency)  # warm up
        before = sum(ps.cpu_times()[:2])
        elapsed, lat = await _load(port, args.messages, args.concurrency)
        # The server's own CPU per message: what a loaded machine stretches least.
        cpu_ms = (sum(ps.cpu_times()[:2]) - before) * 1000 / len(lat)
        stop.set()
        await sampler
    finally:
        if cmd[-1] == "profiled":
            proc.send_signal(signal.SIGUSR1)  # the profile is written, then it exits
            await asyncio.sleep(2)
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
    lat.sort()
    rate = len(lat) / elapsed
    p50, p99 = statistics.median(lat), lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    print(
        f"  {name:8s} {rate:8.0f} msg/s   p50 {p50:7.2f} ms   p99 {p99:7.2f} ms"
        f"   CPU {cpu_ms:6.2f} ms/msg   peak RSS {peak:6.0f} MiB"
    )
    return rate, p50, p99, peak, cpu_ms


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--profile", type=Path, help="run center under cProfile (CPU time); pstats file here"
    )
    args = parser.parse_args()
    backend = (
        "PostgreSQL"
        if os.environ.get("CENTER_DATABASE_URL", "").startswith("postgresql")
        else "SQLite"
    )
    print(f"{args.messages} messages over {args.concurrency} connections; center on {backend}")
    anchor_port = _free_port()
    anchor = await _measure(
        "anchor",
        [sys.executable, "-c", ANCHOR, str(anchor_port)],
        dict(os.environ),
        anchor_port,
        args,
    )
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        env = {
            **os.environ,
            "CENTER_DATA_DIR": tmp,
            "CENTER_PORT": str(_free_port()),
            "CENTER_SMTP_LISTEN": f"127.0.0.1:{port}",
            "CENTER_SUPPORT_ADDRESSES": SUPPORT,
            "CENTER_REDIS_PREFIX": f"bench{uuid.uuid4().hex[:6]}",
        }
        if backend == "PostgreSQL":
            env["CENTER_DATABASE_SCHEMA"] = f"bench_{uuid.uuid4().hex[:8]}"
        center = await _measure("center", _center_cmd(args.profile), env, port, args)
    print(
        f"  center/anchor: {center[0] / anchor[0]:.2f}x throughput, "
        f"{center[1] / anchor[1]:.1f}x p50, {center[2] / anchor[2]:.1f}x p99, "
        f"{center[3] / anchor[3]:.1f}x RSS, {center[4] / anchor[4]:.1f}x CPU per message"
    )


if __name__ == "__main__":
    asyncio.run(main())
