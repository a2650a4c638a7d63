"""The one inbound code path (SMTP listener and IMAP poller alike).

``receive`` parses the bytes (CPU, before any transaction), then in ONE transaction
stores them in the ledger and does everything they cause: the customer, the message, its
attachments, the ticket change, the threading index, the events, the acknowledgement's
outbox row. The door's acknowledgement (SMTP 250, IMAP flag) waits for that commit. If
processing fails for any reason but the database's, the raw bytes are stored alone in a
second transaction as quarantined (kept, logged, listed): never lost, never a crash. If
that fails too, the door refuses (451), so the sender keeps the message. Routing and
agent notices come after the commit.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exc, select
from sqlalchemy.ext.asyncio import AsyncConnection

from center.channels.email import events as ev
from center.channels.email import nowork, store, tokens
from center.channels.email.acks import acknowledge
from center.channels.email.content import message_content
from center.channels.email.listener import Delivery
from center.channels.email.models import InboundStatus
from center.channels.email.parse import ParsedEmail, Unparseable, parse
from center.channels.email.suppress import Suppression, classify
from center.interactions import rows
from center.interactions.base import message_json
from center.notices import AgentNotice
from center.records import events
from center.records.base import utcnow
from center.records.customers import InvalidIdentity, normalise
from center.records.enums import ActorKind, Channel, Direction, IdentityKind, InteractionState
from center.records.models import Interaction, Message
from center.tickets import events as te
from center.tickets.attachments import store_attachment

log = logging.getLogger(__name__)
OPEN = (InteractionState.QUEUED, InteractionState.OFFERED, InteractionState.ASSIGNED)


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

    @property
    def domain(self) -> str:
        if self.settings.email_domain:
            return self.settings.email_domain
        first = sorted(self.support)[0] if self.support else "support@center.invalid"
        return first.rpartition("@")[2]

    # -- the door ------------------------------------------------------------------------

    async def receive(self, d: Delivery) -> Outcome:
        """Stored (committed) when this returns; raises only when nothing could be stored."""
        received_at = self.clock()
        try:
            mail: ParsedEmail | None = parse(d.raw, received_at=received_at)
            unparseable = None
        except Unparseable as error:
            mail, unparseable = None, f"unparseable: {error}"
        except Exception as error:  # a parser bug: the bytes are still kept
            log.exception("email: parser failed")
            mail, unparseable = None, f"unparseable: {error!r}"[:1000]
        for attempt in range(3):
            try:
                async with self.db.step() as c:
                    inbound_id, existing = await self._ledger(c, d, received_at)
                    if existing is not None:
                        return existing  # an IMAP message fetched again: stored once
                    if mail is None:
                        log.warning("email: inbound %s quarantined: %s", inbound_id, unparseable)
                        await store.set_inbound(
                            c, inbound_id, InboundStatus.QUARANTINED, reason=unparseable
                        )
                        return Outcome(inbound_id, InboundStatus.QUARANTINED, reason=unparseable)
                    outcome = await self._handle(c, inbound_id, d, mail)
                break
            except exc.IntegrityError:
                # Two processes created the same customer (or thread) at once: again.
                if attempt == 2:
                    return await self._quarantined(d, received_at, "kept conflicting")
            except (exc.OperationalError, exc.InterfaceError, OSError):
                raise  # the database is unreachable: the door says 451, the sender retries
            except Exception as error:
                log.exception("email: processing failed; the message is kept quarantined")
                return await self._quarantined(d, received_at, f"processing failed: {error!r}")
        await self._after(outcome)
        return outcome

    async def _ledger(
        self, c: AsyncConnection, d: Delivery, received_at: datetime
    ) -> tuple[int, Outcome | None]:
        values = {
            "received_at": received_at,
            "source": d.source[:120],
            "source_ref": d.source_ref,
            "envelope_from": d.envelope_from[:320],
            "envelope_to": [r[:320] for r in d.envelope_to[:100]],
            "raw": d.raw,
            "size": len(d.raw),
            "sha256": hashlib.sha256(d.raw).hexdigest(),
            "status": InboundStatus.RECEIVED,
        }
        stmt = store.insert_ignore(c, store.INBOUND, values, ["source_ref"])
        new = (await c.execute(stmt.returning(store.INBOUND.c.id))).first()
        if new is not None:
            return int(new[0]), None
        row = (
            await c.execute(select(store.INBOUND).where(store.INBOUND.c.source_ref == d.source_ref))
        ).one()
        return row.id, Outcome(row.id, InboundStatus(row.status), row.ticket_id)

    async def _quarantined(self, d: Delivery, received_at: datetime, reason: str) -> Outcome:
        reason = reason[:1000]
        async with self.db.step() as c:
            inbound_id, existing = await self._ledger(c, d, received_at)
            if existing is not None:
                return existing
            await store.set_inbound(c, inbound_id, InboundStatus.QUARANTINED, reason=reason)
        log.warning("email: inbound %s quarantined: %s", inbound_id, reason)
        return Outcome(inbound_id, InboundStatus.QUARANTINED, reason=reason)

    async def process_pending(self) -> int:
        """Ledger rows left ``received`` (stored by an older process that died before it
        processed them): processed now, at start."""
        async with self.db.read_step() as c:
            pending = list(
                await c.execute(
                    select(store.INBOUND.c.id, store.INBOUND.c.raw, store.INBOUND.c.received_at)
                    .where(store.INBOUND.c.status == InboundStatus.RECEIVED)
                    .order_by(store.INBOUND.c.id)
                )
            )
        for row in pending:
            try:
                mail = parse(row.raw, received_at=row.received_at)
            except Unparseable as error:
                async with self.db.step() as c:
                    await store.set_inbound(
                        c, row.id, InboundStatus.QUARANTINED, reason=f"unparseable: {error}"
                    )
                continue
            async with self.db.step() as c:
                locked = await store.inbound(c, row.id, lock=True)
                if locked.status != InboundStatus.RECEIVED:
                    continue
                d = Delivery(
                    raw=locked.raw,
                    source=locked.source,
                    envelope_from=locked.envelope_from,
                    envelope_to=tuple(locked.envelope_to),
                )
                outcome = await self._handle(c, row.id, d, mail)
            await self._after(outcome)
        return len(pending)

    # -- one message, in the caller's transaction ---------------------------------------

    async def _handle(
        self, c: AsyncConnection, inbound_id: int, d: Delivery, mail: ParsedEmail
    ) -> Outcome:
        null_sender = d.source == "smtp" and d.envelope_from.strip() in ("", "<>")
        null_sender = null_sender or mail.headers.get("return-path", "").strip() == "<>"
        own = bool(mail.message_id) and tokens.is_ours(mail.message_id or "", self.domain)
        why = classify(mail, own_message_id=own, null_sender=null_sender)
        if why is Suppression.BOUNCE:
            ticket_id = await nowork.bounce(self, c, inbound_id, mail)
            return await self._done(c, inbound_id, InboundStatus.SUPPRESSED, ticket_id, "bounce")
        if mail.from_ is None:
            return await self._done(c, inbound_id, InboundStatus.QUARANTINED, None, "no From")
        if why is not None:
            ticket_id, _ = await nowork.suppressed(self, c, inbound_id, mail, why)
            return await self._done(c, inbound_id, InboundStatus.SUPPRESSED, ticket_id, why.value)
        try:
            sender = normalise(IdentityKind.EMAIL, mail.from_.addr)
        except InvalidIdentity:
            return await self._done(
                c, inbound_id, InboundStatus.QUARANTINED, None, "From is not an address"
            )
        customer_id = await store.customer_for_email(c, sender)
        first: list[dict[str, Any]] = []
        if customer_id is None:
            customer_id, first = await store.create_customer(c, sender, mail.from_.name)
        if mail.message_id and await store.known_id(c, mail.message_id, Direction.INBOUND):
            # The same message again (sent to two of our addresses, SMTP and IMAP, a resend).
            await events.write(
                c,
                *first,
                ev.row(
                    ev.Duplicate(inbound_id=inbound_id, message_id_header=mail.message_id),
                    customer_id=customer_id,
                ),
            )
            return await self._done(c, inbound_id, InboundStatus.DUPLICATE, None, None)
        ticket, how, refused = await self._thread(c, mail, list(d.envelope_to))
        return await self._store(
            c, inbound_id, d, mail, customer_id, ticket, how, refused, null_sender, first
        )

    async def _done(
        self,
        c: AsyncConnection,
        inbound_id: int,
        status: InboundStatus,
        ticket_id: int | None,
        reason: str | None,
    ) -> Outcome:
        await store.set_inbound(c, inbound_id, status, reason=reason, ticket_id=ticket_id)
        return Outcome(inbound_id, status, ticket_id, reason=reason)

    async def _thread(
        self, c: AsyncConnection, mail: ParsedEmail, envelope_to: list[str]
    ) -> tuple[Any, str, bool]:
        """(ticket or None, how, token_refused): the References chain first (newest id
        first), then ``[#N]``, then ``support+token@``; the tokens only for a sender who
        is on that thread; never by subject text."""
        found = await store.ticket_for_ids(c, nowork.chain(mail))
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

    def content(self, mail: ParsedEmail) -> tuple[str, dict[str, Any]]:
        return message_content(mail, limit=self.settings.max_message_chars * 25)

    def _support_address(self, mail: ParsedEmail, envelope_to: list[str]) -> str:
        for addr in [*envelope_to, *(a.addr for a in (*mail.to, *mail.cc))]:
            base = tokens.base_address(addr, self.support)
            if base:
                return base
        return sorted(self.support)[0] if self.support else f"support@{self.domain}"

    async def _store(
        self,
        c: AsyncConnection,
        inbound_id: int,
        d: Delivery,
        mail: ParsedEmail,
        customer_id: int,
        ticket: Any,
        how: str,
        refused: bool,
        null_sender: bool,
        first: list[dict[str, Any]],
    ) -> Outcome:
        """Statements kept few (the hot path of email): a new ticket is created before
        its interaction, which is inserted on it, and the step's events (the customer's,
        the interaction's, the ticket's first message, ours) are one insert."""
        body, meta = self.content(mail)
        meta["inbound_id"] = inbound_id
        i = await self._open_interaction(c, ticket.id) if ticket is not None else None
        route = i is None
        new_ticket = ticket is None
        if new_ticket:
            ticket = await self.tickets.create(
                c,
                customer_id=customer_id,
                subject=mail.subject[:255] or "(no subject)",
                channel=Channel.EMAIL,
            )
            await store.add_thread(
                c,
                ticket.id,
                token=tokens.new_token(),
                support_address=self._support_address(mail, list(d.envelope_to)),
                subject=mail.subject,
            )
        started: list[dict[str, Any]] = []
        if i is None:
            i = await rows.insert_interaction(
                c,
                customer_id=customer_id,
                channel=Channel.EMAIL,
                state=InteractionState.QUEUED,
                queue="default",
                priority=0,
                subject=mail.subject[:255] or None,
                external_ref=(mail.message_id or "")[:255] or None,
                ticket_id=ticket.id,
                queued_at=utcnow(),
            )
            started += [
                events.row(
                    events.InteractionStarted(channel=Channel.EMAIL.value),
                    interaction=i,
                    actor_kind=ActorKind.CUSTOMER,
                ),
                te.ticket_row(
                    te.InteractionAttached(interaction_id=i.id, channel=Channel.EMAIL.value),
                    customer_id=customer_id,
                    ticket_id=ticket.id,
                    interaction_id=i.id,
                ),
            ]
        m = await rows.insert_message(c, i.id, Direction.INBOUND, body, meta=meta)
        stored, omitted = await self._attachments(c, m.id, mail)
        if new_ticket:
            # A new open ticket's first message: no status or clock to change.
            started.append(
                te.ticket_row(
                    te.CustomerMessage(message_id=m.id, reopened=False),
                    customer_id=customer_id,
                    ticket_id=ticket.id,
                    interaction_id=i.id,
                    actor_kind=ActorKind.CUSTOMER,
                )
            )
        else:
            # (A closed ticket answers with a follow-up ticket, the interaction moved to it.)
            ticket = await self.tickets.customer_message(
                c, ticket.id, message_id=m.id, interaction_id=i.id
            )
            i.ticket_id = ticket.id
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
        received = [
            events.row(
                events.MessageReceived(message_id=m.id, body=body[:2000]),
                interaction=i,
                actor_kind=ActorKind.CUSTOMER,
            ),
            ev.row(
                ev.Received(
                    inbound_id=inbound_id,
                    message_id=m.id,
                    message_id_header=mail.message_id,
                    subject=mail.subject[:998],
                    threaded_by=how,
                    token_refused=refused,
                    attachments=stored,
                    attachments_omitted=omitted,
                ),
                interaction=i,
                actor_kind=ActorKind.CUSTOMER,
            ),
        ]
        if route:
            received.append(
                events.row(events.Queued(queue=i.queue, priority=i.priority), interaction=i)
            )
        await events.write(c, *first, *started, *received)
        acked = False
        if new_ticket and self.settings.email_auto_ack:
            acked = await acknowledge(self, c, ticket, mail, i, null_sender)
        await store.set_inbound(
            c, inbound_id, InboundStatus.PROCESSED, ticket_id=ticket.id, message_row_id=m.id
        )
        return Outcome(
            inbound_id,
            InboundStatus.PROCESSED,
            ticket.id,
            m.id,
            route=i if route else None,
            notify=None if route else (i, m),
            wake_outbox=acked,
        )

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
        i = rows.as_interaction(found) if found is not None else None
        return i if i is not None and i.state in OPEN else None

    async def _attachments(
        self, c: AsyncConnection, message_id: int, mail: ParsedEmail
    ) -> tuple[int, int]:
        """Stored byte-exact within the limits (per attachment, per message); the rest
        counted as omitted (the raw message in the ledger still holds them)."""
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

    async def _after(self, outcome: Outcome) -> None:
        """After the commit: the router, the agent's console, the outbox worker."""
        if outcome.route is not None:
            await self.interactions.route_queued(outcome.route)
        elif outcome.notify is not None:
            i, m = outcome.notify
            if i.agent_id is not None and i.state is InteractionState.ASSIGNED:
                await self.interactions.bus.to_agent(
                    i.agent_id, AgentNotice.MESSAGE, message_json(m)
                )
        if outcome.wake_outbox:
            self.outbound.wake()
