"""A discrete-event simulation of one voice queue that drives the REAL router.

Calls arrive as a Poisson process (exponential gaps), are handled for an exponential time,
by N voice agents (capacity 1) who accept every offer at once and release the call when
done. Every routing step is the router's own (real Redis, real Lua); only the clock is
virtual: it jumps from one event to the next, so hours of traffic take seconds. The
router's ``dispatch`` runs on every arrival and every release, as it does in production.

The measured figures sit beside what Erlang C predicts for the same load (an M/M/N queue
without abandonment is exactly Erlang C's model), which is how we know the router routes
as it should: FIFO, no agent left idle while a call waits, no call offered twice.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import math
import random
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from redis.asyncio import Redis

from center.queue.keys import Keys
from center.queue.router import Router, RouterOptions
from center.records.enums import Channel, Presence
from center.redisconn import connect, start_embedded

VOICE = Channel.VOICE
QUEUE = "sim"
START_MS = 1_700_000_000_000  # any fixed epoch: the virtual clock starts here
BATCHES = 20  # batch means for the service level's confidence interval
T_975_19 = 2.093  # Student t, 97.5 %, 19 degrees of freedom (BATCHES - 1)
HOUR_MS = 3_600_000


class SimulationError(RuntimeError):
    """The router broke a promise the simulation relies on (see the message)."""


class Event(IntEnum):
    # At equal times a release goes first, so the freed agent can take an arriving call.
    RELEASE = 0
    ARRIVAL = 1


@dataclass(frozen=True, slots=True)
class SimConfig:
    arrivals_per_hour: float
    aht_s: float
    agents: int
    target_s: float = 20.0
    hours: float = 8.0
    warmup_hours: float = 0.5
    seed: int = 1

    def __post_init__(self) -> None:
        for name in ("arrivals_per_hour", "aht_s", "hours"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number, got {value}")
        if self.agents < 1:
            raise ValueError(f"agents must be at least 1, got {self.agents}")
        if self.target_s < 0 or self.warmup_hours < 0:
            raise ValueError("target_s and warmup_hours must not be negative")
        load = self.arrivals_per_hour * self.aht_s / 3600
        if self.agents <= load:
            raise ValueError(
                f"{self.agents} agents cannot carry {load:.2f} Erlangs: the queue grows "
                f"without bound (Erlang C has no steady state); use more than {load:.2f} agents"
            )


@dataclass(frozen=True, slots=True)
class Figures:
    """Service figures, measured or predicted. ``sl_half_width``: 95 % CI (measured only)."""

    prob_wait: float
    service_level: float
    asa_s: float
    occupancy: float
    sl_half_width: float | None = None


@dataclass(frozen=True, slots=True)
class SimResult:
    config: SimConfig
    offered: int  # calls that arrived in the measured window
    measured: Figures
    predicted: Figures
    offered_load: float  # Erlangs
    agents_needed_80_20: int
    router_steps: int
    wall_s: float
    # (arrival, wait) in ms of every measured call, arrival counted from the window's start
    waits: tuple[tuple[int, int], ...] = ()


class VirtualClock:
    """The router's clock, moved by the simulation from event to event."""

    def __init__(self, start_ms: int = START_MS) -> None:
        self.ms = start_ms

    def now_ms(self) -> int:
        return self.ms


def predict(config: SimConfig) -> tuple[Figures, float, int]:
    """Erlang C's figures for the configuration, its load and the agents an 80/20 needs."""
    from center.reports import erlang  # (imported here: `center --help` needs none of it)

    rate, aht, n = config.arrivals_per_hour, config.aht_s, config.agents
    figures = Figures(
        prob_wait=erlang.prob_wait(rate, aht, n),
        service_level=erlang.service_level(rate, aht, n, config.target_s),
        asa_s=erlang.average_speed_of_answer(rate, aht, n),
        occupancy=erlang.occupancy(rate, aht, n),
    )
    needed = erlang.agents_needed(rate, aht, target_s=20, service_level=0.8)
    return figures, erlang.offered_load(rate, aht), needed


