"""The paths that make no work: suppressed mail and delivery reports (bounces).

Both run inside the inbound step's transaction. A suppressed message that belongs to a
ticket is stored on it (visible, marked) and recorded as ticket.message_suppressed; no
reopen, no SLA clock, no acknowledgement; one that belongs to none creates nobody and
nothing but its event. A bounce becomes a system note on the ticket whose outbound
message it reports, flags the address undeliverable and shows that message failed.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from center.channels.email import events as ev
from center.channels.email import store
from center.channels.email.parse import ParsedEmail
from center.channels.email.suppress import Suppression
from center.interactions import rows
from center.outbox import set_delivery
from center.records import events
from center.records.enums import Direction
from center.records.models import Interaction
from center.tickets.events import Suppression as TicketSuppression

_ANY_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")


def chain(mail: ParsedEmail) -> list[str]:
    """The ids a message answers, newest first: In-Reply-To, then References backwards."""
    return list(dict.fromkeys([*mail.in_reply_to, *reversed(mail.references)]))[:200]


def ticket_reason(why: Suppression) -> TicketSuppression:
    return {Suppression.MAILING_LIST: TicketSuppression.BULK}.get(why, TicketSuppression(why.value))


async def latest_interaction(c: AsyncConnection, ticket_id: int) -> Interaction | None:
    t = rows.INTERACTIONS
    found = (
        await c.execute(
            select(t).where(t.c.ticket_id == ticket_id).order_by(t.c.id.desc()).limit(1)
        )
    ).first()
    return rows.as_interaction(found) if found else None


async def suppressed(
    svc: Any, c: AsyncConnection, inbound_id: int, mail: ParsedEmail, why: Suppression
) -> tuple[int | None, int | None]:
    """(ticket id, customer id) the suppressed message was recorded against."""
    sender = mail.from_.addr if mail.from_ else ""
    found = await store.ticket_for_ids(c, chain(mail))
    ticket_id = found[0] if found else None
    customer_id = None
    if ticket_id is not None:
        ticket = await svc.tickets.get(c, ticket_id)
        customer_id = ticket.customer_id
        i = await latest_interaction(c, ticket_id)
        if i is not None:
            body, meta = svc.content(mail)
            meta.update(inbound_id=inbound_id, suppressed=why.value)
            m = await rows.insert_message(c, i.id, Direction.INBOUND, body, meta=meta)
            await svc.tickets.customer_message(
                c,
                ticket_id,
                message_id=m.id,
                interaction_id=i.id,
                suppressed=ticket_reason(why),
                detail=why.value,
            )
    elif sender:
        # Only a customer we already know: automatic mail creates nobody.
        customer_id = await store.customer_for_email(c, sender)
    await events.write(
        c,
        ev.row(
            ev.Suppressed(
                inbound_id=inbound_id, reason=why.value, sender=sender, subject=mail.subject[:998]
            ),
            customer_id=customer_id,
            ticket_id=ticket_id,
        ),
    )
    return ticket_id, customer_id


async def bounce(svc: Any, c: AsyncConnection, inbound_id: int, mail: ParsedEmail) -> int | None:
    """The ticket a delivery report was noted on (None: none of our messages named)."""
    report = mail.report
    candidates = [report.original_message_id] if report and report.original_message_id else []
    candidates += chain(mail) + _ANY_ID.findall(mail.text)[:50]
    failed = list(report.recipients) if report else []
    if not failed and mail.headers.get("x-failed-recipients"):
        failed = [a.strip().lower() for a in mail.headers["x-failed-recipients"].split(",")]
    action = report.action if report else "failed"
    status = report.status if report else ""
    diagnostic = report.diagnostic if report else mail.subject[:300]
    why = f"{status} {diagnostic}".strip()
    found = await store.ticket_for_ids(
        c, list(dict.fromkeys(candidates)), direction=Direction.OUTBOUND
    )
    ticket_id, message_row_id, original = found if found else (None, None, None)
    if action == "failed":
        for addr in failed:
            await store.flag_undeliverable(c, addr, why)
    customer_id = None
    if ticket_id is not None:
        ticket = await svc.tickets.get(c, ticket_id)
        customer_id = ticket.customer_id
        if action == "failed":
            who = ", ".join(failed) or "the recipient"
            await svc.tickets.add_note(
                c, ticket_id, body=f"Delivery failed to {who}: {why}", author_id=None
            )
            if message_row_id is not None:
                await set_delivery(
                    c, message_row_id, {"status": "failed", "reason": f"bounced: {why}"}
                )
    await events.write(
        c,
        ev.row(
            ev.Bounced(
                inbound_id=inbound_id,
                action=action,
                recipients=failed,
                status=status,
                diagnostic=diagnostic,
                original_message_id=original,
                message_id=message_row_id,
            ),
            customer_id=customer_id,
            ticket_id=ticket_id,
        ),
    )
    return ticket_id
