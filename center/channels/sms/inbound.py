"""A message arrives: replay guard, keywords, the customer's conversation, deflection, CSAT.

Every path is one transaction that starts with the replay guard (``first_delivery`` of the
MessageSid with status ``received``), so a webhook Twilio retries, or an attacker replays,
stores nothing twice; a crash before the commit leaves no guard row either, so Twilio's
retry is acted on. The customer is found by the number Twilio delivered from (a verified
phone identity); their open SMS conversation takes the message, else a new one starts.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from center.channels.sms import events as sms_events
from center.channels.sms import store
from center.channels.sms.joined import join_open
from center.channels.sms.keywords import Keyword, asks_for_agent, classify, rating
from center.channels.sms.outbound import SmsOptions, SmsOutbound
from center.channels.twilio import first_delivery
from center.channels.twilio.forms import SmsInbound
from center.channels.twilio.idempotency import seen
from center.interactions import InteractionError
from center.interactions import rows as irows
from center.records import customers, events
from center.records.base import utcnow
from center.records.enums import ActorKind, Channel, Direction, IdentityKind, InteractionState
from center.records.models import Interaction, Message

log = logging.getLogger(__name__)
S = InteractionState


class Replayed(InteractionError):
    def __init__(self) -> None:
        super().__init__("replayed", "this webhook was already handled")


class ConversationExists(InteractionError):
    def __init__(self) -> None:
        super().__init__("exists", "an open conversation appeared meanwhile")


class Inbound:
    """``receive(form)``: acting on a stored text (the inbox processor calls it for each
    row ``POST /twilio/sms`` stored, center/channels/sms/drain.py)."""

    def __init__(self, out: SmsOutbound) -> None:
        self.out = out
        self.service = out.service
        self.db = out.db

    @property
    def options(self) -> SmsOptions:
        return self.out.options

    async def receive(self, form: SmsInbound) -> str:
        """What happened (for logs and tests): stored, started, deflected, replayed …"""
        try:
            phone = customers.normalise(IdentityKind.PHONE, form.from_)
        except customers.InvalidIdentity:
            log.warning("sms %s from %r: not a phone number, ignored", form.message_sid, form.from_)
            return "ignored"
        meta: dict[str, Any] = {
            "sms": {"sid": form.message_sid, "from": phone, "to": form.to, "status": "received"},
            "media": [m.model_dump() for m in form.media],
        }
        body = form.body
        sid = form.message_sid
        keyword = classify(body, form.opt_out_type)
        if keyword is None and self.db.single_statement_steps:
            # The common text, the next one of an open conversation: one statement.
            async with self.db.statement() as c:
                joined = await join_open(c, phone, sid, body, meta, utcnow())
            if joined is not None:
                await self.service.inbound_stored(*joined)
                return "stored"
        # (A known number is one read; a new one's customer is then made, not looked for again.)
        async with self.db.read_step() as c:
            if await seen(c, form.message_sid, "received"):
                log.info("sms %s replayed: already stored", form.message_sid)
                return "replayed"
            found = await customers.owner(c, IdentityKind.PHONE, phone)
            customer_id = None if found is None else found.id
            known = None if customer_id is None else await store.open_conversation(c, customer_id)
        fresh = False  # (a customer made now: no conversation of theirs to look for)
        if customer_id is None:
            made, fresh = await customers.make_or_resolve(
                self.db, IdentityKind.PHONE, phone, via="sms"
            )
            customer_id = made.id

        async def guard(c: AsyncConnection) -> None:
            if not await first_delivery(c, sid, "received"):
                raise Replayed

        try:
            for attempt in range(3):
                if fresh and attempt == 0:
                    current = None
                else:
                    current = await self._current(customer_id, known if attempt == 0 else None)
                if keyword is not None:
                    return await self._keyword(
                        keyword, phone, customer_id, current, body, meta, guard
                    )
                try:
                    if current is None:
                        return await self._new(customer_id, phone, body, meta, guard)
                    return await self._join(current, phone, body, meta, guard)
                except ConversationExists:
                    continue
                except InteractionError as exc:
                    if exc.code != "closed":
                        raise
                    continue  # closed meanwhile: the next attempt starts a new one
            raise RuntimeError("sms conversation kept changing under an inbound message")
        except Replayed:
            log.info("sms %s replayed: already stored", sid)
            return "replayed"

    async def _current(
        self, customer_id: int, known: Interaction | None = None
    ) -> Interaction | None:
        current = known
        if current is None:
            async with self.db.read_step() as c:
                current = await store.open_conversation(c, customer_id)
        if current is None or current.state is not S.NEW:
            return current
        # Answered by the knowledge base and left there: past the window it is over.
        window = timedelta(seconds=self.options.deflection_window_s)
        if utcnow() - current.created_at < window:
            return current
        async with self.db.step() as c:
            i = await irows.interaction(c, current.id, lock=True)
            if i.state is S.NEW:
                await irows.set_interaction(c, i, state=S.DEFLECTED, ended_at=utcnow())
                await events.write(c, events.row(events.Deflected(article_ids=[]), interaction=i))
        return None

    # -- an ordinary message ----------------------------------------------------------------

    async def _new(
        self, customer_id: int, phone: str, body: str, meta: dict[str, Any], guard: Any
    ) -> str:
        if await self._csat_reply(customer_id, body, meta, guard):
            return "csat"
        answer = await self.out.kb_answer(body) if body.strip() else None
        where = self.out.place(body)

        async def before(c: AsyncConnection) -> None:
            await guard(c)
            # Two texts at once from a new customer: the second finds the first's
            # conversation here (the customer row serialises them) and joins it instead.
            await store.lock_customer(c, customer_id)
            if await store.open_conversation(c, customer_id) is not None:
                raise ConversationExists

        async def after(c: AsyncConnection, i: Interaction, m: Message) -> None:
            if answer is not None:
                await self.out.kb_reply(c, i, answer)

        await self.service.start(
            customer_id,
            Channel.SMS,
            body,
            queue=where.queue,
            priority=where.priority,
            suggested=[answer.article_id] if answer is not None else None,
            meta=meta,
            external_ref=phone,
            before=before,
            after=after if answer is not None else None,
        )
        if answer is not None:
            self.out.wake()  # (the answer's outbox row committed with the start)
        return "deflected" if answer is not None else "queued"

    async def _join(
        self, current: Interaction, phone: str, body: str, meta: dict[str, Any], guard: Any
    ) -> str:
        deflected = current.state is S.NEW
        answer = None
        if deflected and not asks_for_agent(body):
            answer = await self.out.kb_answer(body)

        async def after(c: AsyncConnection, i: Interaction, m: Message) -> None:
            if answer is not None and i.state is S.NEW:
                await self.out.kb_reply(c, i, answer)

        stored = await self.service.inbound(current.id, body, meta, before=guard, after=after)
        if answer is not None:
            self.out.wake()
        if deflected and answer is None:
            # Asked for a person, or a question the knowledge base cannot answer: queue.
            try:
                await self.service.enqueue(stored.interaction.id)
            except InteractionError as exc:
                if exc.code != "bad_state":  # (queued by a concurrent message meanwhile)
                    raise
            return "queued"
        return "deflected" if answer is not None else "stored"

    async def _csat_reply(
        self, customer_id: int, body: str, meta: dict[str, Any], guard: Any
    ) -> bool:
        score = rating(body)
        if score is None or not self.options.csat:
            return False
        async with self.db.step() as c:
            closed = await store.last_closed(c, customer_id)
            if closed is None:
                return False
            asked = await store.has_event(c, closed.id, sms_events.SmsEventType.CSAT_ASKED)
            window = timedelta(seconds=self.options.csat_window_s)
            if asked is None or utcnow() - asked > window:
                return False
            if await store.has_event(c, closed.id, sms_events.SmsEventType.CSAT) is not None:
                return False  # rated already: a new conversation
            await guard(c)
            m = await irows.insert_message(c, closed.id, Direction.INBOUND, body, meta=meta)
            await events.write(
                c,
                events.row(
                    events.MessageReceived(message_id=m.id, body=body),
                    interaction=closed,
                    actor_kind=ActorKind.CUSTOMER,
                ),
                events.row(
                    sms_events.CsatRated(rating=score, message_id=m.id),
                    interaction=closed,
                    actor_kind=ActorKind.CUSTOMER,
                ),
            )
        return True

    # -- STOP / START / HELP --------------------------------------------------------------

    async def _keyword(
        self,
        keyword: Keyword,
        phone: str,
        customer_id: int,
        current: Interaction | None,
        body: str,
        meta: dict[str, Any],
        guard: Any,
    ) -> str:
        def change() -> sms_events.Payload:
            if keyword is Keyword.STOP:
                return sms_events.OptedOut(phone=phone, keyword=body.strip().upper()[:32])
            if keyword is Keyword.START:
                return sms_events.OptedIn(phone=phone, keyword=body.strip().upper()[:32])
            return sms_events.HelpAsked(phone=phone)

        async def record(c: AsyncConnection, i: Interaction | None) -> None:
            # (Twilio itself answers these keywords and blocks/unblocks the number: we
            # mirror the block so nothing is even tried, and send no reply of our own.)
            if keyword is Keyword.STOP:
                await store.opt_out(c, phone, customer_id)
            elif keyword is Keyword.START:
                await store.opt_in(c, phone)
            await events.write(
                c,
                events.row(
                    change(),
                    interaction=i,
                    customer_id=customer_id,
                    actor_kind=ActorKind.CUSTOMER,
                ),
            )

        if current is not None:
            # In a conversation: the agent sees the message and the change.
            async def after(c: AsyncConnection, i: Interaction, m: Message) -> None:
                await record(c, i)

            try:
                stored = await self.service.inbound(
                    current.id, body, meta, before=guard, after=after
                )
            except InteractionError as exc:
                if exc.code != "closed":
                    raise
            else:
                await self.out.tell_opt(stored.interaction, keyword, phone)
                return keyword.value.lower()
        async with self.db.step() as c:
            await guard(c)
            await record(c, None)
        return keyword.value.lower()
