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

# Every loop here counts agents, so every loop is bounded by this: far beyond any contact
# centre, small enough that the longest computation stays in milliseconds. Inputs outside
# the bounds (NaN, infinities, absurd loads) raise ValueError instead of looping: a NaN
# target once kept agents_needed searching forever and the whole process with it.
MAX_AGENTS = 100_000


def _finite(value: float, what: str) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value}")


def _check(arrivals_per_hour: float, aht_s: float, agents: int | None = None) -> None:
    _finite(arrivals_per_hour, "arrivals per hour")
    _finite(aht_s, "average handle time")
    if not arrivals_per_hour > 0:
        raise ValueError(f"arrivals per hour must be positive, got {arrivals_per_hour}")
    if not aht_s > 0:
        raise ValueError(f"average handle time must be positive, got {aht_s}")
    if agents is not None and not 1 <= agents <= MAX_AGENTS:
        raise ValueError(f"agents must be 1..{MAX_AGENTS}, got {agents}")
    if arrivals_per_hour / 3600.0 * aht_s >= MAX_AGENTS:
        raise ValueError(f"a load of {MAX_AGENTS} Erlangs or more is beyond this model")


def offered_load(arrivals_per_hour: float, aht_s: float) -> float:
    """Traffic intensity A in Erlangs: arrivals per second times handle time."""
    _check(arrivals_per_hour, aht_s)
    return arrivals_per_hour / 3600.0 * aht_s


def erlang_b(load: float, agents: int) -> float:
    """Blocking probability with `agents` servers and no queue (Erlang B)."""
    _finite(load, "load")
    if load < 0 or agents < 0:
        raise ValueError("load and agents must not be negative")
    if agents > MAX_AGENTS:
        raise ValueError(f"agents must be at most {MAX_AGENTS}, got {agents}")
    b = 1.0
    for n in range(1, agents + 1):
        b = _next_b(load, b, n)
    return b


def _next_b(load: float, b: float, n: int) -> float:
    """Erlang B's recursion: B(n) from B(n-1)."""
    return load * b / (n + load * b)


def _c_from_b(load: float, agents: int, b: float) -> float:
    return agents * b / (agents - load * (1.0 - b))


def erlang_c(load: float, agents: int) -> float:
    """Probability that an arrival waits (Erlang C); 1.0 when the queue is unstable."""
    if agents <= load:
        return 1.0
    return _c_from_b(load, agents, erlang_b(load, agents))


def prob_wait(arrivals_per_hour: float, aht_s: float, agents: int) -> float:
    _check(arrivals_per_hour, aht_s, agents)
    return erlang_c(offered_load(arrivals_per_hour, aht_s), agents)


def service_level(arrivals_per_hour: float, aht_s: float, agents: int, target_s: float) -> float:
    """Share of arrivals answered within target_s: 1 - C·e^(-(N-A)·t/AHT)."""
    _check(arrivals_per_hour, aht_s, agents)
    _finite(target_s, "target")
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
    """The fewest agents meeting the service-level target (and the occupancy cap); at most
    ``MAX_AGENTS``, else ValueError."""
    _check(arrivals_per_hour, aht_s)
    _finite(target_s, "target")
    if target_s < 0:
        raise ValueError(f"target must not be negative, got {target_s}")
    # (Written so that NaN fails them: it compares false with everything.)
    if not 0 < service_level < 1:
        raise ValueError(f"service level target must be in (0, 1), got {service_level}")
    if not 0 < max_occupancy <= 1:
        raise ValueError(f"max occupancy must be in (0, 1], got {max_occupancy}")
    load = offered_load(arrivals_per_hour, aht_s)
    first = max(1, math.floor(load) + 1)
    # Erlang B carried from one staffing level to the next: linear, not quadratic, in n.
    b = erlang_b(load, first - 1)
    for n in range(first, MAX_AGENTS + 1):
        b = _next_b(load, b, n)
        sl = _service_level_from_c(load, n, aht_s, target_s, _c_from_b(load, n, b))
        if sl >= service_level and load / n <= max_occupancy:
            return n
    raise ValueError(f"no staffing up to {MAX_AGENTS} agents meets the target")


def _service_level_at(load: float, agents: int, aht_s: float, target_s: float) -> float:
    if agents <= load:
        return 0.0
    return _service_level_from_c(load, agents, aht_s, target_s, erlang_c(load, agents))


def _service_level_from_c(
    load: float, agents: int, aht_s: float, target_s: float, c: float
) -> float:
    return 1.0 - c * math.exp(-(agents - load) * target_s / aht_s)


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
