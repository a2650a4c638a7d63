"""Email out: the agent's reply (the ticket Replier), the auto-acknowledgement, and the
outbox Sender that hands them to ``CENTER_SMTP_RELAY``.

The Message and its outbox row are written in the caller's transaction with everything
the send needs in the payload (headers, body, envelope), so a send never depends on later
state and a retry sends the same message with the same Message-ID. Our Message-ID goes
into the threading index at once: a customer's reply to it threads back even before it
was sent, and a copy of it coming back in is recognised as our own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from center.channels.email import events as ev
from center.channels.email import relay as smtp
from center.channels.email import store, tokens
from center.channels.email.parse import ParsedEmail
from center.interactions import rows
from center.outbox import OutboxKind, PermanentSendError, RetryableSendError, enqueue
from center.outbox.core import Item
from center.records import events
from center.records.base import utcnow
from center.records.enums import ActorKind, Channel, Direction, IdentityKind, InteractionState
from center.records.models import Identity, Interaction, Message, Ticket, User
from center.tickets.replies import ReplyError

MESSAGES = rows.MESSAGES
IDENTITIES = Identity.__table__
ACK_BODY = (
    "Hello,\n\nWe have received your message and opened ticket [#{number}]. "
    "An agent will answer you soon; replying to this message adds to the same ticket.\n\n"
    "This is an automatic acknowledgement."
)


class EmailOutbound:
    def __init__(self, settings: Any, wake: Callable[[], None] = lambda: None) -> None:
        self.settings = settings
        self.support = sorted(settings.support_addresses)
        self._wake = wake

    def wake(self) -> None:
        self._wake()

    @property
    def domain(self) -> str:
        if self.settings.email_domain:
            return self.settings.email_domain
        return self.support[0].rpartition("@")[2] if self.support else "center.invalid"

    # -- the Replier ---------------------------------------------------------------------

    async def store_reply(
        self, conn: AsyncConnection, ticket: Ticket, body: str, cc: Sequence[str], agent: User
    ) -> Message:
        last = await self._last_inbound(conn, ticket.id)
        to = (last.meta or {}).get("from") if last is not None else None
        if not to:
            to = await self._customer_address(conn, ticket.customer_id)
        if not to:
            raise ReplyError("no_address", "the customer has no email address to reply to")
        cc_list = sorted({c.strip().lower() for c in cc if c.strip()} - {to})
        thread = await self._thread(conn, ticket)
        interaction = await self._interaction(conn, ticket, agent_id=agent.id)
        headers = self._headers(ticket, thread, last, to=[to], cc=cc_list)
        flagged = await store.address(conn, to)
        meta = {
            "from": thread.support_address,
            "to": [to],
            "cc": cc_list,
            "subject": headers["subject"],
            "message_id_header": headers["message_id"],
            "in_reply_to": headers["in_reply_to"],
            "references": headers["references"],
            "undeliverable_warning": bool(flagged and flagged.undeliverable),
        }
        m = await rows.insert_message(
            conn, interaction.id, Direction.OUTBOUND, body, author_id=agent.id, meta=meta
        )
        await self._enqueue(conn, ticket, interaction, m, headers, body, kind="reply")
        await store.add_participants(conn, store.participant_rows(ticket.id, [to, *cc_list]))
        await events.write(
            conn,
            ev.row(
                ev.ReplyQueued(
                    message_id=m.id,
                    message_id_header=headers["message_id"],
                    to=[to],
                    cc=cc_list,
                ),
                interaction=interaction,
                actor_kind=ActorKind.AGENT,
                actor_id=agent.id,
            ),
        )
        return m

    async def queue_acknowledgement(
        self, conn: AsyncConnection, ticket: Ticket, mail: ParsedEmail, i: Interaction
    ) -> Message:
        """The automatic acknowledgement of a new ticket, to the From address."""
        thread = await store.thread(conn, ticket.id)
        to = mail.from_.addr if mail.from_ else ""
        last = await self._last_inbound(conn, ticket.id)
        headers = self._headers(ticket, thread, last, to=[to], cc=[])
        body = ACK_BODY.format(number=ticket.number or ticket.id)
        meta = {
            "from": thread.support_address,
            "to": [to],
            "cc": [],
            "subject": headers["subject"],
            "message_id_header": headers["message_id"],
            "auto_acknowledgement": True,
        }
        m = await rows.insert_message(conn, i.id, Direction.OUTBOUND, body, meta=meta)
        await self._enqueue(conn, ticket, i, m, headers, body, kind="ack")
        return m

    def _headers(
        self, ticket: Ticket, thread: Any, last: Message | None, *, to: list[str], cc: list[str]
    ) -> dict[str, Any]:
        meta = (last.meta or {}) if last is not None else {}
        parent = meta.get("message_id_header")
        refs = [r for r in meta.get("references", []) if isinstance(r, str)]
        if parent:
            refs = [*refs, parent]
        return {
            "message_id": tokens.new_message_id(self.domain),
            "in_reply_to": parent,
            "references": refs[-20:],  # the chain's tail: clients thread on the last ids
            "subject": tokens.with_subject_token(
                meta.get("subject") or thread.subject or ticket.subject or "",
                ticket.number or ticket.id,
            ),
            "from": thread.support_address,
            "reply_to": tokens.tokenised(thread.support_address, thread.token),
            "to": to,
            "cc": cc,
        }

    async def _enqueue(
        self,
        conn: AsyncConnection,
        ticket: Ticket,
        i: Interaction,
        m: Message,
        headers: dict[str, Any],
        body: str,
        *,
        kind: str,
    ) -> None:
        await store.index_id(
            conn,
            headers["message_id"],
            ticket_id=ticket.id,
            message_row_id=m.id,
            direction=Direction.OUTBOUND,
        )
        payload = {**headers, "body": body, "kind": kind, "date": format_datetime(utcnow())}
        await enqueue(
            conn,
            OutboxKind.EMAIL,
            payload,
            key=f"email:{headers['message_id']}",
            customer_id=ticket.customer_id,
            interaction_id=i.id,
            ticket_id=ticket.id,
            message_id=m.id,
        )

    async def _last_inbound(self, conn: AsyncConnection, ticket_id: int) -> Message | None:
        t = rows.INTERACTIONS
        found = (
            await conn.execute(
                select(MESSAGES)
                .join(t, t.c.id == MESSAGES.c.interaction_id)
                .where(
                    t.c.ticket_id == ticket_id,
                    t.c.channel == Channel.EMAIL,
                    MESSAGES.c.direction == Direction.INBOUND,
                )
                .order_by(MESSAGES.c.id.desc())
                .limit(1)
            )
        ).first()
        if found is None:
            return None
        m = Message(**found._mapping)
        if (m.meta or {}).get("suppressed"):
            return None
        return m

    async def _customer_address(self, conn: AsyncConnection, customer_id: int) -> str | None:
        return await conn.scalar(
            select(IDENTITIES.c.value)
            .where(
                IDENTITIES.c.customer_id == customer_id,
                IDENTITIES.c.kind == IdentityKind.EMAIL,
                IDENTITIES.c.verified,
            )
            .limit(1)
        )

    async def _thread(self, conn: AsyncConnection, ticket: Ticket) -> Any:
        thread = await store.thread(conn, ticket.id)
        if thread is None:  # a ticket opened for a call or a chat, answered by email
            support_address = self.support[0] if self.support else f"support@{self.domain}"
            await store.add_threads(
                conn,
                [
                    {
                        "ticket_id": ticket.id,
                        "token": tokens.new_token(),
                        "support_address": support_address,
                        "subject": ticket.subject or "",
                    }
                ],
            )
            thread = await store.thread(conn, ticket.id)
        return thread

    async def _interaction(
        self, conn: AsyncConnection, ticket: Ticket, *, agent_id: int
    ) -> Interaction:
        t = rows.INTERACTIONS
        found = (
            await conn.execute(
                select(t)
                .where(t.c.ticket_id == ticket.id, t.c.channel == Channel.EMAIL)
                .order_by(t.c.id.desc())
                .limit(1)
            )
        ).first()
        if found is not None:
            return rows.as_interaction(found)
        # No email yet on this ticket (opened for a call): the reply starts its email side.
        now = utcnow()
        i = await rows.insert_interaction(
            conn,
            customer_id=ticket.customer_id,
            channel=Channel.EMAIL,
            state=InteractionState.CLOSED,
            queue=getattr(ticket, "queue", None) or "default",
            priority=0,
            subject=(ticket.subject or "")[:255] or None,
            ticket_id=ticket.id,
            agent_id=agent_id,
            ended_at=now,
        )
        await events.write(
            conn,
            events.row(
                events.InteractionStarted(channel=Channel.EMAIL.value),
                interaction=i,
                actor_kind=ActorKind.AGENT,
                actor_id=agent_id,
            ),
        )
        return i


def build_message(payload: dict[str, Any]) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = formataddr(("Support", payload["from"]))
    msg["To"] = ", ".join(payload["to"])
    if payload.get("cc"):
        msg["Cc"] = ", ".join(payload["cc"])
    msg["Reply-To"] = payload["reply_to"]
    msg["Subject"] = payload["subject"]
    msg["Date"] = payload["date"]
    msg["Message-ID"] = payload["message_id"]
    if payload.get("in_reply_to"):
        msg["In-Reply-To"] = payload["in_reply_to"]
    if payload.get("references"):
        msg["References"] = " ".join(payload["references"])
    if payload.get("kind") == "ack":
        # RFC 3834: an automatic answer says so, so the other side's robots stay quiet.
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(payload["body"])
    return msg


class EmailSender:
    """The outbox Sender for OutboxKind.EMAIL: one message to the relay per item."""

    idempotent = False  # SMTP cannot dedupe: an interrupted send fails, never repeats

    def __init__(self, relay_url: str) -> None:
        self.relay = smtp.parse_relay(relay_url) if relay_url else None

    async def send(self, item: Item) -> dict[str, Any]:
        if self.relay is None:
            raise PermanentSendError("no CENTER_SMTP_RELAY configured")
        payload = item.payload
        message = build_message(payload)
        recipients = [*payload["to"], *payload.get("cc", [])]
        try:
            reply = await smtp.send(
                self.relay, message, sender=payload["from"], recipients=recipients
            )
        except smtp.RelayError as error:
            if error.permanent:
                raise PermanentSendError(error.reason) from error
            raise RetryableSendError(error.reason) from error
        return {"smtp": reply, "message_id": payload["message_id"]}
