"""The supervisor's history: today's definitions, bucketed by local hour or day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from center.queue.model import QueueDef
from center.records.db import Database
from center.records.enums import Channel, InteractionState
from center.reports.history import Bucket, HistoryRow, history
from center.reports.today import day_start
from tests.queue.figures import row, store

S = InteractionState
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")  # +5:30: local hours start on the half hour in UTC
DEFS = {"default": QueueDef("default", sl_seconds=20), "slow": QueueDef("slow", sl_seconds=60)}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def local(zone: ZoneInfo, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=zone, fold=fold).astimezone(UTC)  # type: ignore[misc]


async def _history(
    db: Database,
    start: datetime,
    end: datetime,
    bucket: Bucket,
    zone: ZoneInfo,
    **filters: Any,
) -> list[HistoryRow]:
    return await history(db, DEFS, 20.0, start=start, end=end, bucket=bucket, zone=zone, **filters)


def starts(rows: list[HistoryRow]) -> list[str]:
    return [r.json()["start"] for r in rows]


async def test_figures_follow_todays_definitions(db: Database) -> None:
    t = local(NEW_YORK, 2026, 11, 24, 10, 5)
    await store(
        db,
        row(t, S.CLOSED, answered_after_s=5, ended_after_s=100),  # in SL, handled 100 s
        row(t, S.CLOSED, answered_after_s=50, ended_after_s=300),  # late, handled 300 s
        row(t, S.ASSIGNED, answered_after_s=10),  # in SL, still being handled
        row(t, S.ABANDONED, ended_after_s=3),  # a short abandon counts against SL too
        row(t, S.QUEUED),  # still waiting: neither answered nor abandoned
        row(t, S.CLOSED, answered_after_s=50, ended_after_s=10, queue="slow"),  # 60 s: in SL
    )
    start = local(NEW_YORK, 2026, 11, 24, 10)
    [r] = await _history(db, start, start + timedelta(hours=1), Bucket.HOUR, NEW_YORK)
    assert (r.entered, r.answered, r.answered_in_sl, r.abandoned) == (6, 4, 3, 1)
    j = r.json()
    assert j["start"] == "2026-11-24T10:00:00-05:00"
    assert j["service_level"] == 3 / 5
    assert j["abandon_rate"] == 1 / 6
    assert j["aht_s"] == pytest.approx((100 + 300 + 10) / 3, abs=0.01)
    assert j["asa_s"] == pytest.approx((5 + 50 + 10 + 50) / 4, abs=0.01)

    [slow] = await _history(
        db, start, start + timedelta(hours=1), Bucket.HOUR, NEW_YORK, queue="slow"
    )
    assert (slow.answered, slow.answered_in_sl, slow.service_level) == (1, 1, 1.0)


async def test_empty_buckets_are_zeros_and_rates_are_none(db: Database) -> None:
    start = local(NEW_YORK, 2026, 11, 24, 0)
    rows = await _history(db, start, start + timedelta(hours=3), Bucket.HOUR, NEW_YORK)
    assert starts(rows) == [
        "2026-11-24T00:00:00-05:00",
        "2026-11-24T01:00:00-05:00",
        "2026-11-24T02:00:00-05:00",
    ]
    assert rows[0].json() == {
        "start": "2026-11-24T00:00:00-05:00",
        "entered": 0,
        "answered": 0,
        "answered_in_sl": 0,
        "abandoned": 0,
        "service_level": None,
        "abandon_rate": None,
        "aht_s": None,
        "asa_s": None,
    }


async def test_days_are_local_days_with_the_empty_ones_in_between(db: Database) -> None:
    await store(
        db,
        row(local(NEW_YORK, 2026, 11, 22, 23, 59)),  # before the range
        row(local(NEW_YORK, 2026, 11, 23, 0, 0)),  # its first instant
        row(local(NEW_YORK, 2026, 11, 23, 23, 50)),  # 04:50 UTC on the 24th: still the 23rd
        row(local(NEW_YORK, 2026, 11, 25, 0, 10)),
        row(local(NEW_YORK, 2026, 11, 25, 9, 0)),  # at the range's end: not counted
    )
    start = day_start(local(NEW_YORK, 2026, 11, 25, 9), NEW_YORK, days_back=2)
    assert start == utc(2026, 11, 23, 5)
    rows = await _history(db, start, local(NEW_YORK, 2026, 11, 25, 9), Bucket.DAY, NEW_YORK)
    assert starts(rows) == [
        "2026-11-23T00:00:00-05:00",
        "2026-11-24T00:00:00-05:00",
        "2026-11-25T00:00:00-05:00",  # today, so far
    ]
    assert [r.entered for r in rows] == [2, 0, 1]


async def test_half_hour_zones_bucket_by_their_own_hours(db: Database) -> None:
    # Kolkata's midnight is 18:30 UTC: a slot of 15 minutes keeps the half hours apart.
    await store(
        db,
        row(utc(2026, 11, 24, 18, 29)),  # 23:59 the day before
        row(utc(2026, 11, 24, 18, 30)),  # 00:00
        row(utc(2026, 11, 24, 19, 29, 59)),  # 00:59:59
        row(utc(2026, 11, 24, 19, 30)),  # 01:00
        row(utc(2026, 11, 24, 21, 44)),  # 03:14
    )
    start = local(KOLKATA, 2026, 11, 25, 0)
    assert start == utc(2026, 11, 24, 18, 30)
    rows = await _history(db, start, start + timedelta(hours=3, minutes=30), Bucket.HOUR, KOLKATA)
    assert starts(rows) == [
        "2026-11-25T00:00:00+05:30",
        "2026-11-25T01:00:00+05:30",
        "2026-11-25T02:00:00+05:30",
        "2026-11-25T03:00:00+05:30",
    ]
    assert [r.entered for r in rows] == [2, 1, 0, 1]

    days = await _history(
        db, local(KOLKATA, 2026, 11, 24, 0), start + timedelta(hours=5), Bucket.DAY, KOLKATA
    )
    assert starts(days) == ["2026-11-24T00:00:00+05:30", "2026-11-25T00:00:00+05:30"]
    assert [r.entered for r in days] == [1, 4]


async def test_queue_and_channel_filters(db: Database) -> None:
    t = local(NEW_YORK, 2026, 11, 24, 10, 5)
    await store(
        db,
        row(t, S.ABANDONED),
        row(t, queue="slow"),
        row(t, channel=Channel.EMAIL),
        row(t, queue="slow", channel=Channel.EMAIL),
    )
    start = local(NEW_YORK, 2026, 11, 24, 0)
    end = start + timedelta(days=1)

    async def entered(**filters: Any) -> int:
        [r] = await _history(db, start, end, Bucket.DAY, NEW_YORK, **filters)
        return r.entered

    assert await entered() == 4
    assert await entered(queue="default") == 2
    assert await entered(channel=Channel.EMAIL) == 2
    assert await entered(queue="slow", channel=Channel.CHAT) == 1
    assert await entered(queue="nowhere") == 0


async def test_a_dst_change_day_has_the_hours_local_time_has(db: Database) -> None:
    # 2026-11-01, New York: 01:00-02:00 happens twice (EDT, then EST), 25 hours in all.
    await store(
        db,
        row(local(NEW_YORK, 2026, 11, 1, 1, 30)),  # the first 01:30 (EDT)
        row(local(NEW_YORK, 2026, 11, 1, 1, 30, fold=1)),  # the second (EST)
        row(local(NEW_YORK, 2026, 11, 1, 1, 45, fold=1)),
        row(local(NEW_YORK, 2026, 11, 1, 23, 59)),
    )
    start = day_start(local(NEW_YORK, 2026, 11, 2, 9), NEW_YORK, days_back=1)
    assert start == utc(2026, 11, 1, 4)  # midnight EDT
    end = local(NEW_YORK, 2026, 11, 2, 0)
    hours = await _history(db, start, end, Bucket.HOUR, NEW_YORK)
    assert len(hours) == 25
    assert starts(hours)[1:4] == [
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:00:00-05:00",
        "2026-11-01T02:00:00-05:00",
    ]
    assert [r.entered for r in hours[1:3]] == [1, 2]
    assert hours[-1].entered == 1
    [day] = await _history(db, start, end, Bucket.DAY, NEW_YORK)
    assert day.json()["start"] == "2026-11-01T00:00:00-04:00"
    assert day.entered == 4

    # 2026-03-08: 02:00-03:00 never happens, 23 hours.
    spring = local(NEW_YORK, 2026, 3, 8, 0)
    hours = await _history(db, spring, local(NEW_YORK, 2026, 3, 9, 0), Bucket.HOUR, NEW_YORK)
    assert len(hours) == 23
    assert starts(hours)[2] == "2026-03-08T03:00:00-04:00"


async def test_the_range_ends_within_a_second(db: Database) -> None:
    # "Now" is a fraction of a second into a slot: what came in that fraction counts.
    boundary = local(NEW_YORK, 2026, 11, 24, 10, 15)
    await store(db, row(boundary + timedelta(milliseconds=200)))
    start = local(NEW_YORK, 2026, 11, 24, 10)
    end = boundary + timedelta(milliseconds=500)
    [r] = await _history(db, start, end, Bucket.HOUR, NEW_YORK)
    assert r.entered == 1
    [r] = await _history(db, start, boundary, Bucket.HOUR, NEW_YORK)
    assert r.entered == 0
