"""Messages out: the agent's reply step, the knowledge base's answer, the CSAT question, the
outbox sender (the official client) and Twilio's status callbacks.

Every outbound SMS is a Message row and an outbox row written in one transaction; the
outbox worker sends it with ``SmsSender`` (``messages.create`` with a status callback that
names our message, ``/twilio/sms/status?m=<id>``, so a callback finds its message even
before the send's result is recorded). Never twice: the sender first looks for a Twilio
SID already recorded on the message (by the send's result or by a status callback), and on a
retry asks Twilio's API for a message to that number with that body since the row was
created, adopting it instead of sending again. An opted-out number is refused in the agent's
step (a clear error, nothing stored) and again by the sender.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncConnection
from twilio.base.exceptions import TwilioException, TwilioRestException

from center.channels.base import CustomerNotice
from center.channels.sms import events as sms_events
from center.channels.sms import status_step, store
from center.channels.sms.keywords import Keyword
from center.channels.twilio import TwilioRest, first_delivery
from center.channels.twilio.forms import MAX_BODY, SmsStatus
from center.interactions import InteractionError, InteractionService
from center.interactions import rows as irows
from center.knowledge_base.search import Answer, answer
from center.notices import AGENT_NAMESPACE, agent_room
from center.outbox import Item, OutboxKind, PermanentSendError, RetryableSendError, enqueue
from center.queue.placement import Placement, PlacementRules, place
from center.records import events
from center.records.db import Database
from center.records.enums import Channel, Direction
from center.records.models import Interaction, Message

log = logging.getLogger(__name__)
# Twilio's "Attempt to send to unsubscribed recipient": they texted STOP to Twilio.
UNSUBSCRIBED = 21610
AGENT_HINT = "Reply AGENT for a person."
CSAT_QUESTION = "Thanks for contacting us. How did we do? Reply 1 (poor) to 5 (great)."
STATUS_PATH = "/twilio/sms/status"


@dataclass(frozen=True)
class SmsOptions:
    deflection: bool = True
    deflection_window_s: float = 86_400.0
    csat: bool = False
    csat_window_s: float = 86_400.0


def opted_out_error(phone: str) -> InteractionError:
    return InteractionError(
        "opted_out",
        f"{phone} has opted out of SMS (texted STOP): nothing can be sent to this number "
        "until the customer texts START",
    )


class SmsOutbound:
    def __init__(
        self,
        service: InteractionService,
        db: Database,
        rest: TwilioRest,
        options: SmsOptions,
        *,
        placement: PlacementRules | None = None,
        wake: Any = None,
    ) -> None:
        self.service = service
        self.db = db
        self.rest = rest
        self.options = options
        self.placement = placement or PlacementRules()
        self.wake = wake or (lambda: None)  # the outbox worker's wake (set at app build)

    # -- where and what -------------------------------------------------------------------

    def place(self, body: str) -> Placement:
        return place(self.placement, channel=Channel.SMS, text=body)

    async def kb_answer(self, body: str) -> Answer | None:
        if not self.options.deflection:
            return None
        try:
            return await answer(self.db, body)
        except Exception:  # the knowledge base must never lose the customer's message
            log.exception("knowledge-base answer for an SMS failed")
            return None

    # -- steps (inside a transaction) -----------------------------------------------------

    async def queue_send(self, c: AsyncConnection, i: Interaction, m: Message, to: str) -> None:
        outbox_id = await enqueue(
            c,
            OutboxKind.SMS,
            {"message_id": m.id, "to": to, "body": m.body},
            key=f"sms:{m.id}",
            customer_id=i.customer_id,
            interaction_id=i.id,
            ticket_id=i.ticket_id,
            message_id=m.id,
        )
        # (The outbox row's id: the console's Resend of a failed text names it. Written
        # after enqueue, so with the delivery enqueue recorded; the transient row the
        # caller answers with says what the record now says.)
        m.meta = {
            **(m.meta or {}),
            "sms": {"to": to, "status": None, "outbox_id": outbox_id},
            "delivery": {"status": "queued", "attempts": 0},
        }
        await store.set_meta(c, m.id, m.meta)

    async def agent_reply(self, c: AsyncConnection, i: Interaction, m: Message) -> None:
        """``service.outbound_steps[SMS]``: refuse an opted-out number, else queue the send."""
        to = i.external_ref
        if not to:
            raise InteractionError("no_number", "this SMS conversation has no customer number")
        if await store.opted_out(c, to):
            raise opted_out_error(to)
        if len(m.body) > MAX_BODY:
            # (Twilio splits long texts itself, up to this; past it the API refuses: 21617.)
            raise InteractionError("too_long", f"an SMS can be at most {MAX_BODY} characters")
        await self.queue_send(c, i, m, to)

    async def _system_message(self, c: AsyncConnection, i: Interaction, body: str) -> Message:
        m = await irows.insert_message(c, i.id, Direction.OUTBOUND, body)
        if i.external_ref and not await store.opted_out(c, i.external_ref):
            await self.queue_send(c, i, m, i.external_ref)
        return m

    async def kb_reply(self, c: AsyncConnection, i: Interaction, a: Answer) -> None:
        body = f"{a.text}\n\n{a.url}\n\n{AGENT_HINT}" if a.url else f"{a.text}\n\n{AGENT_HINT}"
        m = await self._system_message(c, i, body)
        await events.write(
            c,
            events.row(
                sms_events.KbAnswered(
                    article_id=a.article_id, confidence=a.confidence, message_id=m.id, body=body
                ),
                interaction=i,
            ),
        )

    # -- the channel adapter (after commit) -----------------------------------------------

    channel = Channel.SMS

    async def deliver(self, interaction: Interaction, message: Message, agent_name: str) -> None:
        self.wake()  # the outbox row was committed with the message

    async def notify(
        self, interaction: Interaction, notice: CustomerNotice, data: dict[str, Any]
    ) -> None:
        # (Queue position, "agent joined" and typing are chat niceties: texting them would
        # cost the customer messages.) Closed: the optional satisfaction question. (A
        # knowledge-base answer committed with a conversation's start is woken for by the
        # step that wrote it: waking here too cost a read of the outbox per conversation.)
        if notice is CustomerNotice.CLOSED and self.options.csat:
            await self._ask_csat(interaction.id)

    async def _ask_csat(self, interaction_id: int) -> None:
        async with self.db.step() as c:
            i = await irows.interaction(c, interaction_id)
            if not i.external_ref or await store.opted_out(c, i.external_ref):
                return
            m = await self._system_message(c, i, CSAT_QUESTION)
            asked = sms_events.CsatAsked(message_id=m.id, body=m.body)
            await events.write(c, events.row(asked, interaction=i))
        self.wake()

    async def tell(self, agent_id: int | None, event: str, data: dict[str, Any]) -> None:
        if agent_id is not None:
            await self.service.bus.sio.emit(
                event, data, room=agent_room(agent_id), namespace=AGENT_NAMESPACE
            )

    async def tell_opt(self, i: Interaction, keyword: Keyword, phone: str) -> None:
        await self.tell(
            i.agent_id,
            "sms_keyword",
            {"interaction_id": i.id, "keyword": keyword.value, "phone": phone},
        )

    # -- status callbacks -----------------------------------------------------------------

    async def status(self, form: SmsStatus, message_id: int | None) -> str:
        """A status callback: the message's Twilio status moves on, one event per status."""
        if message_id is None:
            log.warning(
                "sms status %s for %s: no message named, ignored", form.status, form.message_sid
            )
            return "unknown"
        if self.db.single_statement_steps and form.error_code != UNSUBSCRIBED:
            async with self.db.statement() as c:
                done = await status_step.record(
                    c, message_id, form.message_sid, form.status.value, form.error_code
                )
            if done is not None:  # (else not the plain case: the step below decides)
                if not done.fresh:
                    return "replayed"
                return await self._status_told(done.message, done.interaction, done.sms)
        async with self.db.step() as c:
            found = await store.message_and_interaction(c, message_id)
            m, i = found if found is not None else (None, None)
            sms = dict((m.meta or {}).get("sms") or {}) if m is not None else {}
            if (
                m is None
                or i is None
                or m.direction is not Direction.OUTBOUND
                or sms.get("sid") not in (None, form.message_sid)
            ):
                log.warning(
                    "sms status %s for unknown MessageSid %s (message %s), ignored",
                    form.status,
                    form.message_sid,
                    message_id,
                )
                return "unknown"
            if not await first_delivery(c, form.message_sid, form.status.value):
                return "replayed"
            sms["sid"] = form.message_sid
            if store.advanced(sms.get("status"), form.status.value):
                sms["status"] = form.status.value
                sms["error_code"] = form.error_code
            await store.set_meta(c, m.id, {**(m.meta or {}), "sms": sms})
            written = [
                events.row(
                    sms_events.StatusChanged(
                        message_id=m.id,
                        sid=form.message_sid,
                        status=form.status.value,
                        error_code=form.error_code,
                    ),
                    interaction=i,
                )
            ]
            if form.error_code == UNSUBSCRIBED and sms.get("to"):
                await store.opt_out(c, sms["to"], i.customer_id)
                written.append(
                    events.row(
                        sms_events.OptedOut(phone=sms["to"], keyword=f"error {UNSUBSCRIBED}"),
                        interaction=i,
                    )
                )
            await events.write(c, *written)
        return await self._status_told(m, i, sms)

    async def _status_told(self, m: Message, i: Interaction, sms: dict[str, Any]) -> str:
        await self.tell(
            m.author_id or i.agent_id,
            "sms_status",
            {
                "interaction_id": i.id,
                "message_id": m.id,
                "status": sms["status"],
                "error_code": sms.get("error_code"),
            },
        )
        return "updated"


