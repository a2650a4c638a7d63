"""Business-hours arithmetic for SLA clocks: a weekly calendar, holidays, a time zone.

Times are stored and compared as UTC instants; business hours are local wall-clock times
in the centre's zone (``CENTER_TIMEZONE``), turned into instants day by day, so a DST
change moves the instants and never the opening hours. (Subtracting two aware datetimes
of one ZoneInfo compares wall clocks in Python, so every difference here is taken in UTC.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Far enough for any SLA target (a year of business days) and bounded for a bad calendar.
MAX_DAYS = 3 * 366
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


class CalendarError(ValueError):
    pass


def _clock(h: str, m: str) -> tuple[int, int]:
    hour, minute = int(h), int(m)
    if not (0 <= hour <= 24 and 0 <= minute < 60) or (hour == 24 and minute):
        raise CalendarError(f"{h}:{m} is not a time of day")
    return hour, minute


def _days(spec: str) -> list[int]:
    out: list[int] = []
    for part in spec.split(","):
        part = part.strip().lower()
        if "-" in part:
            a, b = part.split("-", 1)
            if a not in DAYS or b not in DAYS:
                raise CalendarError(f"unknown day in {part!r}")
            i, j = DAYS.index(a), DAYS.index(b)
            out.extend(range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)])
        elif part in DAYS:
            out.append(DAYS.index(part))
        else:
            raise CalendarError(f"unknown day {part!r}")
    return out


@dataclass(frozen=True)
class BusinessCalendar:
    zone: ZoneInfo
    # weekday (0 = Monday) -> opening ranges as (start, end) minutes after local midnight
    week: dict[int, tuple[tuple[int, int], ...]]
    holidays: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def parse(
        cls, hours: str, holidays: str = "", zone: str | ZoneInfo = "UTC"
    ) -> BusinessCalendar:
        """``hours``: "mon-fri 09:00-17:00; sat 10:00-14:00", or "24x7".
        ``holidays``: ISO dates, comma separated ("2026-12-25,2027-01-01")."""
        tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
        week: dict[int, list[tuple[int, int]]] = {}
        spec = hours.strip().lower()
        if spec in ("24x7", "24/7", "always"):
            week = {d: [(0, 24 * 60)] for d in range(7)}
        else:
            for clause in filter(None, (c.strip() for c in spec.split(";"))):
                try:
                    day_spec, *ranges = clause.split()
                except ValueError:
                    raise CalendarError(f"empty clause in {hours!r}") from None
                if not ranges:
                    raise CalendarError(f"{clause!r} has no opening hours")
                for r in ranges:
                    m = _RANGE.match(r)
                    if m is None:
                        raise CalendarError(f"{r!r} is not HH:MM-HH:MM")
                    sh, sm = _clock(m[1], m[2])
                    eh, em = _clock(m[3], m[4])
                    start, end = sh * 60 + sm, eh * 60 + em
                    if end <= start:
                        raise CalendarError(f"{r!r} ends before it starts")
                    for d in _days(day_spec):
                        week.setdefault(d, []).append((start, end))
        if not week:
            raise CalendarError("the calendar has no business hours")
        days: set[date] = set()
        for h in filter(None, (x.strip() for x in holidays.split(","))):
            try:
                days.add(date.fromisoformat(h))
            except ValueError:
                raise CalendarError(f"{h!r} is not an ISO date") from None
        return cls(tz, {d: tuple(sorted(r)) for d, r in week.items()}, frozenset(days))

    def _instant(self, day: date, minutes: int) -> datetime:
        # (24:00 is the next day's midnight.)
        day += timedelta(days=minutes // (24 * 60))
        minutes %= 24 * 60
        local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=self.zone)
        return local.astimezone(UTC)

    def open_ranges(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Business ranges (UTC) from the local day of ``start`` on, in order."""
        day = start.astimezone(self.zone).date()
        for _ in range(MAX_DAYS):
            if day not in self.holidays:
                for a, b in self.week.get(day.weekday(), ()):
                    yield self._instant(day, a), self._instant(day, b)
            day += timedelta(days=1)
        raise CalendarError("no business hours within the next three years")

    def add(self, start: datetime, minutes: float) -> datetime:
        """The instant ``minutes`` business minutes after ``start``."""
        start = start.astimezone(UTC)
        left = timedelta(minutes=minutes)
        if left <= timedelta(0):
            return start
        for a, b in self.open_ranges(start):
            if b <= start:
                continue
            a = max(a, start)
            if left <= b - a:
                return a + left
            left -= b - a
        raise CalendarError("unreachable")  # pragma: no cover (open_ranges raises first)

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Business time from ``start`` to ``end`` (zero if end is not later)."""
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        total = timedelta(0)
        if end <= start:
            return total
        for a, b in self.open_ranges(start):
            if a >= end:
                break
            a, b = max(a, start), min(b, end)
            if b > a:
                total += b - a
        return total
