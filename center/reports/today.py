"""Today's figures per queue and channel, aggregated by the database in one query.

Definitions ("today" is the day in the contact centre's time zone, CENTER_TIMEZONE; an
interaction counts for the queue it is in now):

* entered        -- interactions whose ``queued_at`` is today (contacts offered to the queue).
* answered       -- of those, the ones assigned to an agent; within the service level when
  ``assigned_at - queued_at`` is at most the queue's ``sl_seconds``.
* abandoned      -- of those, the ones the customer left before an agent took them.
* arrivals       -- interactions queued within the last ``ARRIVAL_WINDOW`` (yesterday's too,
  just after midnight), per hour.
* handle time    -- ``ended_at - assigned_at`` of those closed, summed and counted.

The database does the counting (a range scan of the ``queued_at`` index, one row back per
queue and channel), so a busy day costs the publisher no per-interaction work in Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, and_, case, extract, func, select

from center.queue.model import QueueDef
from center.records.db import Database
from center.records.enums import InteractionState
from center.records.models import Interaction

ARRIVAL_WINDOW = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Today:
    entered: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    arrivals_per_hour: float = 0.0
    handled: int = 0  # closed after being answered: the handle-time sample
    handle_s_total: float = 0.0


def day_start(now: datetime, zone: tzinfo = UTC, *, days_back: int = 0) -> datetime:
    """Local midnight of ``now``'s day in ``zone`` (or of the day ``days_back`` before it,
    by the calendar: a DST day between does not shift it off midnight), as a UTC instant."""
    day = now.astimezone(zone).date() - timedelta(days=days_back)
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def seconds(dialect: str, later: Any, earlier: Any) -> ColumnElement[Any]:
    """``later - earlier`` in seconds, on either backend."""
    if dialect == "sqlite":  # datetimes are ISO strings there; julianday parses them
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return extract("epoch", later - earlier)


def sum_if(condition: ColumnElement[bool], value: Any) -> ColumnElement[Any]:
    """The sum of ``value`` over the rows of the group meeting ``condition`` (0, never
    NULL, for an empty group)."""
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    """How many rows of the group meet ``condition``."""
    return sum_if(condition, 1)


def sl_threshold(defs: Mapping[str, QueueDef], default_sl_s: float) -> Any:
    """Each row's service-level threshold: its queue's ``sl_seconds``, else the default."""
    thresholds = {name: d.sl_seconds for name, d in defs.items()}
    if not thresholds:  # (an empty CASE is not valid SQL)
        return default_sl_s
    return case(thresholds, value=Interaction.queue, else_=default_sl_s)


async def today(
    db: Database,
    defs: Mapping[str, QueueDef],
    default_sl_s: float,
    now: datetime,
    zone: tzinfo = UTC,
) -> dict[tuple[str, str], Today]:
    i = Interaction
    start, window = day_start(now, zone), now - ARRIVAL_WINDOW
    threshold = sl_threshold(defs, default_sl_s)
    wait = seconds(db.dialect, i.assigned_at, i.queued_at)
    handle = seconds(db.dialect, i.ended_at, i.assigned_at)
    is_today = i.queued_at >= start
    answered = and_(is_today, i.assigned_at.is_not(None))
    handled = and_(answered, i.state == InteractionState.CLOSED, i.ended_at.is_not(None))
    stmt = (
        select(
            i.queue,
            i.channel,
            count_if(is_today),
            count_if(answered),
            count_if(and_(answered, wait <= threshold)),
            count_if(
                and_(is_today, i.assigned_at.is_(None), i.state == InteractionState.ABANDONED)
            ),
            count_if(i.queued_at >= window),
            count_if(handled),
            sum_if(handled, handle),
        )
        .where(i.queued_at >= min(start, window))
        .group_by(i.queue, i.channel)
    )
    per_hour = timedelta(hours=1) / ARRIVAL_WINDOW
    out: dict[tuple[str, str], Today] = {}
    async with db.read() as s:
        for queue, channel, *n in await s.execute(stmt):
            out[(queue, channel.value)] = Today(
                entered=int(n[0]),
                answered=int(n[1]),
                answered_in_sl=int(n[2]),
                abandoned=int(n[3]),
                arrivals_per_hour=int(n[4]) * per_hour,
                handled=int(n[5]),
                handle_s_total=max(0.0, float(n[6])),
            )
    return out
