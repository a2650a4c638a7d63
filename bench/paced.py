"""Message delivery at a set rate: conversations already with their agents, and customers'
messages arriving at ``--rate`` messages/s through one process (each answered by its agent,
so half the rate each way); beside the bare python-socketio relay at the same rate.

    python bench/paced.py                                  # 500 messages/s, SQLite
    python bench/paced.py --rate 300 --seconds 20
    python bench/paced.py --held-agents 2000 --held-customers 6000  # with 8,000 held open
    CENTER_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
    CENTER_REDIS_URL=redis://127.0.0.1:6379/0 python bench/paced.py

bench/chat.py drives every conversation as fast as the server answers, so its latencies are
those of a saturated process. This is the other question a support team asks: at a given
load (the issue's 500 messages/s), how long does a message take to reach the other side?
``--chats`` customers each start a conversation and an agent (``--agents``, 3 chats each)
accepts it; then for ``--seconds`` the customers send on a fixed schedule (round robin,
``--rate``/2 a second in all; the schedule does not wait for replies, so a slow server
shows as latency, not as a slower load) and agents answer each at once. Prints the rate
achieved, customer -> agent and agent -> customer latency (p50/p99/max), the store-and-ack
latency of the customers' messages, and the server's CPU per message and share of a core.
BENCH_SPY=FILE samples the server with py-spy over the paced part (as bench/chat.py does).
Figures only: nothing here asserts on timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import chat as chatbench  # bench/chat.py: settings, processes, CPU helpers
import connections as connbench  # bench/connections.py: raw socket.io clients, seeded agents

now = connbench.now
pct = chatbench.pct


@dataclass
class Figures:
    name: str
    sent: int = 0
    c2a: list[float] = field(default_factory=list)
    a2c: list[float] = field(default_factory=list)
    acks: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu_s: float = 0.0
    held: int = 0  # connections open during the paced part, talking and idle
    rss_held_mib: float = 0.0
    rss_per_connection_kib: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def delivered_per_s(self) -> float:
        return (len(self.c2a) + len(self.a2c)) / self.seconds if self.seconds else float("nan")

    @property
    def cpu_ms_per_message(self) -> float:
        return self.cpu_s * 1000 / max(1, len(self.c2a) + len(self.a2c))

    def print(self) -> None:
        print(f"  [{self.name}]")
        print(
            f"  connections held         {self.held}; server RSS {self.rss_held_mib:.0f} MiB, "
            f"{self.rss_per_connection_kib:.1f} KiB per connection opened"
        )
        print(
            f"  delivered                {len(self.c2a)} + {len(self.a2c)} of {2 * self.sent} "
            f"in {self.seconds:.1f} s = {self.delivered_per_s:.0f} messages/s"
        )
        for label, values in (
            ("customer -> agent", self.c2a),
            ("agent -> customer", self.a2c),
            ("customer's ack", self.acks),
        ):
            worst = max(values) * 1000 if values else float("nan")
            print(
                f"  {label:<24} p50 {pct(values, 50):7.1f} ms   p99 {pct(values, 99):7.1f} ms"
                f"   max {worst:7.1f} ms"
            )
        print(
            f"  server CPU               {self.cpu_s:.2f} s = {self.cpu_ms_per_message:.2f} ms"
            f" per message, {self.cpu_s / max(self.seconds, 1e-9):.0%} of a core"
        )
        for f in self.failures[:10]:
            print(f"  FAILURE {f}")


async def paced(
    name: str, base: str, pid: int, cookies: list[str], args: argparse.Namespace
) -> Figures:
    fig = Figures(name)
    agents = [connbench.Socket("/agent") for _ in range(args.agents)]
    customers = [connbench.Socket("/chat") for _ in range(args.chats)]
    # Idle consoles and widgets held open meanwhile (they answer pings, nothing else).
    idle = [connbench.Socket("/agent") for _ in range(args.held_agents)]
    idle += [connbench.Socket("/chat") for _ in range(args.held_customers)]
    accepted = asyncio.Event()
    all_in = asyncio.Event()  # every reply of the paced part arrived
    taken: set[int] = set()
    measuring = False

    def agent_handlers(sock: connbench.Socket) -> None:
        async def accept(iid: int) -> None:
            try:
                ack = await sock.call("accept", {"interaction_id": iid})
                if not ack.get("ok"):
                    raise RuntimeError(ack)
                taken.add(iid)
                if len(taken) == args.chats:
                    accepted.set()
            except Exception as exc:
                fig.failures.append(f"accept {iid}: {exc!r}")

        async def reply(iid: int, idx: str, k: str) -> None:
            try:
                ack = await sock.call(
                    "message", {"interaction_id": iid, "text": f"a {idx} {k} {now()}"}
                )
                if not ack.get("ok"):
                    raise RuntimeError(ack)
            except Exception as exc:
                fig.failures.append(f"reply {iid}: {exc!r}")

        def on_message(m: dict[str, Any]) -> None:
            if m.get("direction") != "inbound":
                return
            _, idx, k, sent = m["body"].split()
            if measuring:
                fig.c2a.append(now() - float(sent))
            connbench.spawn_task(reply(m["interaction_id"], idx, k))

        sock.handlers["offer"] = lambda o: connbench.spawn_task(accept(o["id"]))
        sock.handlers["message"] = on_message

    def customer_handlers(sock: connbench.Socket) -> None:
        def on_message(m: dict[str, Any]) -> None:
            parts = m["body"].split()
            if parts[0] == "a" and measuring:
                fig.a2c.append(now() - float(parts[3]))
                if len(fig.a2c) >= fig.sent > 0:
                    all_in.set()

        sock.handlers["message"] = on_message

    for a in agents:
        agent_handlers(a)
    for c in customers:
        customer_handlers(c)

    async def send(sock: connbench.Socket, idx: int, k: int) -> None:
        sent = now()
        try:
            ack = await sock.call("message", {"text": f"c {idx} {k} {sent}"})
            if not ack.get("ok"):
                raise RuntimeError(ack)
            if measuring:
                fig.acks.append(now() - sent)
        except Exception as exc:
            fig.failures.append(f"customer {idx} message {k}: {exc!r}")

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        try:
            jobs: list[tuple[connbench.Socket, dict[str, Any]]] = [
                (a, {"cookie": cookies[n] if cookies else ""}) for n, a in enumerate(agents)
            ]
            jobs += [(c, {"auth": {"name": f"customer {i}"}}) for i, c in enumerate(customers)]
            jobs += [
                (s, {"cookie": cookies[args.agents + n] if cookies else ""})
                if s.ns == "/agent"
                else (s, {"auth": {"name": f"idle customer {n}"}})
                for n, s in enumerate(idle)
            ]
            rss0 = connbench.rss_mib(pid)
            fig.failures += await connbench.open_all(http, jobs, base)
            fig.held = sum(1 for s in agents + customers + idle if s.joined.done())
            fig.rss_held_mib = await connbench.settled_rss(pid)
            fig.rss_per_connection_kib = (fig.rss_held_mib - rss0) * 1024 / max(1, fig.held)
            for a in agents:
                ack = await a.call("presence", {"presence": "available"})
                if not ack.get("ok"):
                    fig.failures.append(f"presence: {ack}")
            # Every conversation started and with its agent before the clock starts.
            await asyncio.gather(*(send(c, i, 0) for i, c in enumerate(customers)))
            await asyncio.wait_for(accepted.wait(), connbench.TIMEOUT)
            await asyncio.sleep(1.0)  # (the first messages' replies settle)

            per_s = args.rate / 2  # customers' messages; each is answered: rate in all
            total = fig.sent = int(per_s * args.seconds)
            measuring = True
            spy = await chatbench.start_spy(name, [pid])
            cpu0, t0 = chatbench.server_cpu_s([pid]), now()
            for n in range(total):
                due = t0 + n / per_s
                wait = due - now()
                if wait > 0:
                    await asyncio.sleep(wait)
                idx = n % args.chats
                connbench.spawn_task(send(customers[idx], idx, 1 + n // args.chats))
            # The last replies arrive (or the figures say which did not).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_in.wait(), 10)
            fig.seconds = now() - t0
            fig.cpu_s = chatbench.server_cpu_s([pid]) - cpu0
            measuring = False
            await chatbench.stop_spy(spy)
            if len(fig.a2c) < total:
                fig.failures.append(f"{total - len(fig.a2c)} replies never arrived")
        finally:
            await asyncio.gather(*(s.close() for s in agents + customers + idle))
    return fig


async def bench(args: argparse.Namespace) -> int:
    if args.chats > 3 * args.agents:
        raise SystemExit("--chats must be at most 3 x --agents (each agent holds 3 chats)")
    log_dir = Path(tempfile.mkdtemp(prefix="center-bench-paced-"))
    # (bench/connections.py's servers and seeding, this bench's load)
    relay = None if args.no_anchor else await connbench.run_relay(args, log_dir, load=paced)
    center, backend = await connbench.run_center(
        args, load=paced, seeded=args.agents + args.held_agents
    )
    shutil.rmtree(log_dir, ignore_errors=True)
    print(
        f"center bench/paced: {args.chats} conversations with {args.agents} agents, "
        f"{args.rate} messages/s for {args.seconds} s; "
        f"{args.held_agents} idle consoles and {args.held_customers} idle widgets held"
    )
    for f in (relay, center):
        if f is not None:
            f.print()
    r = chatbench.ratio
    summary = (
        f"SUMMARY paced {backend} rate={args.rate} held={center.held} "
        f"kib_per_conn={center.rss_per_connection_kib:.1f} "
        f"delivered/s={center.delivered_per_s:.0f} "
        f"c2a_p50={pct(center.c2a, 50):.1f}ms c2a_p99={pct(center.c2a, 99):.1f}ms "
        f"a2c_p99={pct(center.a2c, 99):.1f}ms ack_p99={pct(center.acks, 99):.1f}ms "
        f"cpu_per_msg={center.cpu_ms_per_message:.2f}ms "
    )
    if relay is not None:
        summary += (
            f"relay_c2a_p99={pct(relay.c2a, 99):.1f}ms "
            f"relay_cpu_per_msg={relay.cpu_ms_per_message:.2f}ms "
            f"cpu_ratio={r(center.cpu_ms_per_message, relay.cpu_ms_per_message)} "
        )
    failures = center.failures + (relay.failures if relay else [])
    print(summary + f"failures={len(failures)} {'FAILED' if failures else 'OK'}")
    return 1 if failures else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=500, help="messages/s, both ways together")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--chats", type=int, default=150, help="conversations talking")
    ap.add_argument("--agents", type=int, default=50, help="agents (3 chats each)")
    ap.add_argument("--held-agents", type=int, default=0, help="idle consoles held meanwhile")
    ap.add_argument(
        "--held-customers", type=int, default=0, help="idle chat widgets held meanwhile"
    )
    ap.add_argument("--no-anchor", action="store_true", help="skip the bare relay run")
    return asyncio.run(bench(ap.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
