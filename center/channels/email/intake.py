"""Storing inbound mail on tickets: one message, or many in one transaction.

What a message that makes work causes, once its customer is known and its thread looked
up: a new ticket (SLA clocks, email thread and reply token) or the existing ticket's
change, the queued email interaction (a new one unless the ticket's is still open), the
message, its attachments, the Message-ID index, the participants, every event and the
ledger row's outcome. Each of those is one statement for all the messages given
(multi-row inserts in the messages' order), so a batch of N costs about the statements of
one message; each message's events are still written in the transaction of its change,
in their own order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from center.channels.email import events as ev
from center.channels.email import store, tokens
from center.channels.email.acks import acknowledge
from center.channels.email.listener import Delivery
from center.channels.email.models import InboundStatus
from center.channels.email.parse import ParsedEmail
from center.channels.email.sanitize import inline_images
from center.interactions import rows
from center.records import events
from center.records.base import utcnow
from center.records.enums import ActorKind, Channel, Direction, InteractionState
from center.records.models import Interaction, Message
from center.tickets import events as te
from center.tickets.service import NewTicket


@dataclass(frozen=True, slots=True)
class Outcome:
    inbound_id: int
    status: InboundStatus
    ticket_id: int | None = None
    message_id: int | None = None
    reason: str | None = None
    # After the commit: route this interaction / tell its agent about this message.
    route: Interaction | None = None
    notify: tuple[Interaction, Message] | None = None
    wake_outbox: bool = False


@dataclass(slots=True)
class Arrival:
    """One stored (ledger) message whose customer is known, with the ticket it threads
    into (None: it opens one)."""

    inbound_id: int
    d: Delivery
    mail: ParsedEmail
    customer_id: int
    ticket: Any = None
    how: str = "new_ticket"
    refused: bool = False
    null_sender: bool = False
    first: list[dict[str, Any]] = field(default_factory=list)  # the new customer's events


async def store_arrivals(svc: Any, c: AsyncConnection, arrivals: list[Arrival]) -> list[Outcome]:
    """Everything the arrivals cause, in the caller's transaction (see the module)."""
    fresh = [k for k, a in enumerate(arrivals) if a.ticket is None]
    opened = await svc.tickets.new_many(
        c,
        [
            NewTicket(
                customer_id=arrivals[k].customer_id,
                subject=arrivals[k].mail.subject[:255] or "(no subject)",
                channel=Channel.EMAIL,
            )
            for k in fresh
        ],
    )
    created: dict[int, list[dict[str, Any]]] = {}
    for k, (ticket, ticket_rows) in zip(fresh, opened, strict=True):
        arrivals[k].ticket, created[k] = ticket, ticket_rows
    if fresh:
        await store.add_threads(c, [_thread(svc, arrivals[k]) for k in fresh])
    # The ticket's open email interaction, else a new queued one (routed after commit).
    found: list[Interaction | None] = [
        None if k in created else await svc._open_interaction(c, a.ticket.id)
        for k, a in enumerate(arrivals)
    ]
    routed = [k for k, i in enumerate(found) if i is None]
    now = utcnow()
    made = await rows.insert_interactions(c, [_interaction(arrivals[k], now) for k in routed])
    for k, i in zip(routed, made, strict=True):
        found[k] = i
    interactions: list[Interaction] = [i for i in found if i is not None]
    contents = [svc.content(a.mail) for a in arrivals]
    messages = await rows.insert_messages(
        c,
        [
            rows.message_values(
                i.id, Direction.INBOUND, body, meta={**meta, "inbound_id": a.inbound_id}
            )
            for a, i, (body, meta) in zip(arrivals, interactions, contents, strict=True)
        ],
    )
    # Mail from an address flagged undeliverable (a bounce) proves it works again.
    cleared = await store.clear_undeliverable(
        c, (a.mail.from_.addr for a in arrivals if a.mail.from_)
    )
    timeline: list[dict[str, Any]] = []
    for k, (a, i, m) in enumerate(zip(arrivals, interactions, messages, strict=True)):
        changes = await _changes(svc, c, a, i, m, new=k in created, routed=k in routed)
        timeline += [*a.first, *created.get(k, []), *changes]
        if a.mail.from_ and a.mail.from_.addr in cleared:
            cleared.discard(a.mail.from_.addr)
            deliverable = ev.Deliverable(address=a.mail.from_.addr, by="mail_received")
            timeline.append(ev.row(deliverable, interaction=i, actor_kind=ActorKind.CUSTOMER))
    await store.index_ids(
        c,
        [
            store.id_row(
                a.mail.message_id,
                ticket_id=a.ticket.id,
                message_row_id=m.id,
                direction=Direction.INBOUND,
            )
            for a, m in zip(arrivals, messages, strict=True)
            if a.mail.message_id
        ],
    )
    await store.add_participants(
        c,
        [
            row
            for a in arrivals
            for row in store.participant_rows(
                a.ticket.id,
                [p for p in a.mail.participants if tokens.base_address(p, svc.support) is None],
            )
        ],
    )
    await events.write(c, *timeline)
    acked = [
        bool(k in created and svc.settings.email_auto_ack)
        and await acknowledge(svc, c, a.ticket, a.mail, i, a.null_sender)
        for k, (a, i) in enumerate(zip(arrivals, interactions, strict=True))
    ]
    await store.set_inbounds(
        c,
        [
            {
                "b_id": a.inbound_id,
                "status": InboundStatus.PROCESSED,
                "ticket_id": a.ticket.id,
                "message_row_id": m.id,
            }
            for a, m in zip(arrivals, messages, strict=True)
        ],
    )
    return [
        Outcome(
            a.inbound_id,
            InboundStatus.PROCESSED,
            a.ticket.id,
            m.id,
            route=i if k in routed else None,
            notify=None if k in routed else (i, m),
            wake_outbox=acked[k],
        )
        for k, (a, i, m) in enumerate(zip(arrivals, interactions, messages, strict=True))
    ]


