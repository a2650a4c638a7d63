"""Mail that must make no work makes none: auto-replies, bounces, bulk and list mail, our
own messages coming back; none reopens a ticket or gets an acknowledgement."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from center.channels.email.models import EmailAddress, InboundStatus
from center.records.enums import Role, TicketStatus
from center.records.models import Interaction, Message, Ticket
from center.tickets.models import TicketNote
from center.tickets.service import Actor, TicketChanges
from center.tickets.web import TICKETS
from tests.channels.email import clients
from tests.channels.email.support import agent_reply, deliver, email_app, last_inbound
from tests.support import make_user
from tests.tickets.support import timeline

CUSTOMER = "ann.customer@gmail.test"


async def _open_ticket(server: Any, sink: Any, sent: int = 1) -> tuple[int, Any, int]:
    """A ticket from a customer's mail, answered by an agent and set pending."""
    await deliver(server, clients.gmail(sender=CUSTOMER), sender=CUSTOMER)
    row = await last_inbound(server)
    agent = await make_user(server.db, "bob", role=Role.SUPERVISOR, capacity={"email": 5})
    reply = await agent_reply(server, row.ticket_id, agent.id, "Could you send the order number?")
    await sink.wait(sent)
    async with server.db.step() as c:
        await server.app[TICKETS].update(
            c,
            row.ticket_id,
            TicketChanges(status=TicketStatus.PENDING),
            actor=Actor.agent(agent.id),
        )
    return row.ticket_id, reply, agent.id


async def _count(server: Any, model: Any) -> int:
    async with server.db.read() as s:
        return int(await s.scalar(select(func.count()).select_from(model)))


async def test_auto_reply_and_bulk_make_no_work(settings, db) -> None:
    async with email_app(settings, db, email_auto_ack=True) as (server, sink):
        ticket_id, reply, _ = await _open_ticket(server, sink, sent=2)
        acks = len(sink.received)  # the new ticket's acknowledgement and the reply
        tickets_before = await _count(server, Ticket)
        interactions_before = await _count(server, Interaction)
        ooo = (
            f"From: {CUSTOMER}\r\nTo: support@center.test\r\n"
            f"Subject: Automatic reply: {reply.meta['subject']}\r\n"
            "Auto-Submitted: auto-replied\r\n"
            f"In-Reply-To: {reply.meta['message_id_header']}\r\n"
            "Message-ID: <ooo-1@gmail.test>\r\n\r\nI am out of the office until Monday.\r\n"
        ).encode()
        await deliver(server, ooo, sender=CUSTOMER)
        row = await last_inbound(server)
        assert row.status == InboundStatus.SUPPRESSED and row.reason == "auto_reply"
        assert row.ticket_id == ticket_id
        bulk = (
            b"From: news@shop.test\r\nTo: support@center.test\r\nSubject: Our sale\r\n"
            b"Precedence: bulk\r\nList-Unsubscribe: <mailto:u@shop.test>\r\n\r\n50% off\r\n"
        )
        await deliver(server, bulk, sender="news@shop.test")
        assert (await last_inbound(server)).reason == "bulk"
        listed = (
            b"From: l@lists.test\r\nTo: support@center.test\r\n"
            b"List-Id: <dev.lists.test>\r\nSubject: x\r\n\r\nhi\r\n"
        )
        await deliver(server, listed, sender="l@lists.test")
        assert (await last_inbound(server)).reason == "mailing_list"
        # Our own message coming back in (a misconfigured forward loops it to us).
        looped = (
            "From: support@center.test\r\nTo: support@center.test\r\n"
            f"Subject: {reply.meta['subject']}\r\n"
            f"Message-ID: {reply.meta['message_id_header']}\r\n"
            "\r\nCould you send the order number?\r\n"
        ).encode()
        await deliver(server, looped, sender="support@center.test")
        assert (await last_inbound(server)).reason == "loop"

        async with server.db.read() as s:
            ticket = await s.get(Ticket, ticket_id)
        assert ticket.status is TicketStatus.PENDING  # not reopened
        assert await _count(server, Ticket) == tickets_before  # no ticket for the bulk mail
        assert await _count(server, Interaction) == interactions_before  # nothing to route
        assert len(sink.received) == acks  # no acknowledgement to any of them
        events = await timeline(server.db, ticket.customer_id)
        suppressed = [d for t, d in events if t == "email.suppressed"]
        assert [d["reason"] for d in suppressed] == ["auto_reply"]
        assert [t for t, _ in events].count("email.auto_ack_queued") == 1  # the new ticket's
        assert any(
            t == "ticket.message_suppressed" and d["reason"] == "auto_reply" for t, d in events
        )


async def test_bounce_notes_the_ticket_and_flags_the_address(settings, db) -> None:
    async with email_app(settings, db) as (server, sink):
        ticket_id, reply, _ = await _open_ticket(server, sink)
        dsn = clients.postfix_dsn(
            original_message_id=reply.meta["message_id_header"], failed=CUSTOMER
        )
        await deliver(server, dsn, sender="")
        row = await last_inbound(server)
        assert row.status == InboundStatus.SUPPRESSED and row.reason == "bounce"
        async with server.db.read() as s:
            ticket = await s.get(Ticket, ticket_id)
            note = await s.scalar(select(TicketNote).where(TicketNote.ticket_id == ticket_id))
            flagged = await s.get(EmailAddress, CUSTOMER)
            sent = await s.get(Message, reply.id)
        assert ticket.status is TicketStatus.PENDING
        assert note is not None and note.author_id is None
        assert CUSTOMER in note.body and "5.1.1" in note.body
        assert flagged.undeliverable and "User unknown" in flagged.reason
        assert sent.meta["delivery"]["status"] == "failed"
        assert "bounced" in sent.meta["delivery"]["reason"]
        types = [t for t, _ in await timeline(server.db, ticket.customer_id)]
        assert "email.bounced" in types and "ticket.note_added" in types


async def test_auto_acknowledgement_once_per_thread_to_from_and_capped(settings, db) -> None:
    async with email_app(settings, db, email_auto_ack=True, email_auto_ack_per_hour=2) as (
        server,
        sink,
    ):
        # Envelope sender (Return-Path) differs from From: the ack goes to From.
        await deliver(server, clients.gmail(sender=CUSTOMER), sender="bounces+x@gmail.test")
        [ack] = await sink.wait(1)
        assert ack.rcpt_tos == [CUSTOMER]
        assert ack.message["Auto-Submitted"] == "auto-replied"
        first = await last_inbound(server)
        assert f"[#{first.ticket_id}]" in ack.message["Subject"]
        # A reply on the same thread: no second acknowledgement.
        await deliver(
            server,
            clients.gmail(
                sender=CUSTOMER,
                message_id="<r2@gmail.test>",
                in_reply_to=ack.message["Message-ID"],
                references=[ack.message["Message-ID"]],
            ),
            sender=CUSTOMER,
        )
        assert (await last_inbound(server)).ticket_id == first.ticket_id
        # New tickets from the same address: the cap (2 an hour) holds back the third.
        for n in (3, 4):
            await deliver(
                server, clients.gmail(sender=CUSTOMER, message_id=f"<n{n}@g>"), sender=CUSTOMER
            )
        await sink.wait(2)
        async with server.db.read() as s:
            customer = (await s.get(Ticket, first.ticket_id)).customer_id
        events = await timeline(server.db, customer)
        assert [t for t, _ in events].count("email.auto_ack_queued") == 2
        assert [d["reason"] for t, d in events if t == "email.auto_ack_skipped"] == ["rate_limited"]
        assert len(sink.received) == 2
