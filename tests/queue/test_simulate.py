"""The simulator drives the real router (real Redis, real Lua) with a virtual clock.

Two kinds of evidence that the router routes as an M/M/N FIFO queue should:
- call for call: with the same random draws, every wait equals the wait an ideal FIFO queue
  with N servers computes directly (exact, no statistics);
- in the long run: service level, ASA, P(wait) and occupancy match Erlang C. Tolerances
  come from 100-200 replications of the ideal queue per case: over a run of the given
  length the standard deviation of the service level is 1.8-2.1 points and of P(wait)
  2.0-2.2, so 5 and 6 points are at least 2.4 and 2.7 standard deviations (ASA's tolerance
  likewise at least 2.5).
"""

from __future__ import annotations

import asyncio
import heapq
import random
import sys
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from center.config import Settings
from center.redisconn import connect
from center.reports.simulate import HOUR_MS, SimConfig, SimResult, simulate


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = await connect(settings.redis_url)
    yield client
    await client.aclose()


def ideal_fifo_waits(config: SimConfig) -> tuple[tuple[int, int], ...]:
    """(arrival, wait) ms of the measured calls of an ideal FIFO M/M/N queue, drawing the
    same random numbers in the same order as the simulation (gap, then per call: handling
    time, next gap). In FIFO order a call starts when the earliest-free agent is free."""
    rng = random.Random(config.seed)

    def draw(mean_ms: float) -> int:
        return max(0, round(rng.expovariate(1.0 / mean_ms)))

    gap = HOUR_MS / config.arrivals_per_hour
    lo = round(config.warmup_hours * HOUR_MS)
    hi = round((config.warmup_hours + config.hours) * HOUR_MS)
    free_at = [0] * config.agents
    waits = []
    t = draw(gap)
    while t < hi:
        handling = draw(config.aht_s * 1000)
        start = max(t, heapq.heappop(free_at))
        heapq.heappush(free_at, start + handling)
        if t >= lo:
            waits.append((t - lo, start - t))
        t += draw(gap)
    return tuple(waits)


async def test_every_wait_equals_an_ideal_fifo_queue_call_for_call(redis: Redis) -> None:
    # 11 agents for 10 Erlangs: 91 % busy, so most calls queue and the order matters.
    config = SimConfig(arrivals_per_hour=200, aht_s=180, agents=11, hours=5, seed=11)
    result = await simulate(redis, config)
    expected = ideal_fifo_waits(config)
    assert len(result.waits) == len(expected) > 900
    assert sum(w > 0 for _, w in expected) > len(expected) / 2
    mismatched = [(r, e) for r, e in zip(result.waits, expected, strict=True) if r != e]
    assert not mismatched, f"{len(mismatched)} calls waited otherwise, first: {mismatched[0]}"
    assert result.offered == len(expected)


# (agents, simulated hours, seed, ASA tolerance s): 200 calls/h, AHT 180 s = 10 Erlangs.
# Standard deviations over ideal-queue runs of this length: SL 2.1 / 1.8 / 1.9 points,
# P(wait) 2.1 / 2.0 / 2.2 points, ASA 5.9 / 2.9 / 1.9 s. (11 agents, 91 % busy, would need
# ~250 h for the same precision; the exact test above covers it.)
LOADS = [(12, 120, 1, 15.0), (13, 80, 2, 8.0), (14, 40, 3, 5.0)]


async def test_service_level_and_speed_of_answer_match_erlang_c(redis: Redis) -> None:
    configs = [
        SimConfig(arrivals_per_hour=200, aht_s=180, agents=n, hours=h, seed=s)
        for n, h, s, _ in LOADS
    ]
    results: list[SimResult] = await asyncio.gather(*(simulate(redis, c) for c in configs))
    for result, (agents, hours, _, asa_tolerance) in zip(results, LOADS, strict=True):
        m, p = result.measured, result.predicted
        report = f"{agents} agents, {hours} h: measured {m}, Erlang C {p}"
        assert abs(result.offered - 200 * hours) < 4 * (200 * hours) ** 0.5, report
        assert abs(m.service_level - p.service_level) <= 0.05, report
        assert abs(m.asa_s - p.asa_s) <= asa_tolerance, report
        assert abs(m.prob_wait - p.prob_wait) <= 0.06, report
        assert abs(m.occupancy - p.occupancy) <= 0.02, report
    # More agents, better service: the simulated figures order as Erlang C's do.
    levels = [r.measured.service_level for r in results]
    assert levels == sorted(levels)
    assert {r.agents_needed_80_20 for r in results} == {14}


async def test_simulation_is_deterministic_for_a_seed_and_cleans_up(redis: Redis) -> None:
    config = SimConfig(arrivals_per_hour=300, aht_s=150, agents=14, hours=1, seed=5)
    first, second = await asyncio.gather(
        simulate(redis, config, prefix="sim-a"), simulate(redis, config, prefix="sim-b")
    )
    assert first.waits == second.waits and first.measured == second.measured
    assert [k async for k in redis.scan_iter(match="{sim-?}:*")] == []


def test_unstable_or_bad_configurations_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match=r"10 agents cannot carry 10\.00 Erlangs"):
        SimConfig(arrivals_per_hour=200, aht_s=180, agents=10)
    with pytest.raises(ValueError, match="aht_s must be a positive number"):
        SimConfig(arrivals_per_hour=200, aht_s=0, agents=10)


async def test_center_simulate_prints_simulated_and_erlang_c_columns(settings: Settings) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "center",
        "simulate",
        "--calls=100",
        "--period-min=30",
        "--aht-s=180",
        "--agents=12,13",
        "--hours=2",
        "--seed=4",
        f"--redis-url={settings.redis_url}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    assert text.count("simulated") >= 2 and text.count("Erlang C") >= 2
    assert "200 calls/h, AHT 180 s, 12 agents (10.00 Erlangs)" in text
    # Erlang C's column holds its figures for 12 and for 13 agents.
    assert "64.0%" in text and "79.6%" in text  # service level within 20 s
    assert "40.4 s" in text and "17.1 s" in text  # average speed of answer
    assert "agents needed for 80/20 (Erlang C): 14" in text

    bad = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "center",
        "simulate",
        "--arrivals-per-hour=200",
        "--aht-s=180",
        "--agents=9",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await bad.communicate()
    assert bad.returncode == 2
    assert "cannot carry" in err.decode()