class _Run:
    """One simulation's state; ``run`` is the event loop."""

    def __init__(self, router: Router, clock: VirtualClock, config: SimConfig) -> None:
        self.router, self.clock, self.config = router, clock, config
        self.rng = random.Random(config.seed)
        self.events: list[tuple[int, int, int, int]] = []  # (ms, kind, seq, call id)
        self.calls: dict[int, tuple[int, int]] = {}  # call id -> (arrival ms, handling ms)
        self.agent_of: dict[int, int] = {}  # call id -> agent handling it
        self.busy_agents: set[int] = set()
        self.start = clock.ms
        self.window = (
            self.start + round(config.warmup_hours * HOUR_MS),
            self.start + round((config.warmup_hours + config.hours) * HOUR_MS),
        )
        self.waits: list[tuple[int, int]] = []  # (arrival ms, wait ms) of measured calls
        self.unanswered = 0  # measured calls not answered yet
        self.busy = 0
        self.busy_ms = 0  # agent-ms busy inside the window
        self.last_ms = self.start
        self.steps = 0
        self.seq = 0

    def _push(self, at_ms: int, kind: Event, call: int) -> None:
        self.seq += 1
        heapq.heappush(self.events, (at_ms, kind, self.seq, call))

    def _draw_ms(self, mean_ms: float) -> int:
        return max(0, round(self.rng.expovariate(1.0 / mean_ms)))

    def _advance(self, to_ms: int) -> None:
        lo, hi = self.window
        overlap = min(to_ms, hi) - max(self.last_ms, lo)
        if overlap > 0:
            self.busy_ms += self.busy * overlap
        self.last_ms = to_ms
        self.clock.ms = to_ms

    async def run(self) -> None:
        cfg, router = self.config, self.router
        for agent in range(1, cfg.agents + 1):
            await router.set_presence(agent, Presence.AVAILABLE, {VOICE.value: 1})
        gap_ms = HOUR_MS / cfg.arrivals_per_hour
        self._push(self.start + self._draw_ms(gap_ms), Event.ARRIVAL, 1)
        lo, hi = self.window
        while self.events:
            at, kind, _, call = heapq.heappop(self.events)
            if at >= hi and self.unanswered == 0:
                break  # every measured call is answered
            if at > hi + max(HOUR_MS, hi - lo):
                raise SimulationError(f"{self.unanswered} calls never answered: router stalled")
            self._advance(at)
            if kind is Event.ARRIVAL:
                # Arrivals go on after the window, so its last calls wait in steady state.
                self.calls[call] = (at, self._draw_ms(cfg.aht_s * 1000))
                self._push(at + self._draw_ms(gap_ms), Event.ARRIVAL, call + 1)
                if lo <= at < hi:
                    self.unanswered += 1
                await router.enqueue(call, queue=QUEUE, channel=VOICE, enqueued_ms=at)
                self.steps += 1
            else:
                agent = self.agent_of.pop(call)
                await router.release(call, agent)
                self.busy_agents.discard(agent)
                self.busy -= 1
                self.steps += 1
            await self._dispatch(at)

    async def _dispatch(self, now: int) -> None:
        offers = await self.router.dispatch(QUEUE, VOICE)
        self.steps += len(offers) + 1  # each offer, then the attempt that found nothing
        lo, hi = self.window
        for offer in offers:
            # What the router promises, checked: only waiting calls, one call per agent.
            if offer.interaction_id not in self.calls:
                raise SimulationError(f"call {offer.interaction_id} offered but not waiting")
            if offer.agent_id in self.busy_agents:
                raise SimulationError(f"agent {offer.agent_id} offered a second call")
            await self.router.accept(offer.interaction_id, offer.agent_id)
            self.steps += 1
            arrival, handling = self.calls.pop(offer.interaction_id)
            self.agent_of[offer.interaction_id] = offer.agent_id
            self.busy_agents.add(offer.agent_id)
            self.busy += 1
            self._push(now + handling, Event.RELEASE, offer.interaction_id)
            if lo <= arrival < hi:
                self.waits.append((arrival, now - arrival))
                self.unanswered -= 1

    def measured(self) -> Figures:
        cfg = self.config
        target_ms = cfg.target_s * 1000
        waits = [w for _, w in self.waits]
        n = len(waits) or 1
        lo, hi = self.window
        batch_ms = (hi - lo) / BATCHES
        hits = [0] * BATCHES
        counts = [0] * BATCHES
        for arrival, wait in self.waits:
            b = min(BATCHES - 1, int((arrival - lo) / batch_ms))
            counts[b] += 1
            hits[b] += wait <= target_ms
        shares = [h / c for h, c in zip(hits, counts, strict=True) if c]
        half = None
        if len(shares) > 1:
            mean = sum(shares) / len(shares)
            var = sum((s - mean) ** 2 for s in shares) / (len(shares) - 1)
            half = T_975_19 * math.sqrt(var / len(shares))
        return Figures(
            prob_wait=sum(w > 0 for w in waits) / n,
            service_level=sum(w <= target_ms for w in waits) / n,
            asa_s=sum(waits) / n / 1000,
            occupancy=self.busy_ms / (cfg.agents * (hi - lo)),
            sl_half_width=half,
        )


async def simulate(redis: Redis, config: SimConfig, *, prefix: str | None = None) -> SimResult:
    """Run one simulation against ``redis`` under its own key prefix, then remove its keys."""
    keys = Keys(prefix or f"sim-{uuid.uuid4().hex[:12]}")
    clock = VirtualClock()
    # Offers never time out here: agents accept at once, and the clock may leap far ahead.
    options = RouterOptions(offer_timeout_ms=10 * 365 * 24 * HOUR_MS, scan=config.agents)
    router = Router(redis, keys, options=options, clock=clock)
    predicted, load, needed = predict(config)
    started = time.perf_counter()
    run = _Run(router, clock, config)
    try:
        await run.run()
    finally:
        await _forget(redis, keys)
    return SimResult(
        config=config,
        offered=len(run.waits),
        measured=run.measured(),
        predicted=predicted,
        offered_load=load,
        agents_needed_80_20=needed,
        router_steps=run.steps,
        wall_s=time.perf_counter() - started,
        waits=tuple(sorted((a - run.window[0], w) for a, w in run.waits)),
    )


