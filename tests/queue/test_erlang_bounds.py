"""Erlang C never loops without end: non-finite or absurd inputs are refused at once.

A queue saved with ``sl_seconds: NaN`` once made ``agents_needed`` search forever inside the
supervisor snapshot, freezing the whole process. The timeout marks below only turn such a
hang into a failure instead of a stalled run; nothing here measures speed.
"""

from __future__ import annotations

import math

import pytest

from center.reports import erlang
from center.reports.stats import QueueStats, advice

NAN, INF = math.nan, math.inf


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "kwargs",
    [
        {"target_s": NAN},
        {"target_s": INF},
        {"target_s": -1.0},
        {"service_level": NAN},
        {"max_occupancy": NAN},
    ],
)
def test_agents_needed_refuses_non_finite_targets(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        erlang.agents_needed(120.0, 180.0, **kwargs)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("rate", "aht"), [(NAN, 180.0), (120.0, NAN), (INF, 180.0), (1e300, 1e300)]
)
def test_non_finite_or_absurd_loads_are_refused(rate: float, aht: float) -> None:
    for compute in (
        lambda: erlang.agents_needed(rate, aht),
        lambda: erlang.prob_wait(rate, aht, 10),
        lambda: erlang.offered_load(rate, aht),
    ):
        with pytest.raises(ValueError):
            compute()


@pytest.mark.timeout(60)
def test_staffing_levels_beyond_the_bound_are_refused() -> None:
    with pytest.raises(ValueError):
        erlang.erlang_b(5.0, erlang.MAX_AGENTS + 1)
    with pytest.raises(ValueError):
        erlang.prob_wait(120.0, 180.0, 10**12)
    with pytest.raises(ValueError):
        erlang.erlang_b(NAN, 10)


@pytest.mark.timeout(60)
def test_a_target_no_staffing_within_the_bound_meets_is_an_error_not_a_loop() -> None:
    # Nearly the bound's load, answered at once nearly always: more agents than the bound
    # would do it, so an unbounded search would go on past it.
    load = erlang.MAX_AGENTS - 10
    with pytest.raises(ValueError, match="no staffing"):
        erlang.agents_needed(load, 3600.0, target_s=0.0, service_level=0.999999)


@pytest.mark.timeout(60)
def test_a_tiny_but_finite_target_still_has_an_answer() -> None:
    assert erlang.agents_needed(200.0, 180.0, target_s=1e-300) > 10


def test_the_incremental_search_agrees_with_the_direct_formula() -> None:
    for rate, aht, target in [(200.0, 180.0, 20.0), (50.0, 300.0, 60.0), (3000.0, 240.0, 15.0)]:
        n = erlang.agents_needed(rate, aht, target_s=target, service_level=0.8)
        assert erlang.service_level(rate, aht, n, target) >= 0.8
        assert n == 1 or erlang.service_level(rate, aht, n - 1, target) < 0.8


@pytest.mark.timeout(60)
def test_the_supervisor_advice_is_none_for_a_queue_whose_target_is_not_a_number() -> None:
    q = QueueStats(queue="q", channel="chat", arrivals_per_hour=120.0, sl_seconds=NAN)
    assert advice(q) is None
