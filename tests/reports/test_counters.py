"""Today's figures kept by the database's triggers equal a full recount of the record."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from sqlalchemy import delete, select, text, update

from center.interactions import rows
from center.queue.model import QueueDef
from center.records.base import utcnow
from center.records.db import Database, alembic_config
from center.records.enums import Channel, InteractionState
from center.records.models import Customer, Interaction
from center.reports.counters import Counters, aligned
from center.reports.today import Today, day_start, today

S = InteractionState
QUEUES = ["default", "billing", "tech"]
CHANNELS = [Channel.CHAT, Channel.EMAIL, Channel.VOICE]


def _same(a: dict[tuple[str, str], Today], b: dict[tuple[str, str], Today]) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        x, y = a[key], b[key]
        assert (x.entered, x.answered, x.answered_in_sl, x.abandoned, x.handled) == (
            y.entered,
            y.answered,
            y.answered_in_sl,
            y.abandoned,
            y.handled,
        ), key
        assert x.arrivals_per_hour == y.arrivals_per_hour, key
        assert x.handle_s_total == pytest.approx(y.handle_s_total, abs=1e-3), key


async def _customer(db: Database) -> int:
    async with db.transaction() as s:
        c = Customer(display_name="c")
        s.add(c)
        await s.flush()
        return c.id


async def _random_day(db: Database, rng: random.Random, now: datetime, customer: int) -> None:
    """Interactions queued across yesterday and today, moved through every kind of change
    by every kind of writer: ORM sessions, the hot path's Core statements, bulk updates."""

    def at(hours_back: float) -> datetime:  # (some later than ``now``: read again then)
        return now - timedelta(hours=hours_back - 6)

    ids: list[int] = []
    for _ in range(60):
        async with db.step() as c:
            queued = at(rng.uniform(0, 30)) if rng.random() < 0.85 else None
            i = await rows.insert_interaction(
                c,
                customer_id=customer,
                channel=rng.choice(CHANNELS),
                queue=rng.choice(QUEUES),
                state=S.QUEUED if queued else S.NEW,
                queued_at=queued,
            )
            ids.append(i.id)
    for _ in range(250):
        iid = rng.choice(ids)
        op = rng.randrange(8)
        if op == 0:  # queued (or queued again, later) through the ORM
            async with db.transaction() as s:
                i = await s.get(Interaction, iid)
                assert i is not None
                i.state, i.queued_at = S.QUEUED, at(rng.uniform(0, 30))
                i.assigned_at = i.ended_at = None
        elif op == 1:  # answered, within or past the threshold (Core, the hot path's way)
            async with db.step() as c:
                i = await rows.interaction(c, iid, lock=True)
                base = i.queued_at or now
                await rows.set_interaction(
                    c,
                    i,
                    state=S.ASSIGNED,
                    assigned_at=base + timedelta(seconds=rng.choice([5, 19.5, 20, 45, 61])),
                )
        elif op == 2:  # closed
            async with db.step() as c:
                i = await rows.interaction(c, iid, lock=True)
                ended = (i.assigned_at or i.queued_at or now) + timedelta(
                    seconds=rng.uniform(1, 900)
                )
                await rows.set_interaction(c, i, state=S.CLOSED, ended_at=ended)
        elif op == 3:  # abandoned while waiting
            async with db.transaction() as s:
                i = await s.get(Interaction, iid)
                assert i is not None
                i.state, i.ended_at, i.assigned_at = S.ABANDONED, now, None
        elif op == 4:  # transferred to another queue
            async with db.step() as c:
                i = await rows.interaction(c, iid, lock=True)
                await rows.set_interaction(c, i, queue=rng.choice(QUEUES))
        elif op == 5:  # a queue's waiting work moved at once (the admin's queue delete)
            a, b = rng.sample(QUEUES, 2)
            async with db.transaction() as s:
                await s.execute(
                    update(Interaction)
                    .where(Interaction.queue == a, Interaction.state == S.QUEUED)
                    .values(queue=b)
                )
        elif op == 6:  # changes the figures do not depend on
            async with db.step() as c:
                i = await rows.interaction(c, iid, lock=True)
                await rows.set_interaction(c, i, state=S.OFFERED, priority=rng.randrange(5))
        elif rng.random() < 0.2:  # a record removed
            async with db.transaction() as s:
                await s.execute(delete(Interaction).where(Interaction.id == iid))
            ids.remove(iid)


