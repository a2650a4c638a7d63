"""Erlang C against an independent computation (exact fractions, the textbook sum)."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest

from center.reports import erlang


def textbook_erlang_c(load: Fraction, n: int) -> Fraction:
    """C = (A^N/N! · N/(N-A)) / (Σ_{k<N} A^k/k! + A^N/N! · N/(N-A)), exactly."""
    top = load**n / math.factorial(n) * Fraction(n) / (n - load)
    return top / (sum(load**k / math.factorial(k) for k in range(n)) + top)


def test_known_small_values() -> None:
    assert erlang.erlang_b(1.0, 1) == pytest.approx(0.5)
    assert erlang.erlang_c(1.0, 2) == pytest.approx(1 / 3)


@pytest.mark.parametrize("agents", [11, 12, 13, 14, 20])
def test_matches_the_textbook_formula(agents: int) -> None:
    # 100 calls per 30 minutes, 180 s handle time: 10 Erlangs.
    rate, aht = 200.0, 180.0
    assert erlang.offered_load(rate, aht) == pytest.approx(10.0)
    exact = textbook_erlang_c(Fraction(10), agents)
    assert erlang.prob_wait(rate, aht, agents) == pytest.approx(float(exact), rel=1e-12)
    sl = 1 - float(exact) * math.exp(-(agents - 10) * 20 / aht)
    assert erlang.service_level(rate, aht, agents, 20) == pytest.approx(sl, rel=1e-12)
    asa = float(exact) * aht / (agents - 10)
    assert erlang.average_speed_of_answer(rate, aht, agents) == pytest.approx(asa, rel=1e-12)
    assert erlang.occupancy(rate, aht, agents) == pytest.approx(10 / agents)


def test_more_agents_serve_better() -> None:
    rows = erlang.staffing_table(200, 180, 20, range(11, 20))
    assert all(a.service_level < b.service_level for a, b in itertools.pairwise(rows))
    assert all(a.asa_s > b.asa_s for a, b in itertools.pairwise(rows))


def test_agents_needed_is_the_minimum_meeting_the_target() -> None:
    n = erlang.agents_needed(200, 180, target_s=20, service_level=0.8)
    assert erlang.service_level(200, 180, n, 20) >= 0.8
    assert erlang.service_level(200, 180, n - 1, 20) < 0.8
    capped = erlang.agents_needed(200, 180, target_s=20, service_level=0.8, max_occupancy=0.7)
    assert 10 / capped <= 0.7 and 10 / (capped - 1) > 0.7


def test_unstable_queue_and_large_loads() -> None:
    assert erlang.prob_wait(200, 180, 10) == 1.0  # N == A: the queue grows without bound
    assert erlang.average_speed_of_answer(200, 180, 9) == math.inf
    assert erlang.service_level(200, 180, 9, 20) == 0.0
    # 1,000 Erlangs: no overflow, a sensible answer.
    big = erlang.prob_wait(36_000, 100, 1_050)
    assert 0.0 < big < 1.0
    assert erlang.agents_needed(36_000, 100) > 1_000


@pytest.mark.parametrize(
    ("args", "message"),
    [((0, 180, 10), "arrivals"), ((100, 0, 10), "handle time"), ((100, 180, 0), "agents")],
)
def test_bad_input_is_refused(args: tuple[float, float, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        erlang.prob_wait(*args)
