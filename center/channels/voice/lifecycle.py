"""Twilio's callbacks about a call: statuses, recordings, the conference, the survey.

Every callback is idempotent by (Sid, status) through the common layer's ``first_delivery``
in the step that records it: a replay finds its pair and changes nothing. A leg we dial has
its row before the request, and its status callback URL names the row (``?leg=<id>``,
signed with the URL): a callback that arrives before Twilio's answer to the request fills
in the CallSid and is recorded. An unknown CallSid is logged and answered 200 (Twilio
would retry anything else).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from center.channels.twilio import first_delivery
from center.channels.voice import events as ve
from center.channels.voice import status_step, store, twiml
from center.channels.voice.calls import VoiceCalls
from center.channels.voice.store import Role, Stage
from center.interactions import rows as irows
from center.records import events
from center.records.base import utcnow
from center.records.enums import ActorKind, Direction, InteractionState
from center.records.models import Event, Interaction, Message, VoiceCall, VoiceLeg

log = logging.getLogger(__name__)
S = InteractionState
FINAL = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
# Makes the voicemail's ticket in the step that records the voicemail: (conn, call,
# interaction, the voicemail's message) -> ticket id.
TicketMaker = Callable[[AsyncConnection, VoiceCall, Interaction, Message], Awaitable[int | None]]
# Tells the consoles about a change of a call (the Bridge emits ``call`` events).
Notifier = Callable[[VoiceCall, Interaction], Awaitable[None]]


class Lifecycle:
    def __init__(self, calls: VoiceCalls) -> None:
        self.calls = calls
        self.db = calls.db
        self.service = calls.service
        self.make_ticket: TicketMaker | None = None
        self.notify: Notifier | None = None
        # The assigned agent's leg ended: never answered (the call goes back to its queue)
        # or hung up (the call ends); decided in setup, run in the background.
        self.agent_leg_ended: (
            Callable[[VoiceLeg, VoiceCall, Interaction], Awaitable[None]] | None
        ) = None

    async def status(
        self,
        call_sid: str,
        status: str,
        duration: int | None,
        *,
        leg_id: int | None = None,
        to: str = "",
    ) -> None:
        """``POST /twilio/voice/status``: one leg's status; a customer leg ending decides
        what becomes of the interaction."""
        final = status in FINAL
        if self.db.single_statement_steps:  # (the common case: a leg known by its CallSid)
            async with self.db.statement() as c:
                now = utcnow()
                done = await status_step.record(c, call_sid, status, duration, now, final=final)
            if done is not None:
                if done.fresh:  # (else a replay)
                    await self._status_recorded(done.leg, done.call, done.interaction, final)
                return
        async with self.db.step() as c:
            found = await self.calls.find(c, call_sid, lock=True)
            filled = False
            if found is None and leg_id is not None:  # before the answer to the request
                filled = await store.fill_sid(c, leg_id, call_sid)
                if filled:
                    found = await self.calls.find(c, call_sid, lock=True)
            if found is None:
                log.warning("status %s for unknown call %s: ignored", status, call_sid)
                return
            if not await first_delivery(c, call_sid, status):
                return  # a replay
            leg, call, i = found.leg, found.call, found.interaction
            if filled and leg.role == Role.AGENT.value and leg.user_id is not None:
                await events.write(  # (the dial's own answer finds the CallSid taken)
                    c, events.row(ve.Bridged(leg.user_id, call_sid, to), interaction=i)
                )
            now = utcnow()
            await store.set_leg(
                c, leg, status=status, duration_s=duration, ended_at=now if final else None
            )
            if final and Role(leg.role).is_customer:
                await store.set_call(c, call, duration_s=duration, ended_at=now)
            await events.write(
                c, events.row(ve.CallStatus(call_sid, leg.role, status, duration), interaction=i)
            )
        await self._status_recorded(leg, call, i, final)

    async def _status_recorded(
        self, leg: VoiceLeg, call: VoiceCall, i: Interaction, final: bool
    ) -> None:
        """After a status's commit: a leg that ended decides, then the consoles are told."""
        if final:
            await self._leg_ended(leg, call, i)
        if self.notify is not None and (i.agent_id is not None or leg.role != Role.CALLER.value):
            await self.notify(call, i)  # (a console watches it: its agent, supervisors)

    async def _leg_ended(self, leg: VoiceLeg, call: VoiceCall, i: Interaction) -> None:
        role, stage = Role(leg.role), Stage(call.stage)
        if role is Role.AGENT:
            if self.agent_leg_ended is not None and i.agent_id == leg.user_id:
                await self.agent_leg_ended(leg, call, i)
            return
        if not role.is_customer:
            return
        if role is Role.CALLER and stage in (Stage.CALLBACK, Stage.VOICEMAIL):
            return  # keeps the place for the callback / the recording is on its way
        if role is Role.CALLBACK and stage is not Stage.BRIDGED:
            return
        if stage is Stage.IVR and await self._answered_by_kb(i):
            await self._deflected(i)
            return
        if i.state.is_open and i.state is not S.WRAP_UP:
            await self.service.customer_gone(i.id)
        async with self.db.step() as c:
            await store.set_call(c, call, stage=Stage.ENDED.value)

    async def _answered_by_kb(self, i: Interaction) -> bool:
        async with self.db.read() as s:
            rows = await s.scalars(
                select(Event.data).where(
                    Event.interaction_id == i.id, Event.type == ve.VoiceEventType.KB_ANSWER.value
                )
            )
            return any(d.get("article_id") for d in rows)

    async def _deflected(self, i: Interaction) -> None:
        """Heard an article's answer and hung up without asking for an agent."""
        async with self.db.step() as c:
            i = await irows.interaction(c, i.id, lock=True)
            if i.state is not S.IVR:
                return
            await irows.set_interaction(c, i, state=S.DEFLECTED, ended_at=utcnow())
            await events.write(
                c,
                events.row(
                    events.Deflected(article_ids=[]),
                    interaction=i,
                    actor_kind=ActorKind.CUSTOMER,
                ),
            )

    async def recording(
        self,
        call_sid: str | None,
        conference_sid: str | None,
        recording_sid: str,
        url: str,
        status: str,
        duration: int | None,
        *,
        voicemail: bool,
    ) -> None:
        """``POST /twilio/voice/recording``: a voicemail (-> a ticket, the interaction
        closed) or the call's recording, on the interaction and the timeline."""
        if voicemail:
            if status == "completed" and call_sid:
                await self.voicemail(call_sid, recording_sid, url, duration)
            return
        async with self.db.step() as c:
            call: VoiceCall | None = None
            if call_sid:
                found = await self.calls.find(c, call_sid, lock=True)
                call = found.call if found is not None else None
            if call is None and conference_sid:
                call = await store.call_by_conference_sid(c, conference_sid)
            if call is None:
                log.warning("recording %s for an unknown call: ignored", recording_sid)
                return
            if status != "completed" or not await first_delivery(c, recording_sid, status):
                return
            i = await irows.interaction(c, call.interaction_id, lock=True)
            media = f"{url}.mp3"
            await store.set_call(
                c,
                call,
                recording_sid=recording_sid,
                recording_url=media,
                recording_duration_s=duration,
            )
            await events.write(
                c, events.row(ve.Recording(recording_sid, media, duration), interaction=i)
            )

    async def voicemail(
        self, call_sid: str, recording_sid: str, url: str, duration: int | None
    ) -> None:
        """A voicemail is recorded: the message, its ticket, the interaction closed, all
        in one step. Both ``<Record>``'s action request and the recording's status callback
        carry it, so whichever arrives first makes it (the guard: the recording's sid in
        ``first_delivery``) and the other only fills in what is missing: a lost callback
        loses no voicemail, and both make one ticket and one set of events."""
        async with self.db.step() as c:
            found = await self.calls.find(c, call_sid, lock=True)
            if found is None:
                log.warning("voicemail %s for an unknown call: ignored", recording_sid)
                return
            call, media = found.call, f"{url}.mp3"
            if not await first_delivery(c, recording_sid, "voicemail"):
                if call.recording_sid == recording_sid and call.recording_duration_s is None:
                    await store.set_call(c, call, recording_duration_s=duration)
                return
            i = await irows.interaction(c, call.interaction_id, lock=True)
            await store.set_call(
                c,
                call,
                recording_sid=recording_sid,
                recording_url=media,
                recording_duration_s=duration,
            )
            body = f"Voicemail from {call.from_number} ({duration or 0} s): {media}"
            m = await irows.insert_message(
                c,
                i.id,
                Direction.INBOUND,
                body,
                meta={
                    "voicemail": {
                        "url": media,
                        "recording_sid": recording_sid,
                        "duration_s": duration,
                    }
                },
            )
            ticket_id = None
            if self.make_ticket is not None:
                ticket_id = await self.make_ticket(c, call, i, m)
                if ticket_id is not None:
                    await store.set_call(c, call, ticket_id=ticket_id)
                    await irows.set_interaction(c, i, ticket_id=ticket_id)
            written = [
                events.row(
                    ve.Voicemail(recording_sid, media, duration, ticket_id),
                    interaction=i,
                    actor_kind=ActorKind.CUSTOMER,
                )
            ]
            if i.state.is_open and i.state in (S.IVR, S.NEW):
                await irows.set_interaction(
                    c, i, state=S.CLOSED, ended_at=utcnow(), disposition="voicemail"
                )
                written.append(events.row(events.Closed(handle_s=None), interaction=i))
            await store.set_call(c, call, stage=Stage.ENDED.value)
            await events.write(c, *written)

    async def conference(self, conference_sid: str, name: str, event: str) -> None:
        """``POST /twilio/voice/conference``: remember the conference's sid (participant
        updates address it by sid)."""
        if event not in ("conference-start", "participant-join"):
            return
        async with self.db.step() as c:
            call = await store.call_by_conference(c, name)
            if call is None:
                log.info("conference event for unknown conference %r", name)
                return
            if call.conference_sid != conference_sid:
                await store.set_call(c, call, conference_sid=conference_sid)

    async def after_dial(self, call_sid: str) -> str:
        """``POST /twilio/voice/after``: the conference ended with the caller still on the
        line (the agent ended the call): the survey, or goodbye."""
        async with self.db.read_step() as c:
            found = await self.calls.find(c, call_sid)
        if found is None:
            return twiml.empty()
        call, cfg = found.call, self.calls.ivr
        if call.stage in (Stage.WAITING.value, Stage.BRIDGED.value) and found.interaction.state in (
            S.QUEUED,
            S.OFFERED,
        ):
            return await self.calls.resume(found)  # transferred back to a queue
        if cfg.csat and call.csat is None:
            async with self.db.step() as c:
                await store.set_call(c, call, stage=Stage.SURVEY.value)
            return twiml.survey(cfg, call.language)
        return twiml.say_and_hang_up(cfg, call.language, cfg.phrase("goodbye", call.language))

    async def csat(self, call_sid: str, digits: str | None) -> str:
        """``POST /twilio/voice/csat``: a score 1..5 on the interaction's call."""
        async with self.db.step() as c:
            found = await self.calls.find(c, call_sid, lock=True)
            if found is None:
                return twiml.empty()
            call, i, cfg = found.call, found.interaction, self.calls.ivr
            score = (digits or "").strip()
            if len(score) != 1 or score not in "12345":
                return twiml.survey(cfg, call.language)
            if call.csat is None:
                await store.set_call(c, call, csat=int(score))
                await events.write(
                    c,
                    events.row(ve.Csat(int(score)), interaction=i, actor_kind=ActorKind.CUSTOMER),
                )
        return twiml.say_and_hang_up(cfg, call.language, cfg.phrase("csat_thanks", call.language))

    async def callback_answered(self, call_id: int) -> str:
        """``POST /twilio/voice/callback``: the customer picked up our callback."""
        async with self.db.read_step() as c:
            call = await store.call_by_id(c, call_id)
        if call is None or call.stage != Stage.BRIDGED.value:
            return twiml.empty()
        cfg = self.calls.ivr
        intro = cfg.phrase("callback_intro", call.language)
        return twiml.bridge(cfg, call.language, conference=call.conference, intro=intro)
