"""The automatic acknowledgement of a new ticket (RFC 3834): to the From address (never
Return-Path), never to automatic mail, a null sender or ourselves, at most one per thread
and ``CENTER_EMAIL_AUTO_ACK_PER_HOUR`` per address (mail loops). Runs in the inbound step's
transaction; the outbox sends it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from center.channels.email import events as ev
from center.channels.email import store, tokens
from center.channels.email.parse import ParsedEmail
from center.channels.email.suppress import may_auto_acknowledge
from center.records import events
from center.records.base import utcnow
from center.records.models import Interaction


async def acknowledge(
    svc: Any, c: AsyncConnection, ticket: Any, mail: ParsedEmail, i: Interaction, null_sender: bool
) -> bool:
    to = mail.from_.addr if mail.from_ else ""  # From, never Return-Path
    reason = None
    if not may_auto_acknowledge(mail, null_sender=null_sender):
        reason = "automatic_sender"
    elif tokens.base_address(to, svc.support) is not None:
        reason = "own_address"  # never acknowledge ourselves (a loop)
    else:
        flagged = await store.address(c, to)
        if flagged is not None and flagged.undeliverable:
            reason = "undeliverable"
        elif not await store.take_ack_slot(
            c, to, cap=svc.settings.email_auto_ack_per_hour, now=utcnow()
        ):
            reason = "rate_limited"
    if reason is None and not await store.mark_acknowledged(c, ticket.id):
        reason = "already_acknowledged"
    if reason is not None:
        await events.write(c, ev.row(ev.AckSkipped(to=to, reason=reason), interaction=i))
        return False
    m = await svc.outbound.queue_acknowledgement(c, ticket, mail, i)
    await events.write(c, ev.row(ev.AckQueued(to=to, message_id=m.id), interaction=i))
    return True
