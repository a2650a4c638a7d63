"""Live queue statistics for supervisors: what waits now (Redis) and how today went (database).

Per queue and channel: waiting, longest wait, offers in flight, service level and abandon
rate today, arrival rate and handle time, and the Erlang C staffing advice at those figures.
Per agent: presence (and away reason), time in state, load and capacity per channel.

Definitions (stated once, used everywhere; "today" is the day in CENTER_TIMEZONE):

* entered today  -- interactions whose ``queued_at`` is today (the contacts offered to the
  queue, in contact-center terms), attributed to the queue they are in now.
* service level  -- answered within the queue's ``sl_seconds`` ÷ (answered + abandoned), the
  Genesys Cloud default (abandons count against the service level, short ones too);
  ``None`` before anything was answered or abandoned. Still-waiting work is not counted.
* abandon rate   -- abandoned ÷ entered today.
* arrival rate   -- interactions queued in the last hour, per hour.
* handle time    -- mean of (ended - assigned) over interactions closed after being queued
  today; ``DEFAULT_AHT_S`` while there are none (``aht_default`` says so).
* Erlang C       -- ``center.reports.erlang.agents_needed`` for the queue's target at the
  arrival rate and handle time above (0 without arrivals), counted in contact slots and
  divided by the channel's concurrency: the median capacity on the channel of the agents
  who could take the work (the default capacity when there are none). Voice is 1, so
  exact; for chat and email this is the usual concurrency-factor approximation, which
  holds because the handle time measured is that of contacts handled side by side.
* agents         -- per presence, the agents who could take the queue's work: capacity on the
  channel and the queue's required skills (and language) at their base levels (escalation
  rings are not applied). Staffed = available + in wrap-up among them.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from center import fastjson
from center.queue.definitions import required_skills
from center.queue.keys import BAND, Keys
from center.queue.model import QueueDef
from center.queue.results import DEFAULT_CAPACITY
from center.queue.scripts import SOURCES
from center.records.db import Database
from center.records.enums import Channel, Presence
from center.records.events import EventType
from center.records.models import Event, User
from center.reports import erlang
from center.reports.counters import Counters, aligned
from center.reports.today import Today, day_start, today

DEFAULT_AHT_S = 300.0
# Queue definitions used for statistics of queues that are not (or no longer) defined.
FALLBACK = QueueDef(name="")
STAFFED = frozenset({Presence.AVAILABLE.value, Presence.WRAP_UP.value})


@dataclass(slots=True)
class QueueStats:
    queue: str
    channel: str
    waiting: int = 0
    offers: int = 0  # offered to an agent, not yet accepted (the customer still waits)
    longest_wait_s: float | None = None  # oldest of waiting and offered; None when none
    oldest_enqueued_ms: int | None = None  # so a console can tick the longest wait itself
    entered_today: int = 0
    answered_today: int = 0
    answered_in_sl_today: int = 0
    abandoned_today: int = 0
    service_level: float | None = None
    sl_target: float = FALLBACK.sl_target
    sl_seconds: float = FALLBACK.sl_seconds
    abandon_rate: float | None = None
    arrivals_per_hour: float = 0.0
    aht_s: float = DEFAULT_AHT_S
    aht_default: bool = True
    agents_by_presence: dict[str, int] = field(default_factory=dict)
    agents_staffed: int = 0
    agents_needed: int | None = None  # Erlang C advice; None when it cannot be computed
    concurrency: int = 1  # contacts per agent at a time that the advice assumes


@dataclass(slots=True)
class AgentStats:
    id: int
    username: str
    display_name: str
    role: str
    presence: str
    away_reason: str | None = None
    since_ms: int | None = None  # when the current presence began (None: unknown)
    time_in_state_s: float | None = None
    load: dict[str, int] = field(default_factory=dict)
    capacity: dict[str, int] = field(default_factory=dict)
    missed: int = 0


@dataclass(slots=True)
class Snapshot:
    at_ms: int
    queues: list[QueueStats]
    agents: list[AgentStats]
    day_start_ms: int = 0  # when "today" began, in the centre's time zone

    def json(self) -> dict[str, Any]:
        return {
            "at_ms": self.at_ms,
            "day_start_ms": self.day_start_ms,
            "queues": [asdict(q) for q in self.queues],
            "agents": [asdict(a) for a in self.agents],
        }


# -- live state (Redis) --------------------------------------------------------------------


@dataclass(slots=True)
class _Live:
    waiting: dict[tuple[str, str], tuple[int, int | None]]  # -> (count, oldest enqueue ms)
    offers: dict[tuple[str, str], list[int]]  # -> enqueue ms of each offer in flight
    agents: dict[int, dict[str, str]]


class _LiveReader:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.keys = keys
        self.script = redis.register_script(SOURCES["liveStats"][0])

    async def read(self, agent_ids: Sequence[int]) -> _Live:
        k = self.keys
        raw = await self.script(keys=[k.queues, k.offers, k.base], args=[str(i) for i in agent_ids])
        queues, offers, agents = fastjson.loads(raw)
        live = _Live({}, {}, {})
        for row in queues or ():  # ({} is cjson's empty list)
            heads = [int(float(s)) % BAND for s in row[3:]]
            live.waiting[(str(row[0]), str(row[1]))] = (int(row[2]), min(heads, default=None))
        for _id, queue, channel, _agent, enq in offers or ():
            live.offers.setdefault((str(queue), str(channel)), []).append(
                int(enq) if str(enq).isdigit() else 0
            )
        for agent_id, h in agents or ():
            live.agents[int(agent_id)] = {str(f): str(v) for f, v in (h or {}).items()}
        return live


# -- today (database) ----------------------------------------------------------------------


def apply_today(q: QueueStats, t: Today) -> None:
    q.entered_today, q.answered_today = t.entered, t.answered
    q.answered_in_sl_today, q.abandoned_today = t.answered_in_sl, t.abandoned
    q.arrivals_per_hour = t.arrivals_per_hour
    counted = t.answered + t.abandoned
    q.service_level = t.answered_in_sl / counted if counted else None
    q.abandon_rate = t.abandoned / t.entered if t.entered else None
    if t.handled:
        q.aht_s, q.aht_default = t.handle_s_total / t.handled, False


def advice(q: QueueStats) -> int | None:
    """Erlang C: the fewest agents meeting the queue's target at its current load, each
    serving ``q.concurrency`` contacts at a time."""
    if q.arrivals_per_hour <= 0:
        return 0
    try:
        slots = erlang.agents_needed(
            q.arrivals_per_hour,
            q.aht_s,
            target_s=q.sl_seconds,
            service_level=q.sl_target,
        )
    except ValueError:  # e.g. a 100 % target, which no finite staffing meets
        return None
    return -(-slots // max(1, q.concurrency))  # ceiling division


def _concurrency(capacities: list[int], channel: str) -> int:
    if not capacities:
        return max(1, DEFAULT_CAPACITY.get(channel, 1))
    return max(1, int(statistics.median_low(capacities)))


# -- agents ----------------------------------------------------------------------------------


USERS = User.__table__
EVENTS = Event.__table__
_ACTIVE = select(USERS).where(USERS.c.active.is_(True)).order_by(USERS.c.id)
# The reason of each away agent's newest presence event, in one statement: per agent, a
# backward scan of the index on (actor_id, id) to its first presence event, then that row.
_NEWEST_PRESENCE = (
    select(EVENTS.c.id)
    .where(
        EVENTS.c.actor_id == USERS.c.id,
        EVENTS.c.type == EventType.PRESENCE_CHANGED.value,
    )
    .order_by(EVENTS.c.id.desc())
    .limit(1)
    .correlate(USERS)
    .scalar_subquery()
)


async def _agents(c: AsyncConnection) -> list[Any]:
    """The active users as rows (id, username, role, presence, skills, capacity...): the
    snapshot only reads them, so no ORM objects are built."""
    return list(await c.execute(_ACTIVE))


async def _away_reasons(c: AsyncConnection, agent_ids: list[int]) -> dict[int, str | None]:
    if not agent_ids:
        return {}
    stmt = (
        select(USERS.c.id, EVENTS.c.data)
        .join(EVENTS, EVENTS.c.id == _NEWEST_PRESENCE)
        .where(USERS.c.id.in_(agent_ids))
    )
    return {int(uid): (data or {}).get("reason") for uid, data in await c.execute(stmt)}


CHANNELS = tuple(c.value for c in Channel)  # (an Enum's iteration is slow, 200 agents x 2)


def _per_channel(h: Mapping[str, str], prefix: str) -> dict[str, int]:
    out = {}
    for channel in CHANNELS:
        raw = h.get(prefix + channel)
        if raw is not None and raw.lstrip("-").isdigit():
            out[channel] = int(raw)
    return out


def _skills(user: Any, h: Mapping[str, str]) -> dict[str, Any]:
    # The live copy (what the router routes by) when the agent has been seen, else the record.
    try:
        live = json.loads(h["skills"]) if h.get("skills") else None
    except ValueError:
        live = None
    return live if isinstance(live, dict) else dict(user.skills or {})


def _meets(skills: Mapping[str, Any], needs: Mapping[str, int]) -> bool:
    def level(name: str) -> int:
        value = skills.get(name, 0)
        return value if isinstance(value, int) else 0

    return all(level(name) >= need for name, need in needs.items())


def _agent_stats(user: Any, h: Mapping[str, str], now_ms: int) -> AgentStats:
    presence = h.get("presence") or user.presence.value
    since = int(h["since"]) if h.get("since", "").isdigit() else None
    return AgentStats(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role.value,
        presence=presence,
        since_ms=since,
        time_in_state_s=max(0.0, (now_ms - since) / 1000) if since else None,
        load={c: n for c, n in _per_channel(h, "load:").items() if n > 0},
        # An agent not seen since Redis started has its record's capacity (as set_presence
        # would give it: none set means the blended default).
        capacity=_per_channel(h, "cap:") or dict(user.capacity or DEFAULT_CAPACITY),
        missed=int(h["missed"]) if h.get("missed", "").isdigit() else 0,
    )


# -- the snapshot ----------------------------------------------------------------------------


class StatsService:
    """Computes a ``Snapshot``; cheap enough to run every second: one Redis round trip and
    a few small queries, none of them growing with the day's volume (bench/supervisor.py)."""

    def __init__(
        self, db: Database, redis: Redis, keys: Keys, *, zone: tzinfo = UTC, scan: bool = False
    ) -> None:
        self.db = db
        self.scan = scan  # today's figures by a scan of the record (bench/supervisor.py's anchor)
        self.live = _LiveReader(redis, keys)
        self.zone = zone  # where "today" starts
        self.counters = Counters(db)

    async def today(
        self, defs: Mapping[str, QueueDef], now: datetime
    ) -> dict[tuple[str, str], Today]:
        """Today's figures: from the counts the database keeps (center/reports/counters.py),
        or a scan of today's interactions where the day does not start on a slot."""
        if self.scan or not aligned(day_start(now, self.zone)):
            return await today(self.db, defs, FALLBACK.sl_seconds, now, self.zone)
        await self.counters.sync(defs, now, self.zone)
        return await self.counters.today(now, self.zone)

    async def snapshot(self, defs: Mapping[str, QueueDef], now_ms: int) -> Snapshot:
        now = datetime.fromtimestamp(now_ms / 1000, UTC)
        counted = not self.scan and aligned(day_start(now, self.zone))
        if counted:  # (before the read: it may recount today at new thresholds)
            await self.counters.sync(defs, now, self.zone)
            await self.counters.maybe_fold()
        # One connection for the snapshot's few reads (each checkout costs as much as one).
        async with self.db.read_step() as c:
            users = await _agents(c)
            live = await self.live.read([u.id for u in users])
            history = (
                await self.counters.read(c, now, self.zone)
                if counted
                else await today(self.db, defs, FALLBACK.sl_seconds, now, self.zone)
            )
            agents = [_agent_stats(u, live.agents.get(u.id, {}), now_ms) for u in users]
            by_id = {a.id: a for a in agents}
            away = [a.id for a in agents if a.presence == Presence.AWAY.value]
            for agent_id, reason in (await _away_reasons(c, away)).items():
                by_id[agent_id].away_reason = reason
        skills = {u.id: _skills(u, live.agents.get(u.id, {})) for u in users}

        pairs = {(q.name, c.value) for q in defs.values() for c in q.channels}
        # ({p}:queues remembers every pair that ever held work: only busy ones are shown.)
        pairs |= {pair for pair, (n, _) in live.waiting.items() if n}
        pairs |= set(live.offers) | set(history)
        queues = []
        staffing: dict[tuple[str, tuple[tuple[str, int], ...]], tuple[dict[str, int], int]] = {}
        for name, channel in sorted(pairs):
            d = defs.get(name, FALLBACK)
            q = QueueStats(name, channel, sl_target=d.sl_target, sl_seconds=d.sl_seconds)
            q.waiting, oldest = live.waiting.get((name, channel), (0, None))
            offered = live.offers.get((name, channel), [])
            q.offers = len(offered)
            enqueued = [ms for ms in [oldest, *offered] if ms]
            if enqueued:
                q.oldest_enqueued_ms = min(enqueued)
                q.longest_wait_s = max(0.0, (now_ms - q.oldest_enqueued_ms) / 1000)
            apply_today(q, history.get((name, channel), Today()))
            needs = required_skills(d)
            key = (channel, tuple(sorted(needs.items())))
            if key not in staffing:  # (queues asking the same of a channel share the count)
                by_presence: dict[str, int] = {}
                capacities = []
                for a in agents:
                    if a.capacity.get(channel, 0) > 0 and _meets(skills[a.id], needs):
                        by_presence[a.presence] = by_presence.get(a.presence, 0) + 1
                        capacities.append(a.capacity[channel])
                staffing[key] = (by_presence, _concurrency(capacities, channel))
            by_presence, q.concurrency = staffing[key]
            q.agents_by_presence = dict(by_presence)
            q.agents_staffed = sum(q.agents_by_presence.get(p, 0) for p in STAFFED)
            q.agents_needed = advice(q)
            queues.append(q)
        return Snapshot(now_ms, queues, agents, int(day_start(now, self.zone).timestamp() * 1000))
