"""Today's figures from the counts the database keeps as interactions change.

Migration 0012 puts triggers on ``interactions``: every insert, update or delete appends
the row's difference to ``report_deltas`` (per 15 minutes of ``queued_at``, queue and
channel) in the same transaction, whatever code made the change; appending waits on no
other step. ``fold`` moves the deltas into ``report_slots`` (one row per slot, queue and
channel) every ``FOLD_EVERY_S`` a snapshot is taken, so both stay small. A slot holds, for
the interactions queued in it, the counts of center/reports/today.py's definitions:
entered, answered, answered within the queue's threshold, abandoned, handled and their
handle time.

Today's figures are then a sum of today's slots (every time zone's midnight falls on a
quarter hour; ``aligned`` checks) plus the deltas not folded yet, and the arrivals of the
last hour the slots inside the window plus the few interactions of the slot it starts in,
read from the record: the same numbers as ``today()``'s scan, for a few hundred rows
however busy the day.

The service-level threshold is applied as an interaction changes, so the triggers read it
from ``report_thresholds``; ``Counters.sync`` keeps that table equal to the queues in
effect and recounts today's slots (from the record) whenever a threshold changes, so the
figures always follow the thresholds the scan would use.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, tzinfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from center.queue.model import QueueDef
from center.records.db import Database
from center.reports.today import ARRIVAL_WINDOW, Today, day_start

SLOT_S = 900  # (migration 0012's SLOT_S)
SHARDS = 1  # (migration 0012's: the shard column is always 0)
FOLD_EVERY_S = 10.0
_COUNTS = "entered, answered, answered_in_sl, abandoned, handled, handle_s"
DEFAULT_SL_S = 20.0  # the triggers' threshold for a queue without a row (QueueDef's default)

_SUMS = text(
    """
    SELECT queue, channel,
      SUM(CASE WHEN slot >= :day THEN entered ELSE 0 END),
      SUM(CASE WHEN slot >= :day THEN answered ELSE 0 END),
      SUM(CASE WHEN slot >= :day THEN answered_in_sl ELSE 0 END),
      SUM(CASE WHEN slot >= :day THEN abandoned ELSE 0 END),
      SUM(CASE WHEN slot >= :arrivals THEN entered ELSE 0 END),
      SUM(CASE WHEN slot >= :day THEN handled ELSE 0 END),
      SUM(CASE WHEN slot >= :day THEN handle_s ELSE 0 END)
    FROM (
      SELECT slot, queue, channel, entered, answered, answered_in_sl, abandoned, handled,
             handle_s FROM report_slots WHERE slot >= :low
      UNION ALL
      SELECT slot, queue, channel, entered, answered, answered_in_sl, abandoned, handled,
             handle_s FROM report_deltas WHERE slot >= :low
    ) AS counted
    GROUP BY queue, channel
    """
)
_SUM_MOVED = ", ".join(f"SUM({c})" for c in _COUNTS.split(", "))
_ADD_UP = ", ".join(f"{c} = report_slots.{c} + excluded.{c}" for c in _COUNTS.split(", "))
# One statement on PostgreSQL: the rows it deletes are the rows it adds (a delta appended
# meanwhile is not seen by the delete, and waits for the next fold).
_FOLD_PG = text(
    f"""
    WITH moved AS (DELETE FROM report_deltas RETURNING slot, queue, channel, shard, {_COUNTS})
    INSERT INTO report_slots (slot, queue, channel, shard, {_COUNTS})
    SELECT slot, queue, channel, shard, {_SUM_MOVED} FROM moved
    GROUP BY slot, queue, channel, shard
    ON CONFLICT (slot, queue, channel, shard) DO UPDATE SET {_ADD_UP}
    """
)
# SQLite: two statements in one write transaction (writers are serialised: nothing lands
# between them).
_FOLD_SQLITE = (
    text(
        f"""
        INSERT INTO report_slots (slot, queue, channel, shard, {_COUNTS})
        SELECT slot, queue, channel, shard, {_SUM_MOVED} FROM report_deltas WHERE true
        GROUP BY slot, queue, channel, shard
        ON CONFLICT (slot, queue, channel, shard) DO UPDATE SET {_ADD_UP}
        """
    ),
    text("DELETE FROM report_deltas"),
)
# The start of the arrival window falls inside a slot: its part of that slot, exactly.
_PARTIAL = text(
    "SELECT queue, channel, COUNT(*) FROM interactions "
    "WHERE queued_at >= :since AND queued_at < :until GROUP BY queue, channel"
)


def aligned(start: datetime) -> bool:
    """Whether a day starting at ``start`` begins on a slot (true of every zone in use
    today: offsets are whole quarter hours; not of a few historical local mean times)."""
    return start.timestamp() % SLOT_S == 0


def thresholds(defs: Mapping[str, QueueDef]) -> dict[str, float]:
    return {name: float(d.sl_seconds) for name, d in defs.items()}


class Counters:
    """Reads today's figures from ``report_slots``; keeps the thresholds the triggers use."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._synced: dict[str, float] | None = None  # what report_thresholds holds
        self._folded = float("-inf")  # (time.monotonic() of this process's last fold)

    async def fold(self) -> None:
        """Move the deltas appended since the last fold into the slots."""
        async with self.db.step() as c:
            if self.db.dialect == "postgresql":
                await c.execute(_FOLD_PG)
            else:
                for statement in _FOLD_SQLITE:
                    await c.execute(statement)
        self._folded = time.monotonic()

    async def maybe_fold(self) -> None:
        if time.monotonic() - self._folded >= FOLD_EVERY_S:
            await self.fold()

    async def sync(self, defs: Mapping[str, QueueDef], now: datetime, zone: tzinfo = UTC) -> bool:
        """Make ``report_thresholds`` the queues' thresholds; when that changes anything,
        recount today's slots with them (True). Cheap when nothing changed: a comparison
        in memory once the table has been read."""
        want = thresholds(defs)
        if self._synced == want:
            return False
        async with self.db.read_step() as c:
            have = await _thresholds(c)
        changed = have != want
        if changed:
            async with self.db.step() as c:
                if self.db.dialect == "postgresql":
                    # Concurrent steps' triggers wait for this, and this for those that
                    # appended first: no delta lands between the recount's delete and its
                    # read of the record. (One already past its threshold read counts at
                    # the old one.)
                    await c.execute(text("LOCK TABLE report_deltas IN EXCLUSIVE MODE"))
                await c.execute(text("DELETE FROM report_thresholds"))
                if want:
                    await c.execute(
                        text("INSERT INTO report_thresholds (queue, sl_seconds) VALUES (:q, :s)"),
                        [{"q": q, "s": s} for q, s in want.items()],
                    )
                await _recount(c, self.db.dialect, day_start(now, zone) - ARRIVAL_WINDOW)
        self._synced = want
        return changed

    async def today(self, now: datetime, zone: tzinfo = UTC) -> dict[tuple[str, str], Today]:
        """``center.reports.today.today``'s figures (at the synced thresholds), from the
        slots: two small reads, whatever the day's volume."""
        async with self.db.read_step() as c:
            return await self.read(c, now, zone)

    async def read(
        self, c: AsyncConnection, now: datetime, zone: tzinfo = UTC
    ) -> dict[tuple[str, str], Today]:
        """``today`` on a connection the caller holds."""
        start, window = day_start(now, zone), now - ARRIVAL_WINDOW
        day = int(start.timestamp()) // SLOT_S
        arrivals = math.ceil(window.timestamp() / SLOT_S)  # the first slot wholly inside
        boundary = datetime.fromtimestamp(arrivals * SLOT_S, UTC)
        per_hour = timedelta(hours=1) / ARRIVAL_WINDOW
        out: dict[tuple[str, str], Today] = {}
        partial: dict[tuple[str, str], int] = {}
        sums = await c.execute(_SUMS, {"day": day, "arrivals": arrivals, "low": min(day, arrivals)})
        rows = sums.all()
        if window < boundary:
            for queue, channel, n in await c.execute(
                _PARTIAL, {"since": _bind(self.db, window), "until": _bind(self.db, boundary)}
            ):
                partial[(queue, str(channel))] = int(n)
        for queue, channel, *n in rows:
            key = (queue, str(channel))
            arrived = int(n[4]) + partial.pop(key, 0)
            if not int(n[0]) and not arrived:
                continue  # (nothing queued in range: the scan would not see the pair)
            out[key] = Today(
                entered=int(n[0]),
                answered=int(n[1]),
                answered_in_sl=int(n[2]),
                abandoned=int(n[3]),
                arrivals_per_hour=arrived * per_hour,
                handled=int(n[5]),
                handle_s_total=max(0.0, float(n[6])),
            )
        for key, arrived in partial.items():  # (only yesterday's last hour: no slot today)
            out[key] = Today(arrivals_per_hour=arrived * per_hour)
        return out