def _thread(svc: Any, a: Arrival) -> dict[str, Any]:
    return {
        "ticket_id": a.ticket.id,
        "token": tokens.new_token(),
        "support_address": svc._support_address(a.mail, list(a.d.envelope_to)),
        "subject": a.mail.subject,
    }


def _interaction(a: Arrival, now: Any) -> dict[str, Any]:
    return {
        "customer_id": a.customer_id,
        "channel": Channel.EMAIL,
        "state": InteractionState.QUEUED,
        "queue": "default",
        "priority": 0,
        "subject": a.mail.subject[:255] or None,
        "external_ref": (a.mail.message_id or "")[:255] or None,
        "ticket_id": a.ticket.id,
        "queued_at": now,
    }


async def _inline_images(c: AsyncConnection, m: Message, by_cid: dict[str, int]) -> None:
    """The sanitised HTML's ``cid:`` images pointed at their stored attachments (the
    agent-only ``/api/attachments/{id}``): shown at once, being part of the message, while
    remote images stay parked. One statement, only for mail with inline images."""
    urls = {cid: f"/api/attachments/{aid}" for cid, aid in by_cid.items()}
    meta = dict(m.meta)
    for key in ("html", "html_reply"):
        if meta.get(key):
            meta[key] = inline_images(meta[key], urls)
    if meta != m.meta:
        m.meta = meta
        await rows.set_message_meta(c, m.id, meta)


async def _changes(
    svc: Any,
    c: AsyncConnection,
    a: Arrival,
    i: Interaction,
    m: Message,
    *,
    new: bool,
    routed: bool,
) -> list[dict[str, Any]]:
    """One message's attachments and ticket change; the rows of its events, in order
    (the customer's and the new ticket's come before them: the caller's)."""
    stored, omitted, by_cid = await svc._attachments(c, m.id, a.mail)
    if by_cid and any(m.meta.get(k) for k in ("html", "html_reply")):
        await _inline_images(c, m, by_cid)
    out: list[dict[str, Any]] = []
    if routed:
        out += [
            events.row(
                events.InteractionStarted(channel=Channel.EMAIL.value),
                interaction=i,
                actor_kind=ActorKind.CUSTOMER,
            ),
            te.ticket_row(
                te.InteractionAttached(interaction_id=i.id, channel=Channel.EMAIL.value),
                customer_id=a.customer_id,
                ticket_id=a.ticket.id,
                interaction_id=i.id,
            ),
        ]
    if new:
        # A new open ticket's first message: no status or clock to change.
        out.append(
            te.ticket_row(
                te.CustomerMessage(message_id=m.id, reopened=False),
                customer_id=a.customer_id,
                ticket_id=a.ticket.id,
                interaction_id=i.id,
                actor_kind=ActorKind.CUSTOMER,
            )
        )
    else:
        # (A closed ticket answers with a follow-up ticket, the interaction moved to it.)
        a.ticket = await svc.tickets.customer_message(
            c, a.ticket.id, message_id=m.id, interaction_id=i.id
        )
        i.ticket_id = a.ticket.id
    out += [
        events.row(
            events.MessageReceived(message_id=m.id, body=m.body[:2000]),
            interaction=i,
            actor_kind=ActorKind.CUSTOMER,
        ),
        ev.row(
            ev.Received(
                inbound_id=a.inbound_id,
                message_id=m.id,
                message_id_header=a.mail.message_id,
                subject=a.mail.subject[:998],
                threaded_by=a.how,
                token_refused=a.refused,
                attachments=stored,
                attachments_omitted=omitted,
            ),
            interaction=i,
            actor_kind=ActorKind.CUSTOMER,
        ),
    ]
    if routed:
        out.append(events.row(events.Queued(queue=i.queue, priority=i.priority), interaction=i))
    return out
