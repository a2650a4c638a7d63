"""SLA clocks in business hours on a fake clock: nights, weekends, holidays, DST; and the
SLA loop turning due warnings and breaches into timeline events exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select

from center.records.enums import Channel, Direction, TicketStatus
from center.records.models import Ticket
from center.tickets.events import TicketPriority
from center.tickets.models import SlaPolicy
from center.tickets.monitor import SlaMonitor
from center.tickets.service import Actor, TicketChanges, TicketService
from center.tickets.sla import BusinessCalendar, CalendarError
from tests.support import make_user
from tests.tickets.support import FakeClock, make_customer, make_interaction, make_message, timeline

NY = ZoneInfo("America/New_York")
WEEKDAYS = BusinessCalendar.parse("mon-fri 09:00-17:00", "2026-12-25", NY)


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY).astimezone(UTC)


def test_a_target_waits_through_the_night() -> None:
    # Tuesday 16:30 + 1 business hour: 30 minutes today, 30 tomorrow from opening.
    assert WEEKDAYS.add(ny(2026, 3, 3, 16, 30), 60) == ny(2026, 3, 4, 9, 30)
    # Before opening, the clock starts at 09:00.
    assert WEEKDAYS.add(ny(2026, 3, 4, 6, 0), 30) == ny(2026, 3, 4, 9, 30)


def test_a_target_skips_the_weekend_and_holidays() -> None:
    assert WEEKDAYS.add(ny(2026, 2, 27, 16, 0), 120) == ny(2026, 3, 2, 10, 0)  # Fri -> Mon
    # Christmas (a Friday) is a holiday: Thursday 16:00 + 2 h -> Monday 10:00.
    assert WEEKDAYS.add(ny(2026, 12, 24, 16, 0), 120) == ny(2026, 12, 28, 10, 0)
    assert WEEKDAYS.between(ny(2026, 12, 24, 16, 0), ny(2026, 12, 28, 10, 0)) == timedelta(hours=2)


def test_opening_hours_stay_local_across_dst_changes() -> None:
    # Clocks go forward on Sunday 8 March 2026 in New York: Friday 16:00 EST + 2 h is
    # Monday 10:00 EDT, which is 14:00 UTC (a wall-clock sum would say 15:00).
    due = WEEKDAYS.add(ny(2026, 3, 6, 16, 0), 120)
    assert due == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
    # And back on Sunday 1 November: Friday 16:00 EDT + 2 h -> Monday 10:00 EST = 15:00 UTC.
    assert WEEKDAYS.add(ny(2026, 10, 30, 16, 0), 120) == datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    # Round the clock, a day of 23 hours counts 23 hours: 24 business hours from Saturday
    # noon EST is Sunday 13:00 EDT (24 real hours later).
    always = BusinessCalendar.parse("24x7", "", NY)
    start = ny(2026, 3, 7, 12, 0)
    assert always.add(start, 24 * 60) == start + timedelta(hours=24)
    assert always.add(start, 24 * 60).astimezone(NY).hour == 13


def test_calendar_mistakes_are_refused() -> None:
    for hours in ("mon-fri 17:00-09:00", "funday 09:00-10:00", "mon 9-5", "mon 25:00-26:00", ""):
        with pytest.raises(CalendarError):
            BusinessCalendar.parse(hours)
    with pytest.raises(CalendarError):
        BusinessCalendar.parse("mon 09:00-10:00", "25/12/2026")
    split = BusinessCalendar.parse("mon-fri 09:00-12:00 13:00-17:00; sat 10:00-12:00", "", NY)
    assert split.add(ny(2026, 3, 2, 11, 30), 60) == ny(2026, 3, 2, 13, 30)  # lunch skipped
    assert split.add(ny(2026, 3, 6, 16, 30), 60) == ny(2026, 3, 7, 10, 30)  # Saturday morning


async def _policy(db, **kw) -> None:
    values = dict(
        name="standard", queue=None, priority=None, first_response_minutes=60,
        next_response_minutes=120, resolution_minutes=8 * 60, warn_minutes=15,
        created_at=datetime.now(UTC),
    )  # fmt: skip
    async with db.step() as c:
        await c.execute(insert(SlaPolicy.__table__).values({**values, **kw}))


async def test_warning_then_breach_on_the_timeline_once_each(db) -> None:
    await _policy(db)
    clock = FakeClock(ny(2026, 3, 2, 16, 30))  # Monday 16:30: due Tuesday 09:30
    svc = TicketService(WEEKDAYS, clock)
    monitor = SlaMonitor(db, clock=clock)
    customer = await make_customer(db)
    async with db.step() as c:
        t = await svc.create(c, customer_id=customer, subject="Refund", channel=Channel.EMAIL)
    assert t.first_response_due_at == ny(2026, 3, 3, 9, 30)
    assert t.sla_check_at == ny(2026, 3, 3, 9, 15)  # the warning 15 business minutes before
    clock.at = ny(2026, 3, 2, 23, 0)  # the night: nothing is due
    assert await monitor.check() == []
    clock.at = ny(2026, 3, 3, 9, 16)
    said = await monitor.check()
    assert [(s["target"], s["kind"]) for s in said] == [("first_response", "warning")]
    assert await monitor.check() == []  # said once
    clock.at = ny(2026, 3, 3, 9, 31)
    said = await monitor.check()
    assert [(s["target"], s["kind"]) for s in said] == [("first_response", "breach")]
    assert await monitor.check() == []
    got = [(x, d.get("target")) for x, d in await timeline(db, customer) if "sla" in x]
    assert got == [
        ("ticket.sla_set", "first_response"),
        ("ticket.sla_set", "resolution"),
        ("ticket.sla_warning", "first_response"),
        ("ticket.sla_breached", "first_response"),
    ]


async def test_reply_in_time_then_next_response_and_resolution(db) -> None:
    await _policy(db)
    clock = FakeClock(ny(2026, 3, 6, 16, 0))  # Friday 16:00, a DST weekend ahead
    svc = TicketService(WEEKDAYS, clock)
    monitor = SlaMonitor(db, clock=clock)
    agent = await make_user(db, "ann")
    customer = await make_customer(db)
    interaction = await make_interaction(db, customer, Channel.EMAIL, agent_id=agent.id)
    async with db.step() as c:
        t = await svc.create(
            c, customer_id=customer, subject="Where is it", interaction_id=interaction
        )
    # Resolution: 8 business hours: 1 h on Friday, 7 h on Monday (EDT by then).
    assert t.resolution_due_at == ny(2026, 3, 9, 16, 0)
    clock.at = ny(2026, 3, 6, 16, 40)
    reply = await make_message(db, interaction, Direction.OUTBOUND, "Looking", author_id=agent.id)
    async with db.step() as c:
        t = await svc.agent_replied(c, t.id, message_id=reply, agent_id=agent.id)
    met = [d for x, d in await timeline(db, customer) if x == "ticket.sla_met"]
    due = ny(2026, 3, 6, 17, 0).isoformat()  # 60 business minutes from Friday 16:00
    assert met == [{"target": "first_response", "due_at": due, "in_time": True}]
    # The customer answers on Saturday: the next response is due Monday 11:00 EDT.
    clock.at = ny(2026, 3, 7, 10, 0)
    answer = await make_message(db, interaction, body="Still nothing")
    async with db.step() as c:
        t = await svc.customer_message(c, t.id, message_id=answer, interaction_id=interaction)
    assert t.next_response_due_at == ny(2026, 3, 9, 11, 0)
    clock.at = ny(2026, 3, 9, 10, 50)
    assert [s["kind"] for s in await monitor.check()] == ["warning"]
    async with db.step() as c:
        t = await svc.update(c, t.id, TicketChanges(status=TicketStatus.SOLVED), actor=Actor())
    assert t.next_response_due_at is None
    states = {k: v["state"] for k, v in t.sla_flags.items()}
    assert states == {"first_response": "met", "next_response": "met", "resolution": "met"}
    clock.at = ny(2026, 3, 20, 12, 0)
    assert await monitor.check() == []  # a solved ticket is not watched


async def test_a_priority_change_re_times_from_its_policy(db) -> None:
    await _policy(db)
    await _policy(db, name="urgent", priority=int(TicketPriority.URGENT), first_response_minutes=15,
                  resolution_minutes=120, warn_minutes=0)  # fmt: skip
    clock = FakeClock(ny(2026, 3, 3, 10, 0))
    svc = TicketService(WEEKDAYS, clock)
    customer = await make_customer(db)
    async with db.step() as c:
        t = await svc.create(c, customer_id=customer, subject="Down")
        clock.at = ny(2026, 3, 3, 10, 5)
        t = await svc.update(c, t.id, TicketChanges(priority=TicketPriority.URGENT), actor=Actor())
    # From the ticket's creation, by the urgent policy.
    assert t.first_response_due_at == ny(2026, 3, 3, 10, 15)
    assert t.resolution_due_at == ny(2026, 3, 3, 12, 0)
    async with db.read_step() as c:
        stored = await c.scalar(select(Ticket.sla_policy_id).where(Ticket.id == t.id))
    assert stored == t.sla_policy_id is not None


async def test_pending_pauses_the_resolution_clock(db) -> None:
    await _policy(db, first_response_minutes=None, resolution_minutes=4 * 60, warn_minutes=30)
    clock = FakeClock(ny(2026, 3, 2, 9, 0))  # Monday 09:00: resolution due 13:00
    svc = TicketService(WEEKDAYS, clock)
    monitor = SlaMonitor(db, clock=clock)
    customer = await make_customer(db)
    interaction = await make_interaction(db, customer, Channel.EMAIL)
    async with db.step() as c:
        t = await svc.create(c, customer_id=customer, subject="Invoice", interaction_id=interaction)
    assert t.resolution_due_at == ny(2026, 3, 2, 13, 0)
    clock.at = ny(2026, 3, 2, 10, 0)  # 3 business hours left; now waiting on the customer
    async with db.step() as c:
        t = await svc.update(c, t.id, TicketChanges(status=TicketStatus.PENDING), actor=Actor())
    assert t.resolution_due_at is None and t.sla_flags["resolution"]["state"] == "paused"
    clock.at = ny(2026, 3, 3, 16, 0)  # the next day: no warning, no breach while pending
    assert await monitor.check() == []
    answer = await make_message(db, interaction, body="Here is the invoice number")
    async with db.step() as c:
        t = await svc.customer_message(c, t.id, message_id=answer, interaction_id=interaction)
    # Resumed with 3 h left: 1 h on Tuesday, 2 h from Wednesday's opening.
    assert t.status is TicketStatus.OPEN
    assert t.resolution_due_at == ny(2026, 3, 4, 11, 0)
    assert t.sla_flags["resolution"]["state"] == "running"
    clock.at = ny(2026, 3, 4, 10, 31)
    assert [(s["target"], s["kind"]) for s in await monitor.check()] == [("resolution", "warning")]
    async with db.step() as c:
        t = await svc.update(c, t.id, TicketChanges(status=TicketStatus.SOLVED), actor=Actor())
    assert t.sla_flags["resolution"]["state"] == "met"
    said = [(x, d) for x, d in await timeline(db, customer) if x.startswith("ticket.sla")]
    assert said[1] == ("ticket.sla_paused", {"target": "resolution", "left_s": 3 * 3600.0})
    assert (
        said[2][0] == "ticket.sla_set" and said[2][1]["due_at"] == ny(2026, 3, 4, 11, 0).isoformat()
    )


async def test_solved_tickets_close_after_the_set_days(db) -> None:
    clock = FakeClock(ny(2026, 3, 2, 9, 0))
    svc = TicketService(WEEKDAYS, clock)
    monitor = SlaMonitor(db, clock=clock, close_after=timedelta(days=4))
    customer = await make_customer(db)
    async with db.step() as c:
        t = await svc.create(c, customer_id=customer, subject="Thanks")
        await svc.update(c, t.id, TicketChanges(status=TicketStatus.SOLVED), actor=Actor())
    clock.advance(days=3, hours=23)
    assert await monitor.close_solved() == 0
    clock.advance(hours=1)
    assert await monitor.close_solved() == 1
    async with db.read_step() as c:
        t = await svc.get(c, t.id)
    assert t.status is TicketStatus.CLOSED and t.closed_at == clock.at
    changes = [d for x, d in await timeline(db, customer) if x == "ticket.status_changed"]
    assert changes[-1] == {"old": "solved", "new": "closed", "reason": "auto_close"}