async def _thresholds(c: AsyncConnection) -> dict[str, float]:
    rows = await c.execute(text("SELECT queue, sl_seconds FROM report_thresholds"))
    return {str(q): float(s) for q, s in rows}


def _bind(db: Database, at: datetime) -> object:
    # Text statements bypass the column type: SQLite stores naive UTC ISO strings.
    if db.dialect == "sqlite":
        return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return at


async def _recount(c: AsyncConnection, dialect: str, since: datetime) -> None:
    """Replace the slots from ``since``'s on with a count of the record (the triggers'
    rules, by the same expressions, in one statement)."""
    slot0 = int(since.timestamp()) // SLOT_S
    low = datetime.fromtimestamp(slot0 * SLOT_S, UTC)
    if dialect == "postgresql":
        slot = f"floor(extract(epoch FROM i.queued_at) / {SLOT_S})::bigint"
        wait = "extract(epoch FROM i.assigned_at - i.queued_at)"
        handle = "extract(epoch FROM i.ended_at - i.assigned_at)"
        bound: object = low
    else:
        slot = f"CAST(strftime('%s', i.queued_at) AS INTEGER) / {SLOT_S}"
        wait = "(julianday(i.assigned_at) - julianday(i.queued_at)) * 86400.0"
        handle = "(julianday(i.ended_at) - julianday(i.assigned_at)) * 86400.0"
        bound = low.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    threshold = (
        "coalesce((SELECT t.sl_seconds FROM report_thresholds t WHERE t.queue = i.queue), "
        f"{DEFAULT_SL_S})"
    )
    handled = "i.assigned_at IS NOT NULL AND i.state = 'closed' AND i.ended_at IS NOT NULL"
    await c.execute(text("DELETE FROM report_deltas WHERE slot >= :s"), {"s": slot0})
    await c.execute(text("DELETE FROM report_slots WHERE slot >= :s"), {"s": slot0})
    await c.execute(
        text(
            f"""
            INSERT INTO report_slots (slot, queue, channel, shard, entered, answered,
                                      answered_in_sl, abandoned, handled, handle_s)
            SELECT {slot}, i.queue, i.channel, i.id % {SHARDS}, COUNT(*),
              SUM(CASE WHEN i.assigned_at IS NOT NULL THEN 1 ELSE 0 END),
              SUM(CASE WHEN i.assigned_at IS NOT NULL AND {wait} <= {threshold}
                  THEN 1 ELSE 0 END),
              SUM(CASE WHEN i.assigned_at IS NULL AND i.state = 'abandoned' THEN 1 ELSE 0 END),
              SUM(CASE WHEN {handled} THEN 1 ELSE 0 END),
              SUM(CASE WHEN {handled} THEN {handle} ELSE 0 END)
            FROM interactions i WHERE i.queued_at >= :low
            GROUP BY 1, 2, 3, 4
            """
        ),
        {"low": bound},
    )
