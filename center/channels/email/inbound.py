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
from center.channels.email import nowork, store, stored, tokens
from center.channels.email.content import message_content
from center.channels.email.group import GroupCommit
from center.channels.email.intake import Arrival, Outcome, store_arrivals
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
from center.records.enums import Channel, IdentityKind, InteractionState
from center.records.models import Interaction
from center.tickets.attachments import store_attachment

log = logging.getLogger(__name__)
OPEN = (InteractionState.QUEUED, InteractionState.OFFERED, InteractionState.ASSIGNED)


@dataclass(frozen=True, slots=True)
class Pending:
    """A parsed message waiting for the next group commit."""

    d: Delivery
    mail: ParsedEmail
    received_at: datetime


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
        self.batches: GroupCommit[Pending, Outcome] = GroupCommit(self._receive_batch)

    @property
    def domain(self) -> str:
        if self.settings.email_domain:
            return self.settings.email_domain
        first = sorted(self.support)[0] if self.support else "support@center.invalid"
        return first.rpartition("@")[2]

    # -- the door ------------------------------------------------------------------------

    async def receive(self, d: Delivery) -> Outcome:
        """Stored (committed) when this returns; raises only when nothing could be stored.
        New mail that threads nowhere goes through the group commit (``_receive_batch``):
        under load, the messages arriving together share one transaction."""
        received_at = self.clock()
        try:
            mail: ParsedEmail | None = parse(d.raw, received_at=received_at)
            unparseable = None
        except Unparseable as error:
            mail, unparseable = None, f"unparseable: {error}"
        except Exception as error:  # a parser bug: the bytes are still kept
            log.exception("email: parser failed")
            mail, unparseable = None, f"unparseable: {error!r}"[:1000]
        if mail is not None and self._plain_new(d, mail):
            return await self.batches.submit(Pending(d, mail, received_at))
        return await self._receive(d, mail, unparseable, received_at)

    async def _receive(
        self, d: Delivery, mail: ParsedEmail | None, unparseable: str | None, received_at: datetime
    ) -> Outcome:
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

    def _plain_new(self, d: Delivery, mail: ParsedEmail) -> bool:
        """Mail that opens a ticket whatever the database holds (short of a duplicate
        Message-ID, which the batch checks): from an address, making work, naming no
        thread (no References, no ``[#N]``, no ``+token`` address); SMTP only (IMAP
        deliveries are deduplicated by their source_ref one at a time)."""
        if d.source_ref is not None or mail.from_ is None or self._triage(d, mail)[0]:
            return False
        try:
            normalise(IdentityKind.EMAIL, mail.from_.addr)
        except InvalidIdentity:
            return False
        recipients = [*d.envelope_to, *(a.addr for a in (*mail.to, *mail.cc))]
        return not (
            nowork.chain(mail)
            or tokens.subject_number(mail.subject) is not None
            or tokens.address_token(recipients, self.support) is not None
        )

    async def _receive_batch(self, batch: list[Pending]) -> list[Outcome | BaseException]:
        """Plain new mail (``_plain_new``) in one transaction: the ledger rows, the senders
        and known Message-IDs in two reads, the new customers, then ``store_arrivals``. A
        duplicate (or a Message-ID twice in the batch) takes the one-message path after
        the commit; if the batch fails, every message takes it (which retries, quarantines
        or refuses each on its own)."""
        senders = [normalise(IdentityKind.EMAIL, p.mail.from_.addr) for p in batch]  # type: ignore[union-attr]
        later: list[int] = []
        try:
            async with self.db.step() as c:
                ids = [p.mail.message_id for p in batch if p.mail.message_id]
                owners, known = await store.senders(c, senders, ids)
                taken: set[str] = set()
                now: list[int] = []
                for k, p in enumerate(batch):
                    mid = p.mail.message_id
                    (later if mid and (mid in known or mid in taken) else now).append(k)
                    taken.add(mid or "")
                ledger = [self._ledger_values(batch[k].d, batch[k].received_at) for k in now]
                inbound_ids = await store.insert_inbound(c, ledger)
                people = {senders[k]: batch[k].mail.from_ for k in now if senders[k] not in owners}
                made = await store.create_customers(
                    c, [(addr, who.name if who else None) for addr, who in people.items()]
                )
                first = {addr: rows for addr, (_, rows) in zip(people, made, strict=True)}
                owners.update({addr: cid for addr, (cid, _) in zip(people, made, strict=True)})
                arrivals = [
                    Arrival(
                        inbound_id,
                        batch[k].d,
                        batch[k].mail,
                        owners[senders[k]],
                        null_sender=self._triage(batch[k].d, batch[k].mail)[1],
                        first=first.pop(senders[k], []),  # with the customer's first message
                    )
                    for k, inbound_id in zip(now, inbound_ids, strict=True)
                ]
                outcomes = await store_arrivals(self, c, arrivals)
        except Exception:
            log.warning("email: a batch of %d failed; one at a time", len(batch), exc_info=True)
            return [await self._one(p) for p in batch]
        results: dict[int, Outcome | BaseException] = dict(zip(now, outcomes, strict=True))
        await self._after(*outcomes)
        for k in later:
            results[k] = await self._one(batch[k])
        return [results[k] for k in range(len(batch))]

    async def _one(self, p: Pending) -> Outcome | BaseException:
        try:
            return await self._receive(p.d, p.mail, None, p.received_at)
        except Exception as error:  # (the door answers 451 for this message only)
            return error

    def _ledger_values(self, d: Delivery, received_at: datetime) -> dict[str, Any]:
        return {
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

    async def _ledger(
        self, c: AsyncConnection, d: Delivery, received_at: datetime
    ) -> tuple[int, Outcome | None]:
        values = self._ledger_values(d, received_at)
        stmt = store.ignoring(c.dialect.name, store.INBOUND, ("source_ref",), store.INBOUND.c.id)
        new = (await c.execute(stmt, values)).first()
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
        return await stored.process_pending(self)

    async def reprocess(self, inbound_id: int) -> Outcome | None:
        """A quarantined row processed again (None: no such row quarantined)."""
        return await stored.process_stored(self, inbound_id, InboundStatus.QUARANTINED)

    # -- one message, in the caller's transaction ---------------------------------------

    def _triage(self, d: Delivery, mail: ParsedEmail) -> tuple[Suppression | None, bool]:
        """(why it makes no work or None, whether it came from a null sender)."""
        null_sender = d.source == "smtp" and d.envelope_from.strip() in ("", "<>")
        null_sender = null_sender or mail.headers.get("return-path", "").strip() == "<>"
        own = bool(mail.message_id) and tokens.is_ours(mail.message_id or "", self.domain)
        return classify(mail, own_message_id=own, null_sender=null_sender), null_sender

    async def _handle(
        self, c: AsyncConnection, inbound_id: int, d: Delivery, mail: ParsedEmail
    ) -> Outcome:
        why, null_sender = self._triage(d, mail)
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
        customer_id, duplicate = await store.sender(c, sender, mail.message_id)
        first: list[dict[str, Any]] = []
        if customer_id is None:
            customer_id, first = await store.create_customer(c, sender, mail.from_.name)
        if duplicate:
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
        arrival = Arrival(
            inbound_id, d, mail, customer_id, ticket, how, refused, null_sender, first
        )
        [outcome] = await store_arrivals(self, c, [arrival])
        return outcome

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
    ) -> tuple[int, int, dict[str, int]]:
        """Stored byte-exact within the limits (per attachment, per message); the rest
        counted as omitted (the raw message in the ledger still holds them). Also
        {Content-ID: attachment id} of those stored, for the HTML's ``cid:`` images."""
        per = self.settings.email_max_attachment_bytes
        total = self.settings.email_max_message_bytes
        used = stored = omitted = 0
        by_cid: dict[str, int] = {}
        for att in mail.attachments:
            if att.size > per or used + att.size > total:
                omitted += 1
                continue
            used += att.size
            stored += 1
            listed = await store_attachment(c, message_id, att.filename, att.content_type, att.data)
            if att.content_id:
                by_cid.setdefault(att.content_id, listed["id"])
        return stored, omitted, by_cid

    async def _after(self, *outcomes: Outcome) -> None:
        """After the commit: the router (one dispatch for all), the agent's console, the
        outbox worker."""
        await self.interactions.route_queued_many([o.route for o in outcomes if o.route])
        for outcome in outcomes:
            if outcome.route is None and outcome.notify is not None:
                i, m = outcome.notify
                if i.agent_id is not None and i.state is InteractionState.ASSIGNED:
                    await self.interactions.bus.to_agent(
                        i.agent_id, AgentNotice.MESSAGE, message_json(m)
                    )
        if any(o.wake_outbox for o in outcomes):
            self.outbound.wake()
