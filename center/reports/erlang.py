"""Erlang C: the queueing model behind contact-center staffing (M/M/N, infinite patience).

Used to advise supervisors (agents needed for a service-level target at the current load)
and to check the router: a simulation of the real router under Poisson arrivals and
exponential handling times must land where these formulas say.

Numerically stable for large loads: Erlang C is computed from Erlang B's recursion
B(0) = 1, B(n) = A·B(n-1) / (n + A·B(n-1)), never from factorials or powers that overflow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def _check(arrivals_per_hour: float, aht_s: float, agents: int | None = None) -> None:
    if not arrivals_per_hour > 0:
        raise ValueError(f"arrivals per hour must be positive, got {arrivals_per_hour}")
    if not aht_s > 0:
        raise ValueError(f"average handle time must be positive, got {aht_s}")
    if agents is not None and agents < 1:
        raise ValueError(f"agents must be at least 1, got {agents}")


def offered_load(arrivals_per_hour: float, aht_s: float) -> float:
    """Traffic intensity A in Erlangs: arrivals per second times handle time."""
    _check(arrivals_per_hour, aht_s)
    return arrivals_per_hour / 3600.0 * aht_s


def erlang_b(load: float, agents: int) -> float:
    """Blocking probability with `agents` servers and no queue (Erlang B)."""
    if load < 0 or agents < 0:
        raise ValueError("load and agents must not be negative")
    b = 1.0
    for n in range(1, agents + 1):
        b = load * b / (n + load * b)
    return b


def erlang_c(load: float, agents: int) -> float:
    """Probability that an arrival waits (Erlang C); 1.0 when the queue is unstable."""
    if agents <= load:
        return 1.0
    b = erlang_b(load, agents)
    return agents * b / (agents - load * (1.0 - b))


def prob_wait(arrivals_per_hour: float, aht_s: float, agents: int) -> float:
    _check(arrivals_per_hour, aht_s, agents)
    return erlang_c(offered_load(arrivals_per_hour, aht_s), agents)


def service_level(arrivals_per_hour: float, aht_s: float, agents: int, target_s: float) -> float:
    """Share of arrivals answered within target_s: 1 - C·e^(-(N-A)·t/AHT)."""
    _check(arrivals_per_hour, aht_s, agents)
    if target_s < 0:
        raise ValueError(f"target must not be negative, got {target_s}")
    return _service_level_at(offered_load(arrivals_per_hour, aht_s), agents, aht_s, target_s)


def average_speed_of_answer(arrivals_per_hour: float, aht_s: float, agents: int) -> float:
    """Mean wait over all arrivals (seconds): C·AHT/(N-A); infinite when unstable."""
    _check(arrivals_per_hour, aht_s, agents)
    load = offered_load(arrivals_per_hour, aht_s)
    if agents <= load:
        return math.inf
    return erlang_c(load, agents) * aht_s / (agents - load)


def occupancy(arrivals_per_hour: float, aht_s: float, agents: int) -> float:
    """Share of agent time spent handling: A/N, at most 1."""
    _check(arrivals_per_hour, aht_s, agents)
    return min(1.0, offered_load(arrivals_per_hour, aht_s) / agents)


def agents_needed(
    arrivals_per_hour: float,
    aht_s: float,
    *,
    target_s: float = 20.0,
    service_level: float = 0.8,  # the target (shadows the function inside only)
    max_occupancy: float = 1.0,
) -> int:
    """The fewest agents meeting the service-level target (and the occupancy cap)."""
    _check(arrivals_per_hour, aht_s)
    if not 0 < service_level < 1:
        raise ValueError(f"service level target must be in (0, 1), got {service_level}")
    if not 0 < max_occupancy <= 1:
        raise ValueError(f"max occupancy must be in (0, 1], got {max_occupancy}")
    load = offered_load(arrivals_per_hour, aht_s)
    n = max(1, math.floor(load) + 1)
    while True:
        sl = _service_level_at(load, n, aht_s, target_s)
        if sl >= service_level and load / n <= max_occupancy:
            return n
        n += 1


def _service_level_at(load: float, agents: int, aht_s: float, target_s: float) -> float:
    if agents <= load:
        return 0.0
    return 1.0 - erlang_c(load, agents) * math.exp(-(agents - load) * target_s / aht_s)


@dataclass(frozen=True, slots=True)
class Staffing:
    agents: int
    prob_wait: float
    service_level: float
    asa_s: float
    occupancy: float


def staffing_table(
    arrivals_per_hour: float, aht_s: float, target_s: float, agents_range: range
) -> list[Staffing]:
    """One row per staffing level: what a supervisor weighs when planning a shift."""
    return [
        Staffing(
            agents=n,
            prob_wait=prob_wait(arrivals_per_hour, aht_s, n),
            service_level=service_level(arrivals_per_hour, aht_s, n, target_s),
            asa_s=average_speed_of_answer(arrivals_per_hour, aht_s, n),
            occupancy=occupancy(arrivals_per_hour, aht_s, n),
        )
        for n in agents_range
        if n >= 1
    ]
