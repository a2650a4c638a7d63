"""The ticket service on a real database: status flow, reopen, suppression, follow-ups,
attaching interactions of any channel, notes, and each change's timeline event."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select

from center.records.enums import Channel, Direction, TicketStatus
from center.records.models import Interaction
from center.tickets.events import Suppression, TicketPriority
from center.tickets.models import SlaPolicy
from center.tickets.service import Actor, TicketChanges, TicketError, TicketService
from center.tickets.sla import BusinessCalendar
from tests.support import make_user
from tests.tickets.support import (
    FakeClock,
    make_customer,
    make_interaction,
    make_message,
    timeline,
)

S = TicketStatus


def service(clock: FakeClock | None = None) -> TicketService:
    return TicketService(BusinessCalendar.parse("24x7"), clock or FakeClock())


async def _ticket(db, svc, channel=Channel.EMAIL):
    customer = await make_customer(db)
    interaction = await make_interaction(db, customer, channel)
    async with db.step() as c:
        t = await svc.create(
            c, customer_id=customer, subject="Printer on fire", channel=channel,
            interaction_id=interaction,
        )  # fmt: skip
    return customer, interaction, t


async def test_create_numbers_the_ticket_and_attaches_its_interaction(db) -> None:
    svc = service()
    customer, interaction, t = await _ticket(db, svc)
    assert t.number == t.id and t.status is S.OPEN and t.queue == "default"
    async with db.read_step() as c:
        assert (
            await c.scalar(select(Interaction.ticket_id).where(Interaction.id == interaction))
            == t.id
        )
        assert (await svc.by_number(c, t.number)).id == t.id
    types = [x for x, _ in await timeline(db, customer)]
    assert types == ["ticket.created", "ticket.interaction_attached"]


async def test_status_flow_and_reopen_on_customer_reply(db) -> None:
    svc = service()
    customer, interaction, t = await _ticket(db, svc)
    agent = Actor.agent((await make_user(db, "ann")).id)
    async with db.step() as c:
        t = await svc.update(c, t.id, TicketChanges(status=S.PENDING), actor=agent)
    assert t.status is S.PENDING
    m = await make_message(db, interaction)
    async with db.step() as c:
        t = await svc.customer_message(c, t.id, message_id=m, interaction_id=interaction)
    assert t.status is S.OPEN  # pending means waiting on the customer: back to open
    async with db.step() as c:
        t = await svc.update(c, t.id, TicketChanges(status=S.SOLVED), actor=agent)
    assert t.status is S.SOLVED and t.solved_at is not None
    m2 = await make_message(db, interaction)
    async with db.step() as c:
        t = await svc.customer_message(c, t.id, message_id=m2, interaction_id=interaction)
    assert t.status is S.OPEN and t.solved_at is None
    changes = [d for x, d in await timeline(db, customer) if x == "ticket.status_changed"]
    assert [(d["old"], d["new"], d["reason"]) for d in changes] == [
        ("open", "pending", "agent"),
        ("pending", "open", "customer_reply"),
        ("open", "solved", "agent"),
        ("solved", "open", "customer_reply"),
    ]


async def test_suppressed_mail_neither_reopens_nor_touches_the_sla(db) -> None:
    svc = service()
    customer, interaction, t = await _ticket(db, svc)
    async with db.step() as c:
        t = await svc.update(c, t.id, TicketChanges(status=S.SOLVED), actor=Actor())
    for reason in Suppression:
        m = await make_message(db, interaction, body="I am out of office")
        async with db.step() as c:
            t = await svc.customer_message(
                c, t.id, message_id=m, interaction_id=interaction, suppressed=reason,
                detail="Auto-Submitted: auto-replied",
            )  # fmt: skip
        assert t.status is S.SOLVED
    got = [d["reason"] for x, d in await timeline(db, customer) if x == "ticket.message_suppressed"]
    assert got == [r.value for r in Suppression]


async def test_a_reply_to_a_closed_ticket_opens_a_follow_up(db) -> None:
    svc = service()
    _customer, interaction, t = await _ticket(db, svc)
    async with db.step() as c:
        await svc.update(c, t.id, TicketChanges(status=S.SOLVED), actor=Actor())
        await svc.update(c, t.id, TicketChanges(status=S.CLOSED), actor=Actor())
    with pytest.raises(TicketError) as refused:
        async with db.step() as c:
            await svc.update(c, t.id, TicketChanges(status=S.OPEN), actor=Actor())
    assert refused.value.code == "conflict"
    m = await make_message(db, interaction)
    async with db.step() as c:
        follow = await svc.customer_message(c, t.id, message_id=m, interaction_id=interaction)
        old = await svc.get(c, t.id)
    assert follow.id != t.id and follow.follow_up_of_id == t.id and follow.status is S.OPEN
    assert old.status is S.CLOSED
    async with db.read_step() as c:
        moved = await c.scalar(select(Interaction.ticket_id).where(Interaction.id == interaction))
    assert moved == follow.id


async def test_one_ticket_holds_interactions_of_any_channel(db) -> None:
    svc = service()
    customer, _email, t = await _ticket(db, svc)
    chat = await make_interaction(db, customer, Channel.CHAT)
    call = await make_interaction(db, customer, Channel.VOICE)
    stranger = await make_interaction(db, await make_customer(db, "Eve"), Channel.CHAT)
    async with db.step() as c:
        await svc.attach(c, t.id, chat, actor=Actor())
        await svc.attach(c, t.id, call, actor=Actor())
    with pytest.raises(TicketError):
        async with db.step() as c:
            await svc.attach(c, t.id, stranger, actor=Actor())
    async with db.read_step() as c:
        on_ticket = (
            await c.execute(select(Interaction.channel).where(Interaction.ticket_id == t.id))
        ).scalars()
        assert sorted(on_ticket) == ["chat", "email", "voice"]
    # A ticket opened for a phone caller from their call.
    other_call = await make_interaction(db, customer, Channel.VOICE)
    async with db.step() as c:
        opened = await svc.open_for_interaction(c, other_call, subject="Called about billing")
    assert opened.channel is Channel.VOICE and opened.customer_id == customer


async def test_patch_fields_and_notes_each_leave_an_event(db) -> None:
    svc = service()
    customer, _i, t = await _ticket(db, svc)
    async with db.step() as c:
        t = await svc.update(
            c, t.id,
            TicketChanges(priority=TicketPriority.URGENT, queue="billing", tags=("vip", "fire")),
            actor=Actor(),
        )  # fmt: skip
        note = await svc.add_note(c, t.id, body="Customer is calm", author_id=None)
    assert (t.priority, t.queue, t.tags) == (2, "billing", ["fire", "vip"])
    assert note["body"] == "Customer is calm"
    updated = [d["field"] for x, d in await timeline(db, customer) if x == "ticket.updated"]
    assert sorted(updated) == ["priority", "queue", "tags"]
    assert "ticket.note_added" in [x for x, _ in await timeline(db, customer)]


async def test_agent_reply_is_recorded(db) -> None:
    svc = service()
    customer, interaction, t = await _ticket(db, svc)
    agent = await make_user(db, "ann")
    m = await make_message(db, interaction, Direction.OUTBOUND, "On it", author_id=agent.id)
    async with db.step() as c:
        await c.execute(
            insert(SlaPolicy.__table__).values(
                name="default", first_response_minutes=60, warn_minutes=0,
                created_at=t.created_at,
            )
        )  # fmt: skip
        t = await svc.agent_replied(c, t.id, message_id=m, agent_id=agent.id)
    assert t.first_responded_at is not None
    assert "ticket.replied" in [x for x, _ in await timeline(db, customer)]
