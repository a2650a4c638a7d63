"""Past figures per hour or per day, for the supervisor's history chart.

The definitions are today's (see ``center.reports.today``): an interaction counts in the
bucket its ``queued_at`` falls in, for the queue it is in now.

* entered        -- interactions queued in the bucket.
* answered       -- of those, the ones assigned to an agent; within the service level when
  ``assigned_at - queued_at`` is at most the queue's ``sl_seconds``.
* abandoned      -- of those, the ones the customer left before an agent took them.
* service level  -- answered within the threshold ÷ (answered + abandoned); None when 0.
* abandon rate   -- abandoned ÷ entered; None when nothing entered.
* AHT            -- mean ``ended_at - assigned_at`` of the answered ones now closed.
* ASA            -- mean ``assigned_at - queued_at`` of the answered ones.

Buckets are local hours or days in the contact centre's time zone, which SQLite cannot
compute. So the database counts per 15-minute UTC slot (every zone's offset from UTC is a
whole number of quarter hours, so a slot never straddles a local hour) and Python adds the
slots up into local buckets. Buckets follow local time: a DST day has 23 or 25 hours.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, tzinfo
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Integer, and_, cast, extract, func, select

from center.queue.model import QueueDef
from center.records.db import Database
from center.records.enums import Channel, InteractionState
from center.records.models import Interaction
from center.reports.today import count_if, seconds, sl_threshold, sum_if

SLOT_S = 900


class Bucket(StrEnum):
    HOUR = "hour"
    DAY = "day"


@dataclass(slots=True)
class HistoryRow:
    start: datetime  # the bucket's first instant, in the centre's zone
    entered: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    handled: int = 0  # closed after being answered: the handle-time sample
    handle_s_total: float = 0.0
    wait_s_total: float = 0.0  # of the answered ones: the speed-of-answer sample

    @property
    def service_level(self) -> float | None:
        settled = self.answered + self.abandoned
        return self.answered_in_sl / settled if settled else None

    @property
    def abandon_rate(self) -> float | None:
        return self.abandoned / self.entered if self.entered else None

    @property
    def aht_s(self) -> float | None:
        return self.handle_s_total / self.handled if self.handled else None

    @property
    def asa_s(self) -> float | None:
        return self.wait_s_total / self.answered if self.answered else None

    def json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "entered": self.entered,
            "answered": self.answered,
            "answered_in_sl": self.answered_in_sl,
            "abandoned": self.abandoned,
            "service_level": self.service_level,
            "abandon_rate": self.abandon_rate,
            "aht_s": self.aht_s,
            "asa_s": self.asa_s,
        }


def _slot(dialect: str, at: Any) -> ColumnElement[Any]:
    """The 15-minute UTC slot (seconds since the epoch // 900) of a datetime column."""
    if dialect == "sqlite":
        # Stored as naive UTC text; strftime('%s') gives whole epoch seconds exactly, where
        # julianday's float could put an instant on a slot's boundary into the slot before.
        return cast(func.strftime("%s", at), Integer) // SLOT_S
    return cast(func.floor(extract("epoch", at) / SLOT_S), BigInteger)


def bucket_start(at: datetime, bucket: Bucket, zone: tzinfo) -> datetime:
    """The start of the local hour or day ``at`` falls in, in ``zone``."""
    local = at.astimezone(zone)
    if bucket is Bucket.DAY:
        return datetime.combine(local.date(), time(0), tzinfo=zone)
    # (replace keeps fold: the repeated hour of a DST change stays two buckets)
    return local.replace(minute=0, second=0, microsecond=0)


def _slots(start: datetime, end: datetime) -> range:
    first = int(start.timestamp()) // SLOT_S
    # Up to the slot ``end`` is in (a fraction of a second into a slot is in it), exclusive
    # of the one it starts when exactly on a boundary.
    last = math.ceil(end.timestamp() / SLOT_S)
    return range(first, max(first + 1, last))


def _empty_buckets(
    start: datetime, end: datetime, bucket: Bucket, zone: tzinfo
) -> dict[int, HistoryRow]:
    """Every bucket from ``start`` to ``end``, in order, keyed by its start (epoch seconds)."""
    out: dict[int, HistoryRow] = {}
    for slot in _slots(start, end):
        begins = bucket_start(datetime.fromtimestamp(slot * SLOT_S, UTC), bucket, zone)
        key = int(begins.timestamp())
        if key not in out:
            out[key] = HistoryRow(begins)
    return out


async def history(
    db: Database,
    defs: Mapping[str, QueueDef],
    default_sl_s: float,
    *,
    start: datetime,
    end: datetime,
    bucket: Bucket,
    zone: tzinfo,
    queue: str | None = None,
    channel: Channel | None = None,
) -> list[HistoryRow]:
    """Figures per local ``bucket`` for interactions queued in [start, end), oldest first;
    buckets with nothing in them are there too, all zeros, so a chart has no gaps."""
    i = Interaction
    slot = _slot(db.dialect, i.queued_at).label("slot")
    wait = seconds(db.dialect, i.assigned_at, i.queued_at)
    handle = seconds(db.dialect, i.ended_at, i.assigned_at)
    answered = i.assigned_at.is_not(None)
    handled = and_(answered, i.state == InteractionState.CLOSED, i.ended_at.is_not(None))
    where = [i.queued_at >= start, i.queued_at < end]
    if queue is not None:
        where.append(i.queue == queue)
    if channel is not None:
        where.append(i.channel == channel)
    stmt = (
        select(
            slot,
            func.count(),
            count_if(answered),
            count_if(and_(answered, wait <= sl_threshold(defs, default_sl_s))),
            count_if(and_(i.assigned_at.is_(None), i.state == InteractionState.ABANDONED)),
            count_if(handled),
            sum_if(handled, handle),
            sum_if(answered, wait),
        )
        .where(*where)
        .group_by(slot)
    )
    rows = _empty_buckets(start, end, bucket, zone)
    async with db.read() as s:
        for n, entered, *f in await s.execute(stmt):
            at = datetime.fromtimestamp(int(n) * SLOT_S, UTC)
            r = rows[int(bucket_start(at, bucket, zone).timestamp())]
            r.entered += int(entered)
            r.answered += int(f[0])
            r.answered_in_sl += int(f[1])
            r.abandoned += int(f[2])
            r.handled += int(f[3])
            # (clock skew between processes could make a difference slightly negative)
            r.handle_s_total += max(0.0, float(f[4]))
            r.wait_s_total += max(0.0, float(f[5]))
    return list(rows.values())