@pytest.mark.parametrize("zone_name", ["Asia/Kathmandu", "America/New_York"])
async def test_the_kept_figures_equal_a_recount_after_a_random_day(
    db: Database, zone_name: str
) -> None:
    zone = ZoneInfo(zone_name)
    # 20 minutes after local midnight: the arrival window reaches back into yesterday and
    # starts inside a slot; the day's first slot is on the zone's own quarter hour.
    midnight = day_start(datetime(2026, 11, 25, 12, tzinfo=UTC), zone)
    now = midnight + timedelta(minutes=20, seconds=7)
    assert aligned(midnight)
    defs = {
        "default": QueueDef("default", sl_seconds=20),
        "billing": QueueDef("billing", sl_seconds=60),
    }
    counters = Counters(db)
    await counters.sync(defs, now, zone)
    await _random_day(db, random.Random(zone_name), now, await _customer(db))

    for at in (now, now - timedelta(minutes=25), now + timedelta(hours=6, minutes=3)):
        kept = await counters.today(at, zone)
        _same(kept, await today(db, defs, 20.0, at, zone))
    await counters.fold()  # the deltas moved into the slots: the same figures
    _same(await counters.today(now, zone), await today(db, defs, 20.0, now, zone))
    _same(await counters.today(at, zone), kept)
    # (The run did reach every figure today.)
    for figure in ("entered", "answered", "answered_in_sl", "abandoned", "handled"):
        assert sum(getattr(t, figure) for t in kept.values()) > 0, figure

    # A threshold changed: today is recounted with it, and the changes go on from there.
    slower = defs | {
        "tech": QueueDef("tech", sl_seconds=45),
        "default": QueueDef("default", sl_seconds=5),
    }
    assert await counters.sync(slower, now, zone)
    assert not await counters.sync(slower, now, zone)  # (nothing new: nothing done)
    await _random_day(db, random.Random(1), now, await _customer(db))
    _same(await counters.today(now, zone), await today(db, slower, 20.0, now, zone))
    async with db.read_step() as c:  # (and the deltas of the run were there to fold)
        assert await c.scalar(text("SELECT COUNT(*) FROM report_deltas")) > 0


async def test_yesterdays_last_hour_counts_in_the_arrivals_only(db: Database) -> None:
    now = datetime(2026, 11, 25, 0, 10, tzinfo=UTC)
    customer = await _customer(db)
    async with db.step() as c:
        await rows.insert_interaction(
            c, customer_id=customer, channel=Channel.CHAT, state=S.QUEUED,
            queued_at=now - timedelta(minutes=30),
        )  # fmt: skip
    kept = await Counters(db).today(now)
    assert kept == {("default", "chat"): Today(arrivals_per_hour=1.0)}
    _same(kept, await today(db, {}, 20.0, now))


async def test_the_slots_are_kept_in_the_changing_transaction(db: Database) -> None:
    """A step that rolls back leaves no count behind."""
    now = datetime(2026, 11, 25, 9, tzinfo=UTC)
    customer = await _customer(db)
    with pytest.raises(RuntimeError):
        async with db.step() as c:
            await rows.insert_interaction(
                c, customer_id=customer, channel=Channel.CHAT, state=S.QUEUED, queued_at=now
            )
            raise RuntimeError("refused after the write")
    assert await Counters(db).today(now) == {}
    async with db.read() as s:
        assert (await s.scalars(select(Interaction))).all() == []


async def test_the_triggers_are_in_place_at_the_newest_revision(db: Database) -> None:
    """A later migration that rebuilds ``interactions`` (SQLite's batch mode copies the
    table) would drop them silently, and today's figures would stop: caught here."""
    query = (
        "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
        "AND tgrelid = 'interactions'::regclass"
        if db.dialect == "postgresql"
        else "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'interactions'"
    )
    async with db.read_step() as c:
        names = {r[0] for r in await c.execute(text(query))}
    assert {"report_slots_on_insert", "report_slots_on_update", "report_slots_on_delete"} <= names


async def test_the_migration_counts_the_interactions_already_there(db: Database) -> None:
    cfg = alembic_config(db.url, db.schema)
    await asyncio.to_thread(command.downgrade, cfg, "0006")
    now = utcnow()
    # (All five queued today at whatever hour this runs: ten minutes apart, or closer just
    # after midnight, when forty minutes back would be yesterday.)
    step = min(timedelta(minutes=10), (now - day_start(now)) / 6)
    customer = await _customer(db)
    async with db.step() as c:  # (no triggers yet: nothing counts these as they are written)
        for n, (state, assigned) in enumerate(
            [(S.CLOSED, 5), (S.CLOSED, 50), (S.ABANDONED, None), (S.ASSIGNED, 1), (S.QUEUED, None)]
        ):
            queued = now - step * n - step / 10
            await rows.insert_interaction(
                c, customer_id=customer, channel=Channel.CHAT, state=state, queued_at=queued,
                assigned_at=None if assigned is None else queued + timedelta(seconds=assigned),
                ended_at=now if state in (S.CLOSED, S.ABANDONED) else None,
            )  # fmt: skip
    await asyncio.to_thread(command.upgrade, cfg, "head")
    kept = await Counters(db).today(now)
    _same(kept, await today(db, {}, 20.0, now))
    assert kept[("default", "chat")].entered == 5