async def _forget(redis: Redis, keys: Keys) -> None:
    batch: list[str] = []
    async for key in redis.scan_iter(match=f"{keys.base}*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            await redis.delete(*batch)
            batch.clear()
    if batch:
        await redis.delete(*batch)


async def simulate_at(redis_url: str | None, configs: list[SimConfig]) -> list[SimResult]:
    """Run ``configs`` side by side (each under its own prefix) against ``redis_url``, or
    against an embedded Redis started in a temporary directory when it is empty."""
    embedded = tmp = None
    if not redis_url:
        tmp = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="center-sim-"))
        embedded = await start_embedded(tmp / "sim.db")
        redis_url = embedded.url
    try:
        redis = await connect(redis_url)
        try:
            return list(await asyncio.gather(*(simulate(redis, c) for c in configs)))
        finally:
            await redis.aclose()
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
        if tmp is not None:
            await asyncio.to_thread(shutil.rmtree, tmp, True)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def format_table(result: SimResult) -> str:
    """The measured figures beside Erlang C's, as a readable table."""
    c, m, p = result.config, result.measured, result.predicted
    ci = f"  (±{100 * m.sl_half_width:.1f} pts, 95%)" if m.sl_half_width is not None else ""
    rows = [
        ("offered calls", str(result.offered), f"{c.arrivals_per_hour * c.hours:.0f}"),
        ("P(wait)", _pct(m.prob_wait), _pct(p.prob_wait)),
        (f"service level ({c.target_s:g} s)", _pct(m.service_level), _pct(p.service_level)),
        ("average speed of answer", f"{m.asa_s:.1f} s", f"{p.asa_s:.1f} s"),
        ("occupancy", _pct(m.occupancy), _pct(p.occupancy)),
    ]
    lines = [
        f"{c.arrivals_per_hour:g} calls/h, AHT {c.aht_s:g} s, {c.agents} agents "
        f"({result.offered_load:.2f} Erlangs), target {c.target_s:g} s",
        f"{c.hours:g} h simulated after {c.warmup_hours:g} h warm-up, seed {c.seed}: "
        f"{result.router_steps:,} router steps in {result.wall_s:.1f} s",
        "",
        f"{'':26}{'simulated':>12}{'Erlang C':>12}",
    ]
    lines += [f"{name:26}{sim:>12}{pred:>12}" for name, sim, pred in rows]
    lines[-3] += ci
    lines.append(f"agents needed for 80/20 (Erlang C): {result.agents_needed_80_20}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    rate = parser.add_mutually_exclusive_group(required=True)
    rate.add_argument("--arrivals-per-hour", type=float, help="mean call arrival rate")
    rate.add_argument("--calls", type=float, help="calls per --period-min minutes")
    parser.add_argument("--period-min", type=float, default=60.0, help="with --calls (60)")
    parser.add_argument("--aht-s", type=float, required=True, help="average handling time")
    parser.add_argument("--agents", required=True, help="number of agents, or several: 11,12,13,14")
    parser.add_argument("--target-s", type=float, default=20.0, help="answer target (20)")
    parser.add_argument("--hours", type=float, default=8.0, help="simulated hours (8)")
    parser.add_argument("--warmup-hours", type=float, default=0.5, help="not measured (0.5)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--redis-url", help="default: CENTER_REDIS_URL, else an embedded one")


def configs_from_args(args: argparse.Namespace) -> list[SimConfig]:
    """Raises ValueError with a readable message for bad options."""
    if args.calls is not None:
        if not args.period_min > 0:
            raise ValueError("--period-min must be positive")
        rate = args.calls * 60 / args.period_min
    else:
        rate = args.arrivals_per_hour
    try:
        agents = [int(a) for a in str(args.agents).split(",") if a.strip()]
    except ValueError:
        msg = f"--agents: expected a number or numbers like 11,12,13, got {args.agents!r}"
        raise ValueError(msg) from None
    if not agents:
        raise ValueError("--agents: give at least one number")
    return [
        SimConfig(
            arrivals_per_hour=rate,
            aht_s=args.aht_s,
            agents=n,
            target_s=args.target_s,
            hours=args.hours,
            warmup_hours=args.warmup_hours,
            seed=args.seed,
        )
        for n in agents
    ]


def run_command(args: argparse.Namespace, redis_url: str = "") -> int:
    """``center simulate``: print the table for each agent count; 2 on bad options."""
    try:
        configs = configs_from_args(args)
    except ValueError as exc:
        print(f"center simulate: {exc}", file=sys.stderr)
        return 2
    results = asyncio.run(simulate_at(redis_url or None, configs))
    print("\n\n".join(format_table(r) for r in results))
    return 0
