"""New mail arriving together (the group commit): each message is stored as its own
ticket exactly once, with its customer's and its own events in order, and routed; a
sender met twice in one batch is one customer; a Message-ID met twice is stored once."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from center.appkeys import ROUTER
from center.channels.email.listener import Delivery
from center.channels.email.models import EmailInbound, InboundStatus
from center.records.enums import Channel, InteractionState
from center.records.models import Customer, Interaction, Ticket
from tests.channels.email import clients
from tests.channels.email.support import SUPPORT, deliver, email_app, inbound
from tests.tickets.support import timeline

NEW_CUSTOMER_NEW_TICKET = [
    "customer.created",
    "customer.identity_added",
    "ticket.created",
    "interaction.started",
    "ticket.interaction_attached",
    "ticket.customer_message",
    "message.received",
    "email.received",
    "interaction.queued",
]


async def test_mail_on_many_connections_at_once_each_becomes_one_queued_ticket(
    settings, db
) -> None:
    n = 16
    async with email_app(settings, db) as (server, _sink):
        await asyncio.gather(
            *(
                deliver(
                    server,
                    clients.gmail(
                        sender=f"c{k}@example.test",
                        name=f"Customer {k}",
                        subject=f"Order {k} never arrived",
                        message_id=f"<m{k}@gmail.test>",
                    ),
                    sender=f"c{k}@example.test",
                )
                for k in range(n)
            )
        )
        # Every 250 came after its commit: all is there, nothing to wait for.
        async with server.db.read() as s:
            ledger = (await s.execute(select(EmailInbound))).scalars().all()
            tickets = (await s.execute(select(Ticket))).scalars().all()
            interactions = (await s.execute(select(Interaction))).scalars().all()
        assert len(ledger) == n
        assert {r.status for r in ledger} == {InboundStatus.PROCESSED}
        assert len({r.ticket_id for r in ledger}) == n
        assert sorted(t.subject for t in tickets) == sorted(
            f"Order {k} never arrived" for k in range(n)
        )
        assert sorted(t.number for t in tickets) == sorted(t.id for t in tickets)
        assert len(interactions) == n
        assert {i.state for i in interactions} == {InteractionState.QUEUED}
        assert {i.ticket_id for i in interactions} == {t.id for t in tickets}
        waiting = await server.app[ROUTER].waiting("default", Channel.EMAIL)
        assert sorted(waiting) == sorted(i.id for i in interactions)
        for i in interactions:
            kinds = [kind for kind, _ in await timeline(server.db, i.customer_id)]
            assert kinds == NEW_CUSTOMER_NEW_TICKET


async def test_one_batch_one_customer_per_sender_and_a_repeated_message_id_once(
    settings, db
) -> None:
    async with email_app(settings, db) as (server, _sink):

        def smtp(raw: bytes, sender: str) -> Delivery:
            return Delivery(raw=raw, source="smtp", envelope_from=sender, envelope_to=(SUPPORT,))

        ann, bob = "ann@example.test", "bob@example.test"
        first = clients.gmail(sender=ann, subject="Broken lid", message_id="<a1@gmail.test>")
        second = clients.gmail(sender=ann, subject="Wrong size", message_id="<a2@gmail.test>")
        twice = clients.gmail(sender=bob, subject="Late parcel", message_id="<b1@gmail.test>")
        # Submitted in the same turn of the loop: they share one transaction.
        outcomes = await asyncio.gather(
            inbound(server).receive(smtp(first, ann)),
            inbound(server).receive(smtp(second, ann)),
            inbound(server).receive(smtp(twice, bob)),
            inbound(server).receive(smtp(twice, bob)),
        )
        assert [o.status for o in outcomes] == [
            InboundStatus.PROCESSED,
            InboundStatus.PROCESSED,
            InboundStatus.PROCESSED,
            InboundStatus.DUPLICATE,
        ]
        async with server.db.read() as s:
            customers = (await s.execute(select(Customer))).scalars().all()
            tickets = {t.id: t for t in (await s.execute(select(Ticket))).scalars().all()}
        assert len(customers) == 2
        assert (
            tickets[outcomes[0].ticket_id].customer_id == tickets[outcomes[1].ticket_id].customer_id
        )
        assert outcomes[0].ticket_id != outcomes[1].ticket_id
        assert len(tickets) == 3
        ann_id = tickets[outcomes[0].ticket_id].customer_id
        kinds = [kind for kind, _ in await timeline(server.db, ann_id)]
        # One customer.created for both of her messages, each message's events whole.
        assert kinds == NEW_CUSTOMER_NEW_TICKET + NEW_CUSTOMER_NEW_TICKET[2:]
        bob_id = tickets[outcomes[2].ticket_id].customer_id
        kinds = [kind for kind, _ in await timeline(server.db, bob_id)]
        assert kinds == [*NEW_CUSTOMER_NEW_TICKET, "email.duplicate"]
