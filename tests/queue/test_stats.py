"""Supervisor statistics: the live read from Redis and the definitions of today's figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from center.config import Settings
from center.queue.model import QueueDef
from center.queue.router import Router
from center.records.db import Database
from center.records.enums import Channel, InteractionState, Presence
from center.records.users import create_user
from center.reports import erlang
from center.reports.stats import QueueStats, StatsService, _LiveReader, advice, apply_today
from center.reports.today import Today, day_start, today
from tests.queue.conftest import FakeClock
from tests.queue.figures import row, store

S = InteractionState


async def test_longest_wait_is_the_oldest_across_priority_bands(
    router: Router, clock: FakeClock
) -> None:
    t0 = clock.ms
    # The queue's head is the newest (highest priority); the oldest waits in a lower band.
    await router.enqueue(1, queue="default", channel=Channel.CHAT, priority=0, enqueued_ms=t0 + 2)
    await router.enqueue(2, queue="default", channel=Channel.CHAT, priority=5, enqueued_ms=t0)
    await router.enqueue(3, queue="default", channel=Channel.CHAT, priority=9, enqueued_ms=t0 + 3)
    await router.enqueue(4, queue="sales", channel=Channel.EMAIL, enqueued_ms=t0 + 9)
    reader = _LiveReader(router.redis, router.keys)

    live = await reader.read([7])
    assert live.waiting[("default", "chat")] == (3, t0)
    assert live.waiting[("sales", "email")] == (1, t0 + 9)
    assert live.offers == {}
    assert live.agents == {7: {}}  # never seen: an empty hash

    await router.set_presence(7, Presence.AVAILABLE, {"chat": 1})
    offer = await router.offer_next("default", Channel.CHAT)
    assert offer is not None and offer.interaction_id == 3

    live = await reader.read([7])
    assert live.waiting[("default", "chat")] == (2, t0)
    # An offer in flight still has a waiting customer: its enqueue time is reported.
    assert live.offers == {("default", "chat"): [t0 + 3]}
    assert live.agents[7]["presence"] == "available"
    assert live.agents[7]["load:chat"] == "1" and live.agents[7]["cap:chat"] == "1"


NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
DEFS = {"default": QueueDef("default", sl_seconds=20), "slow": QueueDef("slow", sl_seconds=60)}


def _row(
    state: InteractionState,
    queued_ago_s: float,
    *,
    answered_after_s: float | None = None,
    ended_after_s: float | None = None,
    queue: str = "default",
) -> dict[str, Any]:
    return row(
        NOW - timedelta(seconds=queued_ago_s),
        state,
        answered_after_s=answered_after_s,
        ended_after_s=ended_after_s,
        queue=queue,
    )


async def _figures(db: Database, queue: str = "default", now: datetime = NOW) -> QueueStats:
    q = QueueStats(queue, "chat", sl_target=0.8, sl_seconds=DEFS[queue].sl_seconds)
    apply_today(q, (await today(db, DEFS, 20.0, now)).get((queue, "chat"), Today()))
    return q


async def test_todays_figures_follow_the_stated_definitions(db: Database) -> None:
    await store(
        db,
        _row(S.CLOSED, 600, answered_after_s=5, ended_after_s=100),  # in SL, handled 100 s
        _row(S.CLOSED, 500, answered_after_s=50, ended_after_s=300),  # late, handled 300 s
        _row(S.ASSIGNED, 400, answered_after_s=10),  # in SL, still being handled
        _row(S.ABANDONED, 300, ended_after_s=3),  # a short abandon counts against SL too
        _row(S.QUEUED, 30),  # still waiting: neither answered nor abandoned
        _row(S.CLOSED, 4 * 3600, answered_after_s=1, ended_after_s=60),  # today, not last hour
        _row(S.ABANDONED, 10 * 3600, ended_after_s=99),  # yesterday (UTC): not counted
        _row(S.CLOSED, 100, answered_after_s=50, ended_after_s=10, queue="slow"),
    )
    q = await _figures(db)
    assert q.entered_today == 6
    assert (q.answered_today, q.answered_in_sl_today, q.abandoned_today) == (4, 3, 1)
    assert q.service_level == 3 / 5
    assert q.abandon_rate == 1 / 6
    assert q.arrivals_per_hour == 5
    assert q.aht_default is False
    assert q.aht_s == pytest.approx((100 + 300 + 60) / 3, abs=0.01)
    # Each queue's own threshold: 50 s is within the slow queue's 60 s.
    slow = await _figures(db, "slow")
    assert (slow.answered_today, slow.answered_in_sl_today, slow.service_level) == (1, 1, 1.0)


async def test_yesterdays_last_hour_counts_in_the_arrival_rate_only(db: Database) -> None:
    just_after_midnight = datetime(2026, 11, 25, 0, 10, tzinfo=UTC)
    await store(
        db,
        {
            "state": S.QUEUED,
            "queue": "default",
            "queued_at": just_after_midnight - timedelta(minutes=30),
        },
    )
    q = await _figures(db, now=just_after_midnight)
    assert (q.arrivals_per_hour, q.entered_today) == (1, 0)
    assert q.service_level is None and q.abandon_rate is None and q.aht_default


def test_erlang_advice() -> None:
    q = QueueStats("default", "voice", sl_target=0.8, sl_seconds=20, aht_s=180)
    assert advice(q) == 0  # no arrivals, nobody needed
    q.arrivals_per_hour = 100
    assert advice(q) == erlang.agents_needed(100, 180, target_s=20, service_level=0.8) == 8
    q.sl_target = 1.0  # no finite staffing answers everyone within the threshold
    assert advice(q) is None


def test_erlang_advice_for_agents_handling_several_chats_at_once() -> None:
    q = QueueStats("default", "chat", sl_target=0.8, sl_seconds=60, aht_s=600)
    q.arrivals_per_hour = 60  # 10 erlangs of chat
    slots = erlang.agents_needed(60, 600, target_s=60, service_level=0.8)
    assert slots > 10
    assert advice(q) == slots  # one at a time
    q.concurrency = 3
    assert advice(q) == -(-slots // 3)  # three chats each: a third of the people, rounded up


async def test_only_defined_or_busy_queues_are_listed(
    db: Database, router: Router, clock: FakeClock
) -> None:
    await router.enqueue(1, queue="gone", channel=Channel.SMS, enqueued_ms=clock.ms)
    await router.enqueue(2, queue="gone", channel=Channel.EMAIL, enqueued_ms=clock.ms)
    await router.remove(1)  # {p}:queues still remembers gone:sms
    service = StatsService(db, router.redis, router.keys)
    snap = await service.snapshot(
        {"default": QueueDef("default", channels=frozenset({Channel.CHAT}))}, clock.ms
    )
    assert [(q.queue, q.channel) for q in snap.queues] == [("default", "chat"), ("gone", "email")]
    [gone] = [q for q in snap.queues if q.queue == "gone"]
    assert (gone.waiting, gone.longest_wait_s, gone.sl_seconds) == (1, 0.0, 20.0)


def test_the_day_starts_at_local_midnight_in_the_centres_time_zone() -> None:
    london = ZoneInfo("Europe/London")
    # Summer: local midnight is 23:00 UTC the evening before; winter: midnight UTC.
    assert day_start(datetime(2026, 7, 1, 12, tzinfo=UTC), london) == datetime(
        2026, 6, 30, 23, tzinfo=UTC
    )
    assert day_start(datetime(2026, 12, 1, 12, tzinfo=UTC), london) == datetime(
        2026, 12, 1, tzinfo=UTC
    )
    # 02:00 UTC on 25 November is still the 24th in New York (21:00 local).
    assert day_start(datetime(2026, 11, 25, 2, tzinfo=UTC), ZoneInfo("America/New_York")) == (
        datetime(2026, 11, 24, 5, tzinfo=UTC)
    )


async def test_a_new_york_floor_keeps_its_evening_in_today(db: Database) -> None:
    evening = datetime(2026, 11, 25, 3, tzinfo=UTC)  # 22:00 on the 24th in New York
    await store(
        db,
        _row(S.CLOSED, 0, answered_after_s=5, ended_after_s=60)
        | {"queued_at": datetime(2026, 11, 24, 20, tzinfo=UTC)},  # 15:00 New York
        _row(S.CLOSED, 0, answered_after_s=5, ended_after_s=60)
        | {"queued_at": datetime(2026, 11, 25, 1, tzinfo=UTC)},  # 20:00 New York
    )
    defs = DEFS
    in_utc = (await today(db, defs, 20.0, evening)).get(("default", "chat"), Today())
    in_ny = (await today(db, defs, 20.0, evening, ZoneInfo("America/New_York"))).get(
        ("default", "chat"), Today()
    )
    assert in_utc.entered == 1  # UTC's day began at 19:00 New York time
    assert in_ny.entered == 2


def test_an_unknown_time_zone_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        Settings(data_dir=tmp_path, timezone="Mars/Olympus")
    assert Settings(data_dir=tmp_path, timezone="Asia/Kolkata").timezone == "Asia/Kolkata"


async def test_the_advice_assumes_the_agents_own_concurrency(
    db: Database, router: Router, clock: FakeClock
) -> None:
    for name, chats in [("ana", 2), ("ben", 4), ("cy", 4)]:
        await create_user(db, name, "a-stats-password", capacity={"chat": chats})
    defs = {"default": QueueDef("default", channels=frozenset({Channel.CHAT, Channel.EMAIL}))}
    snap = await StatsService(db, router.redis, router.keys).snapshot(defs, clock.ms)
    by_channel = {q.channel: q for q in snap.queues}
    assert by_channel["chat"].concurrency == 4  # the median of 2, 4, 4
    assert by_channel["email"].concurrency == 5  # nobody takes email: the default capacity