class SmsSender:
    """The outbox's sender for ``OutboxKind.SMS``: the official async client."""

    # A retry after a crash is safe: ``send`` adopts a message Twilio already has.
    idempotent = True

    def __init__(self, out: SmsOutbound) -> None:
        self.out = out

    @property
    def rest(self) -> TwilioRest:
        return self.out.rest

    async def send(self, item: Item) -> dict[str, Any]:
        p = item.payload
        to, body, message_id = str(p["to"]), str(p["body"]), int(p["message_id"])
        async with self.out.db.read_step() as c:
            if await store.opted_out(c, to):
                raise PermanentSendError(f"{to} has opted out of SMS (texted STOP)")
            m = await store.message(c, message_id)
        sid = ((m.meta or {}).get("sms") or {}).get("sid") if m is not None else None
        if sid:
            return {"sid": sid, "adopted": True}
        settings = self.rest.settings
        if item.attempts > 1:
            found = await self._already_sent(to, body, item)
            if found is not None:
                await self._record_sid(message_id, found)
                return {"sid": found, "adopted": True}
        try:
            created = await self.rest.account.messages.create_async(
                to=to,
                from_=settings.number,
                body=body,
                status_callback=settings.public(f"{STATUS_PATH}?m={message_id}"),
            )
        except TwilioRestException as exc:
            reason = f"Twilio {exc.status} error {exc.code}: {exc.msg}"
            if exc.status >= 500 or exc.status == 429:
                raise RetryableSendError(reason) from None
            if exc.code == UNSUBSCRIBED:
                async with self.out.db.step() as c:
                    await store.opt_out(c, to, item.customer_id)
            raise PermanentSendError(reason) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Nothing may have reached Twilio, or it may have: the retry looks first.
            raise RetryableSendError(f"Twilio unreachable: {exc!r}") from None
        await self._record_sid(message_id, created.sid)
        return {"sid": created.sid, "status": created.status}

    async def _already_sent(self, to: str, body: str, item: Item) -> str | None:
        """A message to ``to`` with this body Twilio created since the row was (a send
        whose answer never came back)."""
        try:
            recent = await self.rest.account.messages.list_async(
                to=to,
                from_=self.rest.settings.number,
                date_sent_after=item.created_at - timedelta(minutes=1),
                limit=50,
            )
        except TwilioException as exc:  # (a page that failed: TwilioException, not Rest…)
            raise RetryableSendError(f"Twilio could not list messages: {exc}") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableSendError(f"Twilio unreachable: {exc!r}") from None
        return next((r.sid for r in recent if r.body == body), None)

    async def _record_sid(self, message_id: int, sid: str) -> None:
        async with self.out.db.step() as c:
            m = await store.message_for_update(c, message_id)
            if m is None:
                return
            sms = dict((m.meta or {}).get("sms") or {})
            if sms.get("sid"):
                return
            sms["sid"] = sid
            if sms.get("status") is None:
                sms["status"] = "queued"
            await store.set_meta(c, message_id, {**(m.meta or {}), "sms": sms})
