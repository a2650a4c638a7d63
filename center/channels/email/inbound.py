"""The one inbound code path (SMTP listener and IMAP poller alike).

``receive``: store the raw bytes in the ledger and commit (the door's acknowledgement
waits for this), then ``process`` them: parse, suppress or thread, and in ONE transaction
the message, its attachments, the ticket change, the threading index, the events and the
acknowledgement's outbox row. Routing and agent notices come after the commit. Anything
that goes wrong in processing quarantines the ledger row (kept, logged), never the mail.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exc, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from center.channels.email import events as ev
from center.channels.email import store, tokens
from center.channels.email.listener import Delivery
from center.channels.email.models import InboundStatus
from center.channels.email.parse import ParsedEmail, Unparseable, parse
from center.channels.email.quotes import cut_html, cut_text
from center.channels.email.sanitize import html_to_text, preview, sanitize_html
from center.channels.email.suppress import Suppression, classify, may_auto_acknowledge
from center.interactions import rows
from center.interactions.base import message_json
from center.notices import AgentNotice
from center.outbox import set_delivery
from center.records import customers, events
from center.records.base import utcnow
from center.records.enums import ActorKind, Channel, Direction, IdentityKind, InteractionState
from center.records.models import Identity, Interaction, Message
from center.tickets.attachments import store_attachment
from center.tickets.events import Suppression as TicketSuppression

log = logging.getLogger(__name__)
IDENTITIES = Identity.__table__
_ANY_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")


@dataclass(frozen=True, slots=True)
class Outcome:
    inbound_id: int
    status: InboundStatus
    ticket_id: int | None = None
    message_id: int | None = None
    interaction: Interaction | None = None
    reason: str | None = None


class EmailInboundService:
    def __init__(
        self,
        *,
        db: Any,
        interactions: Any,
        tickets: Any,
        settings: Any,
        outbound: Any,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db, self.interactions, self.tickets = db, interactions, tickets
        self.settings, self.outbound, self.clock = settings, outbound, clock
        self.support = set(settings.support_addresses)

    # -- the door ------------------------------------------------------------------------

    async def receive(self, d: Delivery) -> Outcome:
        """Store (committed before this returns, or it raises), then process."""
        inbound_id = await self.store(d)
        return await self.process(inbound_id)

    async def store(self, d: Delivery) -> int:
        values = {
            "received_at": self.clock(),
            "source": d.source[:120],
            "source_ref": d.source_ref,
            "envelope_from": d.envelope_from[:320],
            "envelope_to": [r[:320] for r in d.envelope_to[:100]],
            "raw": d.raw,
            "size": len(d.raw),
            "sha256": hashlib.sha256(d.raw).hexdigest(),
            "status": InboundStatus.RECEIVED,
        }
        try:
            async with self.db.step() as c:
                new = await c.execute(
                    insert(store.INBOUND).values(values).returning(store.INBOUND.c.id)
                )
                return int(new.scalar_one())
        except exc.IntegrityError:
            if d.source_ref is None:
                raise
        # The same IMAP message fetched again (we crashed before marking it): stored once.
        async with self.db.read_step() as c:
            found = await c.scalar(
                select(store.INBOUND.c.id).where(store.INBOUND.c.source_ref == d.source_ref)
            )
        return int(found)

    async def process_pending(self) -> int:
        """Process what a crash left stored but unprocessed (at start)."""
        async with self.db.read_step() as c:
            ids = list(
                await c.scalars(
                    select(store.INBOUND.c.id)
                    .where(store.INBOUND.c.status == InboundStatus.RECEIVED)
                    .order_by(store.INBOUND.c.id)
                )
            )
        for inbound_id in ids:
            await self.process(inbound_id)
        return len(ids)

    async def process(self, inbound_id: int) -> Outcome:
        try:
            return await self._process(inbound_id)
        except Exception as error:  # never lose it, never crash the door: quarantine
            log.exception("email: inbound %s quarantined", inbound_id)
            return await self._quarantine(inbound_id, f"processing failed: {error!r}"[:1000])

    async def _quarantine(self, inbound_id: int, reason: str) -> Outcome:
        log.warning("email: inbound %s quarantined: %s", inbound_id, reason)
        async with self.db.step() as c:
            await store.set_inbound(c, inbound_id, InboundStatus.QUARANTINED, reason=reason)
        return Outcome(inbound_id, InboundStatus.QUARANTINED, reason=reason)

    # -- processing ----------------------------------------------------------------------

    async def _process(self, inbound_id: int) -> Outcome:
        async with self.db.read_step() as c:
            row = await store.inbound(c, inbound_id)
        if row is None or row.status != InboundStatus.RECEIVED:
            return Outcome(
                inbound_id, InboundStatus(row.status) if row else InboundStatus.QUARANTINED
            )
        try:
            mail = parse(row.raw, received_at=row.received_at)
        except Unparseable as error:
            return await self._quarantine(inbound_id, f"unparseable: {error}")
        null_sender = row.envelope_from.strip() in ("", "<>") and row.source == "smtp"
        null_sender = null_sender or mail.headers.get("return-path", "").strip() == "<>"
        own = bool(mail.message_id) and tokens.is_ours(mail.message_id or "", self.domain)
        why = classify(mail, own_message_id=own, null_sender=null_sender)
        if why is Suppression.BOUNCE:
            return await self._bounce(row, mail)
        if mail.from_ is None:
            return await self._quarantine(inbound_id, "no From address")
        sender = mail.from_.addr
        if why is not None:
            return await self._suppressed(row, mail, why)
        customer = await customers.resolve(
            self.db,
            {IdentityKind.EMAIL: sender},
            display_name=(mail.from_.name or None) and mail.from_.name[:120],
            via="email",
        )
        async with self.db.step() as c:
            locked = await store.inbound(c, inbound_id, lock=True)
            if locked.status != InboundStatus.RECEIVED:
                return Outcome(inbound_id, InboundStatus(locked.status))
            if mail.message_id and await store.known_id(c, mail.message_id, Direction.INBOUND):
                # The same message again (two support addresses, SMTP and IMAP, a resend).
                await events.write(
                    c,
                    ev.row(
                        ev.Duplicate(inbound_id=inbound_id, message_id_header=mail.message_id),
                        customer_id=customer.id,
                    ),
                )
                await store.set_inbound(c, inbound_id, InboundStatus.DUPLICATE)
                return Outcome(inbound_id, InboundStatus.DUPLICATE)
            ticket, how, refused = await self._thread(c, mail, list(row.envelope_to), customer.id)
            outcome, route, m = await self._store_message(
                c, row, mail, customer.id, ticket, how, refused, null_sender
            )
        await self._after(outcome, route, m)
        return outcome

    @property
    def domain(self) -> str:
        if self.settings.email_domain:
            return self.settings.email_domain
        first = sorted(self.support)[0] if self.support else "center.invalid"
        return first.rpartition("@")[2]

    async def _thread(
        self, c: AsyncConnection, mail: ParsedEmail, envelope_to: list[str], customer_id: int
    ) -> tuple[Any, str, bool]:
        """(ticket or None, how, token_refused): the References chain first (newest id
        first), then ``[#N]``, then ``support+token@``; the tokens only for a sender who
        is on that thread, never by subject text."""
        chain = list(dict.fromkeys([*mail.in_reply_to, *reversed(mail.references)]))
        found = await store.ticket_for_ids(c, chain[:200])
        if found is not None:
            return await self.tickets.get(c, found[0]), "references", False
        sender = mail.from_.addr if mail.from_ else ""
        refused = False
        number = tokens.subject_number(mail.subject)
        if number is not None:
            ticket = await self.tickets.by_number(c, number)
            if ticket is not None:
                if await store.is_participant(c, ticket.id, sender):
                    return ticket, "subject_token", False
                refused = True
        recipients = [*envelope_to, *(a.addr for a in (*mail.to, *mail.cc))]
        token = tokens.address_token(recipients, self.support)
        if token is not None:
            thread = await store.thread_by_token(c, token)
            if thread is not None:
                if await store.is_participant(c, thread.ticket_id, sender):
                    return await self.tickets.get(c, thread.ticket_id), "address_token", False
                refused = True
        return None, "new_ticket", refused

    def _support_address(self, mail: ParsedEmail, envelope_to: list[str]) -> str:
        for addr in [*envelope_to, *(a.addr for a in (*mail.to, *mail.cc))]:
            base = tokens.base_address(addr, self.support)
            if base:
                return base
        return sorted(self.support)[0] if self.support else f"support@{self.domain}"

    def _content(self, mail: ParsedEmail) -> tuple[str, dict[str, Any]]:
        """(the stored comment, the email meta): the reply without its quoted history;
        the full text and sanitised HTML kept beside it."""
        full_text = mail.text or (html_to_text(mail.html) if mail.html else "")
        if mail.text:
            comment = cut_text(mail.text)
        elif mail.html:
            comment = html_to_text(cut_html(mail.html))
        else:
            comment = ""
        limit = self.settings.max_message_chars * 25
        meta = {
            "message_id_header": mail.message_id,
            "from": mail.from_.addr if mail.from_ else None,
            "from_name": mail.from_.name if mail.from_ else "",
            "to": [a.addr for a in mail.to],
            "cc": [a.addr for a in mail.cc],
            "subject": mail.subject[:998],
            "date": mail.date.isoformat(),
            "date_missing": mail.date_missing,
            "in_reply_to": mail.in_reply_to[:20],
            "references": mail.references[-20:],
            "text_full": full_text[:limit],
            "html": sanitize_html(mail.html)[:limit] if mail.html else None,
            "html_reply": sanitize_html(cut_html(mail.html))[:limit] if mail.html else None,
            "preview": preview(comment or full_text),
            "quote_cut": comment != full_text.strip(),
        }
        return comment[:limit] or "(no text)", meta

    async def _store_message(
        self,
        c: AsyncConnection,
        row: Any,
        mail: ParsedEmail,
        customer_id: int,
        ticket: Any,
        how: str,
        refused: bool,
        null_sender: bool,
    ) -> tuple[Outcome, str, Message]:
        body, meta = self._content(mail)
        meta["inbound_id"] = row.id
        interaction = None
        if ticket is not None:
            interaction = await self._open_interaction(c, ticket.id)
        now = utcnow()
        if interaction is None:
            interaction = await rows.insert_interaction(
                c,
                customer_id=customer_id,
                channel=Channel.EMAIL,
                state=InteractionState.QUEUED,
                queue="default",
                priority=0,
                subject=mail.subject[:255] or None,
                external_ref=(mail.message_id or "")[:255] or None,
                ticket_id=ticket.id if ticket is not None else None,
                queued_at=now,
            )
            route = "route"
            first = [
                events.row(
                    events.InteractionStarted(channel=Channel.EMAIL.value),
                    interaction=interaction,
                    actor_kind=ActorKind.CUSTOMER,
                )
            ]
        else:
            route = "notify"
            first = []
        m = await rows.insert_message(c, interaction.id, Direction.INBOUND, body, meta=meta)
        stored, omitted = await self._attachments(c, m.id, mail)
        new_ticket = ticket is None
        if new_ticket:
            support = self._support_address(mail, list(row.envelope_to))
            ticket = await self.tickets.create(
                c,
                customer_id=customer_id,
                subject=mail.subject[:255] or "(no subject)",
                channel=Channel.EMAIL,
                interaction_id=interaction.id,
            )
            interaction.ticket_id = ticket.id
            await store.add_thread(
                c,
                ticket.id,
                token=tokens.new_token(),
                support_address=support,
                subject=mail.subject,
            )
            await self.tickets.customer_message(
                c, ticket.id, message_id=m.id, interaction_id=interaction.id
            )
        else:
            ticket = await self.tickets.customer_message(
                c, ticket.id, message_id=m.id, interaction_id=interaction.id
            )
            interaction.ticket_id = ticket.id
        if mail.message_id:
            await store.index_id(
                c,
                mail.message_id,
                ticket_id=ticket.id,
                message_row_id=m.id,
                direction=Direction.INBOUND,
            )
        await store.add_participants(
            c,
            ticket.id,
            [a for a in mail.participants if tokens.base_address(a, self.support) is None],
        )
        later = [
            events.row(
                events.MessageReceived(message_id=m.id, body=body[:2000]),
                interaction=interaction,
                actor_kind=ActorKind.CUSTOMER,
            ),
            ev.row(
                ev.Received(
                    inbound_id=row.id,
                    message_id=m.id,
                    message_id_header=mail.message_id,
                    subject=mail.subject[:998],
                    threaded_by=how,
                    token_refused=refused,
                    attachments=stored,
                    attachments_omitted=omitted,
                ),
                interaction=interaction,
                actor_kind=ActorKind.CUSTOMER,
            ),
        ]
        if route == "route":
            later.append(
                events.row(
                    events.Queued(queue=interaction.queue, priority=interaction.priority),
                    interaction=interaction,
                )
            )
        await events.write(c, *first, *later)
        if new_ticket and self.settings.email_auto_ack:
            await self._acknowledge(c, ticket, mail, interaction, null_sender)
        await store.set_inbound(
            c, row.id, InboundStatus.PROCESSED, ticket_id=ticket.id, message_row_id=m.id
        )
        return Outcome(row.id, InboundStatus.PROCESSED, ticket.id, m.id, interaction), route, m

    async def _open_interaction(self, c: AsyncConnection, ticket_id: int) -> Interaction | None:
        """The ticket's email interaction still open (waiting or with an agent), if any."""
        t = rows.INTERACTIONS
        found = (
            await c.execute(
                select(t)
                .where(t.c.ticket_id == ticket_id, t.c.channel == Channel.EMAIL)
                .order_by(t.c.id.desc())
                .limit(1)
            )
        ).first()
        if found is None:
            return None
        i = rows.as_interaction(found)
        open_states = (InteractionState.QUEUED, InteractionState.OFFERED, InteractionState.ASSIGNED)
        return i if i.state in open_states else None

    async def _attachments(
        self, c: AsyncConnection, message_id: int, mail: ParsedEmail
    ) -> tuple[int, int]:
        """Stored byte-exact within the limits (per attachment, per message); the rest
        counted as omitted (the raw message still holds them)."""
        per = self.settings.email_max_attachment_bytes
        total = self.settings.email_max_message_bytes
        used = stored = omitted = 0
        for att in mail.attachments:
            if att.size > per or used + att.size > total:
                omitted += 1
                continue
            used += att.size
            stored += 1
            await store_attachment(c, message_id, att.filename, att.content_type, att.data)
        return stored, omitted

    async def _acknowledge(
        self, c: AsyncConnection, ticket: Any, mail: ParsedEmail, i: Interaction, null_sender: bool
    ) -> None:
        to = mail.from_.addr if mail.from_ else ""  # From, never Return-Path
        reason = None
        if not may_auto_acknowledge(mail, null_sender=null_sender):
            reason = "automatic_sender"
        else:
            flagged = await store.address(c, to)
            if flagged is not None and flagged.undeliverable:
                reason = "undeliverable"
            elif not await store.take_ack_slot(
                c, to, cap=self.settings.email_auto_ack_per_hour, now=utcnow()
            ):
                reason = "rate_limited"
        if reason is None and not await store.mark_acknowledged(c, ticket.id):
            reason = "already_acknowledged"
        if reason is not None:
            await events.write(c, ev.row(ev.AckSkipped(to=to, reason=reason), interaction=i))
            return
        m = await self.outbound.queue_acknowledgement(c, ticket, mail, i)
        await events.write(c, ev.row(ev.AckQueued(to=to, message_id=m.id), interaction=i))

    async def _after(self, outcome: Outcome, how: str, m: Message) -> None:
        """After the commit: the router, the agent's console, the outbox worker."""
        i = outcome.interaction
        if i is None:
            return
        if how == "route":
            await self.interactions.route_queued(i)
        elif i.agent_id is not None and i.state is InteractionState.ASSIGNED:
            await self.interactions.bus.to_agent(i.agent_id, AgentNotice.MESSAGE, message_json(m))
        self.outbound.wake()

    # -- no work -------------------------------------------------------------------------

    async def _suppressed(self, row: Any, mail: ParsedEmail, why: Suppression) -> Outcome:
        sender = mail.from_.addr if mail.from_ else ""
        async with self.db.step() as c:
            locked = await store.inbound(c, row.id, lock=True)
            if locked.status != InboundStatus.RECEIVED:
                return Outcome(row.id, InboundStatus(locked.status))
            chain = list(dict.fromkeys([*mail.in_reply_to, *reversed(mail.references)]))
            found = await store.ticket_for_ids(c, chain[:200])
            ticket_id = found[0] if found else None
            customer_id = None
            if ticket_id is not None:
                ticket = await self.tickets.get(c, ticket_id)
                customer_id = ticket.customer_id
                i = await self._latest_interaction(c, ticket_id)
                if i is not None:
                    body, meta = self._content(mail)
                    meta.update(inbound_id=row.id, suppressed=why.value)
                    m = await rows.insert_message(c, i.id, Direction.INBOUND, body, meta=meta)
                    await self.tickets.customer_message(
                        c,
                        ticket_id,
                        message_id=m.id,
                        interaction_id=i.id,
                        suppressed=_ticket_reason(why),
                        detail=why.value,
                    )
            else:
                # Only a customer we already know: automatic mail creates nobody.
                customer_id = await c.scalar(
                    select(IDENTITIES.c.customer_id).where(
                        IDENTITIES.c.kind == IdentityKind.EMAIL,
                        IDENTITIES.c.value == sender,
                        IDENTITIES.c.verified.is_(True),
                    )
                )
            await events.write(
                c,
                ev.row(
                    ev.Suppressed(
                        inbound_id=row.id,
                        reason=why.value,
                        sender=sender,
                        subject=mail.subject[:998],
                    ),
                    customer_id=customer_id,
                    ticket_id=ticket_id,
                ),
            )
            await store.set_inbound(
                c, row.id, InboundStatus.SUPPRESSED, reason=why.value, ticket_id=ticket_id
            )
        return Outcome(row.id, InboundStatus.SUPPRESSED, ticket_id, reason=why.value)

    async def _latest_interaction(self, c: AsyncConnection, ticket_id: int) -> Interaction | None:
        t = rows.INTERACTIONS
        found = (
            await c.execute(
                select(t).where(t.c.ticket_id == ticket_id).order_by(t.c.id.desc()).limit(1)
            )
        ).first()
        return rows.as_interaction(found) if found else None

    async def _bounce(self, row: Any, mail: ParsedEmail) -> Outcome:
        """A delivery report: a system note on the ticket whose outbound message bounced,
        the address flagged undeliverable, the message's delivery shown failed."""
        report = mail.report
        candidates: list[str] = []
        if report is not None and report.original_message_id:
            candidates.append(report.original_message_id)
        candidates += [*mail.in_reply_to, *reversed(mail.references)]
        candidates += _ANY_ID.findall(mail.text)[:50]
        failed = list(report.recipients) if report else []
        if not failed and mail.headers.get("x-failed-recipients"):
            failed = [a.strip().lower() for a in mail.headers["x-failed-recipients"].split(",")]
        action = report.action if report else "failed"
        status = report.status if report else ""
        diagnostic = report.diagnostic if report else mail.subject[:300]
        async with self.db.step() as c:
            locked = await store.inbound(c, row.id, lock=True)
            if locked.status != InboundStatus.RECEIVED:
                return Outcome(row.id, InboundStatus(locked.status))
            found = await store.ticket_for_ids(
                c, list(dict.fromkeys(candidates)), direction=Direction.OUTBOUND
            )
            ticket_id, message_row_id, original = found if found else (None, None, None)
            customer_id = None
            if action == "failed":
                for addr in failed:
                    await store.flag_undeliverable(c, addr, f"{status} {diagnostic}".strip())
            if ticket_id is not None:
                ticket = await self.tickets.get(c, ticket_id)
                customer_id = ticket.customer_id
                if action == "failed":
                    who = ", ".join(failed) or "the recipient"
                    await self.tickets.add_note(
                        c,
                        ticket_id,
                        body=f"Delivery failed to {who}: {status} {diagnostic}".strip(),
                        author_id=None,
                    )
                    if message_row_id is not None:
                        await set_delivery(
                            c,
                            message_row_id,
                            {
                                "status": "failed",
                                "reason": f"bounced: {status} {diagnostic}".strip(),
                            },
                        )
            await events.write(
                c,
                ev.row(
                    ev.Bounced(
                        inbound_id=row.id,
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
            await store.set_inbound(
                c, row.id, InboundStatus.SUPPRESSED, reason="bounce", ticket_id=ticket_id
            )
        return Outcome(row.id, InboundStatus.SUPPRESSED, ticket_id, reason="bounce")


def _ticket_reason(why: Suppression) -> TicketSuppression:
    mapping = {Suppression.MAILING_LIST: TicketSuppression.BULK}
    return mapping.get(why, TicketSuppression(why.value))
