"""Replies on a ticket opened from an SMS conversation leave as texts (tickets' Replier).

The reply goes to the number of the ticket's newest SMS interaction, as a Message on that
interaction (``message.sent`` on the timeline) with its outbox row, in the REST handler's
transaction; an opted-out number or a text past Twilio's limit is refused (409).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from center.channels.sms import store
from center.channels.sms.outbound import SmsOutbound
from center.channels.twilio.forms import MAX_BODY
from center.interactions import rows as irows
from center.records import events
from center.records.enums import ActorKind, Channel, Direction
from center.records.models import Interaction, Message, Ticket, User
from center.tickets.replies import ReplyError

INTERACTIONS = Interaction.__table__


class SmsReplier:
    def __init__(self, out: SmsOutbound) -> None:
        self.out = out

    async def store_reply(
        self, conn: AsyncConnection, ticket: Ticket, body: str, cc: Sequence[str], agent: User
    ) -> Message:
        if cc:
            raise ReplyError("invalid", "a text has no cc")
        row = (
            await conn.execute(
                select(INTERACTIONS)
                .where(
                    INTERACTIONS.c.ticket_id == ticket.id,
                    INTERACTIONS.c.channel == Channel.SMS,
                    INTERACTIONS.c.external_ref.is_not(None),
                )
                .order_by(INTERACTIONS.c.id.desc())
                .limit(1)
            )
        ).first()
        if row is None:
            raise ReplyError("no_number", "this ticket has no SMS conversation to reply to")
        i = irows.as_interaction(row)
        phone = str(i.external_ref)
        if await store.opted_out(conn, phone):
            raise ReplyError("opted_out", f"{phone} has opted out of SMS (texted STOP)")
        if len(body) > MAX_BODY:
            raise ReplyError("too_long", f"an SMS can be at most {MAX_BODY} characters")
        m = await irows.insert_message(conn, i.id, Direction.OUTBOUND, body, author_id=agent.id)
        await events.write(
            conn,
            events.row(
                events.MessageSent(message_id=m.id, body=body, agent_id=agent.id),
                interaction=i,
                actor_kind=ActorKind.AGENT,
                actor_id=agent.id,
            ),
        )
        await self.out.queue_send(conn, i, m, phone)
        return m
