"""A call's walk from ringing to a queue: the IVR, the hold loop, callback, voicemail.

Each webhook is one short step: read the call (by CallSid), decide on the IVR's data, write
the change and its events in one transaction, hand the router what it needs, answer TwiML.
Nothing slow runs here: REST work (bridging, callbacks) is the ``Bridge``'s, in the
background, after the answer.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from center.channels.voice import events as ve
from center.channels.voice import new_call, store, twiml
from center.channels.voice.ivr import IvrConfig, Menu, Target, TargetKind, choose
from center.channels.voice.store import Role, Stage
from center.interactions import InteractionService
from center.interactions import rows as irows
from center.queue.keys import Keys
from center.records import customers, events
from center.records.base import utcnow
from center.records.enums import ActorKind, Channel, IdentityKind, InteractionState
from center.records.models import Event, Interaction, VoiceCall, VoiceLeg

log = logging.getLogger(__name__)
S = InteractionState
# The knowledge base's answer(): (question, locale) -> (article_id, text, confidence) | None.
ESTIMATE_TTL_S = 15.0
Answerer = Callable[[str, str | None], Awaitable[tuple[int, str, float] | None]]


@dataclass(frozen=True, slots=True)
class Found:
    leg: VoiceLeg
    call: VoiceCall
    interaction: Interaction


class VoiceCalls:
    def __init__(
        self,
        service: InteractionService,
        keys: Keys,
        ivr: IvrConfig,
        *,
        answer: Answerer | None = None,
    ) -> None:
        self.service = service
        self.db = service.db
        self.router = service.router
        self.keys = keys
        self.ivr = ivr
        self.answer = answer
        self._turns: dict[str, tuple[float, float | None]] = {}

    # -- lookups ---------------------------------------------------------------------------

    async def find(self, c: AsyncConnection, call_sid: str, *, lock: bool = False) -> Found | None:
        found = await store.leg_call_interaction(c, call_sid, lock=lock)
        return None if found is None else Found(*found)

    # -- a call comes in -------------------------------------------------------------------

    async def incoming(self, call_sid: str, from_: str, to: str, status: str) -> str:
        """``POST /twilio/voice``: the caller's interaction (in the IVR) and the greeting.

        A replay (Twilio retrying the same CallSid) is found by the leg's unique CallSid when
        the insert fails: the common case, a new call, costs no read before its one step."""
        cfg = self.ivr
        after_hours = cfg.hours is not None and not cfg.hours.open_at(utcnow())
        entry = cfg.menu(None)
        # No menu to choose from: inserted already where it goes (one step fewer), and
        # queued in the same step when there is room (two fewer).
        direct = (
            entry.default
            if not after_hours and not entry.options and entry.default.kind is TargetKind.QUEUE
            else None
        )
        queued = direct is not None and not await self._queue_full(direct.queue or "default")
        now = utcnow()
        queue = (direct.queue or "default") if direct else "default"
        priority = direct.priority if direct else 0
        stage = Stage.VOICEMAIL if after_hours else Stage.WAITING if direct else Stage.IVR
        started: list[tuple[events.Payload, ActorKind]] = [
            (events.InteractionStarted(channel=Channel.VOICE.value), ActorKind.CUSTOMER),
            (ve.CallStatus(call_sid, Role.CALLER.value, status), ActorKind.SYSTEM),
        ]
        if after_hours:
            started.append((ve.Overflow("after_hours"), ActorKind.SYSTEM))
        if queued:
            started.append((events.Queued(queue=queue, priority=priority), ActorKind.SYSTEM))
        plan = new_call.NewCall(
            interaction={
                "channel": Channel.VOICE, "state": S.QUEUED if queued else S.IVR,
                "queue": queue, "priority": priority, "external_ref": call_sid,
                "required_skills": dict(direct.skills) if direct else {},
                "language": cfg.languages[0], "queued_at": now if queued else None,
                "created_at": now,
            },
            call={
                "from_number": from_[:40], "to_number": to[:40], "language": cfg.languages[0],
                "stage": stage.value, "menu": cfg.entry, "answered_at": now, "created_at": now,
            },
            leg={"call_sid": call_sid, "role": Role.CALLER.value, "status": status,
                 "created_at": now},
            events=started,
        )  # fmt: skip
        try:
            stored = await new_call.write_call(self.db, _phone(from_), plan)
        except IntegrityError:  # a replay, or the same CallSid at the same moment: one call
            async with self.db.read_step() as c:
                known = await self.find(c, call_sid)
            return await self.resume(known) if known is not None else twiml.empty()
        i, call = stored.interaction, stored.call
        lang = call.language
        greeting = cfg.phrase("greeting", lang)
        if stored.caller_name:
            greeting += " " + cfg.phrase("known_caller", lang, name=stored.caller_name)
        if queued:
            position = await self.service.route_queued(i)
            return await self._hold_round(call, i, position, intro=greeting)
        if after_hours:
            target = cfg.after_hours
            if target.kind is TargetKind.VOICEMAIL:
                intro = f"{greeting} {cfg.phrase('after_hours', lang)}"
                return twiml.voicemail(cfg, lang, intro=intro)
            return await self._goto(call, i, target, cfg.menu(None), -1, intro=greeting)
        if not entry.options:  # nothing to choose: straight to where the menu leads
            return await self._goto(call, i, entry.default, entry, -1, intro=greeting)
        return twiml.menu(cfg, entry, lang, greeting=greeting)

    async def _queue_full(self, queue: str) -> bool:
        """Whether the overflow rule sends a new caller for this queue to voicemail."""
        limit = self.ivr.overflow.max_waiting
        if limit is None:
            return False
        ahead = await self.router.redis.zcard(self.keys.queue(queue, Channel.VOICE.value))
        return ahead >= limit

    # -- the menus -------------------------------------------------------------------------

    async def gathered(
        self, call_sid: str, menu_name: str, tries: int, digits: str | None, speech: str | None
    ) -> str:
        """``POST /twilio/voice/ivr``: a key or a phrase (or nothing) for a menu."""
        async with self.db.read_step() as c:
            found = await self.find(c, call_sid)
        if found is None:
            log.warning("IVR input for unknown call %s", call_sid)
            return twiml.empty()
        call, i = found.call, found.interaction
        if call.stage != Stage.IVR:
            return await self.resume(found)
        cfg = self.ivr
        menu = cfg.menus.get(menu_name) or cfg.menu(None)
        option = choose(menu, digits, speech)
        heard = (digits or speech or "").strip()[:80]
        if option is None:
            missed = "invalid" if heard else "no_input"
            if tries + 1 < cfg.max_tries:
                await self._log(i, ve.IvrChoice(menu.name, heard, missed, tries + 1))
                return twiml.menu(cfg, menu, call.language, tries=tries + 1, invalid=bool(heard))
            await self._log(i, ve.IvrChoice(menu.name, heard, "default", tries + 1))
            return await self._goto(call, i, menu.default, menu, -1)
        await self._log(i, ve.IvrChoice(menu.name, heard, option.target.describe(), tries))
        return await self._goto(call, i, option.target, menu, menu.options.index(option))

    async def _goto(
        self,
        call: VoiceCall,
        i: Interaction,
        target: Target,
        menu: Menu,
        option: int,
        *,
        intro: str | None = None,
    ) -> str:
        cfg, lang = self.ivr, call.language
        if target.kind is TargetKind.QUEUE:
            return await self.to_queue(call, i, target, intro=intro)
        if target.kind is TargetKind.VOICEMAIL:
            await self._set_stage(call, Stage.VOICEMAIL)
            text = target.prompt.text(lang) if target.prompt else cfg.phrase("voicemail", lang)
            return twiml.voicemail(cfg, lang, intro=" ".join(x for x in (intro, text) if x))
        if target.kind is TargetKind.KB:
            text = target.prompt.text(lang) if target.prompt else cfg.phrase("kb_question", lang)
            prompt = " ".join(x for x in (intro, text) if x)
            return twiml.kb_question(cfg, lang, prompt=prompt, menu_name=menu.name, option=option)
        if target.kind is TargetKind.LANGUAGE and target.language:
            async with self.db.step() as c:
                await store.set_call(c, call, language=target.language)
                await irows.set_interaction(c, i, language=target.language)
            lang = target.language
        sub = cfg.menus[target.menu] if target.menu else menu
        return twiml.menu(cfg, sub, lang, greeting=intro)

    async def kb_asked(self, call_sid: str, menu_name: str, option: int, speech: str | None) -> str:
        """``POST /twilio/voice/ivr/kb``: the spoken question; the KB's answer read out, or
        (no confident answer) the option's queue."""
        async with self.db.read_step() as c:
            found = await self.find(c, call_sid)
        if found is None:
            return twiml.empty()
        call, i = found.call, found.interaction
        if call.stage != Stage.IVR:
            return await self.resume(found)
        cfg, lang = self.ivr, call.language
        target = self._kb_target(menu_name, option)
        question = (speech or "").strip()[:500]
        found_answer = None
        if question and self.answer is not None:
            try:
                found_answer = await self.answer(question, lang.split("-")[0].lower())
            except Exception:  # the KB failing must not drop the call: an agent instead
                log.exception("knowledge-base answer failed")
        if found_answer is None:
            await self._log(i, ve.KbAnswer(question, None, None))
            fallback = target.fallback if target else None
            intro = cfg.phrase("kb_no_answer", lang)
            if fallback is None:
                return twiml.say_and_hang_up(cfg, lang, cfg.phrase("goodbye", lang))
            return await self.to_queue(call, i, fallback, intro=intro)
        article_id, text, confidence = found_answer
        await self._log(i, ve.KbAnswer(question, article_id, confidence))
        return twiml.kb_answer(cfg, lang, text=text, menu_name=menu_name, option=option)

    async def kb_agent(self, call_sid: str, menu_name: str, option: int, digits: str | None) -> str:
        """``POST /twilio/voice/ivr/agent``: after an answer, 1 for an agent."""
        async with self.db.read_step() as c:
            found = await self.find(c, call_sid)
        if found is None:
            return twiml.empty()
        call, i = found.call, found.interaction
        target = self._kb_target(menu_name, option)
        if call.stage != Stage.IVR:
            return await self.resume(found)
        if (digits or "").strip() == "1" and target is not None and target.fallback is not None:
            return await self.to_queue(call, i, target.fallback)
        return twiml.say_and_hang_up(
            self.ivr, call.language, self.ivr.phrase("goodbye", call.language)
        )

    def _kb_target(self, menu_name: str, option: int) -> Target | None:
        menu = self.ivr.menus.get(menu_name)
        if menu is None or not 0 <= option < len(menu.options):
            return None
        target = menu.options[option].target
        return target if target.kind is TargetKind.KB else None

    # -- waiting ---------------------------------------------------------------------------

    async def to_queue(
        self, call: VoiceCall, i: Interaction, target: Target, *, intro: str | None = None
    ) -> str:
        """Into the queue (or to voicemail when it is full), then the first hold round."""
        cfg, lang = self.ivr, call.language
        queue = target.queue or "default"
        if await self._queue_full(queue):
            async with self.db.step() as c:
                await store.set_call(c, call, stage=Stage.VOICEMAIL.value)
                await events.write(c, events.row(ve.Overflow("queue_full", queue), interaction=i))
            return twiml.voicemail(cfg, lang, intro=cfg.phrase("overflow", lang))
        wanted = (queue, target.priority, dict(target.skills), Stage.WAITING.value)
        if (i.queue, i.priority, i.required_skills, call.stage) != wanted:
            async with self.db.step() as c:
                await irows.set_interaction(
                    c, i, queue=queue, priority=target.priority, required_skills=wanted[2]
                )
                await store.set_call(c, call, stage=Stage.WAITING.value)
        position = await self.service.enqueue(i.id)
        return await self._hold_round(call, i, position, intro=intro)

    async def hold(self, call_sid: str) -> str:
        """``POST /twilio/voice/hold``: the next round of the hold loop."""
        async with self.db.read_step() as c:
            found = await self.find(c, call_sid)
        if found is None:
            log.warning("hold round for unknown call %s", call_sid)
            return twiml.empty()
        call, i = found.call, found.interaction
        if call.stage != Stage.WAITING or not i.state.is_waiting:
            return await self.resume(found)
        waited = (utcnow() - (i.queued_at or i.created_at)).total_seconds()
        max_wait = self.ivr.overflow.max_wait_s
        if max_wait is not None and waited >= max_wait:
            return await self._overflow(call, i, "waited_too_long")
        return await self._hold_round(call, i, await self._position(i))

    async def _position(self, i: Interaction) -> int:
        rank = await self.router.redis.zrank(self.keys.queue(i.queue, i.channel.value), i.id)
        return 1 if rank is None else int(rank) + 1  # (None: being offered right now)

    async def _hold_round(
        self, call: VoiceCall, i: Interaction, position: int, *, intro: str | None = None
    ) -> str:
        minutes = await self._estimate_minutes(i, position)
        return twiml.hold(self.ivr, call.language, position=position, minutes=minutes, intro=intro)

    async def _estimate_minutes(self, i: Interaction, position: int) -> int | None:
        """The mean wait of the queue's last answered calls, scaled by the position: the
        caller at position N waits roughly N times a turn. None without history."""
        per_turn = await self._per_turn(i.queue)
        if per_turn is None:
            return None
        return max(1, math.ceil(per_turn * position / 60))

    async def _per_turn(self, queue: str) -> float | None:
        """(Kept for ESTIMATE_TTL_S per queue: every hold round of every caller asks.)"""
        now = time.monotonic()
        cached = self._turns.get(queue)
        if cached is not None and now - cached[0] < ESTIMATE_TTL_S:
            return cached[1]
        async with self.db.read() as s:
            waits = (
                await s.scalars(
                    select(Event.data)
                    .join(Interaction, Interaction.id == Event.interaction_id)
                    .where(
                        Event.type == events.EventType.ACCEPTED.value,
                        Interaction.channel == Channel.VOICE,
                        Interaction.queue == queue,
                    )
                    .order_by(Event.id.desc())
                    .limit(20)
                )
            ).all()
        values = [float(d.get("wait_s") or 0) for d in waits]
        per_turn = sum(values) / len(values) if values else None
        self._turns[queue] = (now, per_turn)
        return per_turn

    async def hold_key(self, call_sid: str, from_: str, digits: str | None) -> str:
        """``POST /twilio/voice/hold/key``: the callback key keeps the place and hangs up."""
        async with self.db.read_step() as c:
            found = await self.find(c, call_sid)
        if found is None:
            return twiml.empty()
        call, i = found.call, found.interaction
        cfg, lang = self.ivr, call.language
        if call.stage != Stage.WAITING or not i.state.is_waiting:
            return await self.resume(found)
        if cfg.callback_digit and (digits or "").strip() == cfg.callback_digit:
            number = _phone(from_)  # (a withheld number cannot be called back: keep holding)
            if number is not None:
                position = await self._position(i)
                async with self.db.step() as c:
                    await store.set_call(
                        c, call, stage=Stage.CALLBACK.value, callback_number=number
                    )
                    await events.write(
                        c,
                        events.row(
                            ve.CallbackRequested(number, position),
                            interaction=i,
                            actor_kind=ActorKind.CUSTOMER,
                        ),
                    )
                return twiml.say_and_hang_up(cfg, lang, cfg.phrase("callback_confirmed", lang))
        return await self._hold_round(call, i, await self._position(i))

    async def _overflow(self, call: VoiceCall, i: Interaction, reason: str) -> str:
        """Out of the queue to voicemail (the interaction ends with the message)."""
        try:
            await self.router.remove(i.id)
        except Exception as exc:  # offered or assigned meanwhile: let routing win
            log.info("overflow of %s skipped: %s", i.id, exc)
            return await self._hold_round(call, i, 1)
        async with self.db.step() as c:
            await irows.set_interaction(c, i, state=S.IVR)
            await store.set_call(c, call, stage=Stage.VOICEMAIL.value)
            await events.write(c, events.row(ve.Overflow(reason, i.queue), interaction=i))
        return twiml.voicemail(
            self.ivr, call.language, intro=self.ivr.phrase("overflow", call.language)
        )

    # -- helpers ---------------------------------------------------------------------------

    async def resume(self, found: Found) -> str:
        """What to answer for a call already past the step asked about (replays, races)."""
        call, cfg = found.call, self.ivr
        if call.stage == Stage.BRIDGED:
            return twiml.bridge(cfg, call.language, conference=call.conference)
        if call.stage == Stage.WAITING and found.interaction.state.is_waiting:
            return await self._hold_round(
                call, found.interaction, await self._position(found.interaction)
            )
        if call.stage == Stage.IVR:
            return twiml.menu(cfg, cfg.menu(call.menu), call.language)
        if call.stage == Stage.VOICEMAIL:
            return twiml.voicemail(cfg, call.language, intro=cfg.phrase("voicemail", call.language))
        return twiml.empty()

    async def _set_stage(self, call: VoiceCall, stage: Stage) -> None:
        async with self.db.step() as c:
            await store.set_call(c, call, stage=stage.value)

    async def _log(self, i: Interaction, payload: events.Payload) -> None:
        async with self.db.step() as c:
            await events.write(c, events.row(payload, interaction=i, actor_kind=ActorKind.CUSTOMER))


def _phone(from_: str) -> str | None:
    """The caller's number normalised (Twilio delivered it: verified); None for a withheld
    or non-phone caller (anonymous, client:...), who is a new customer."""
    try:
        return customers.normalise(IdentityKind.PHONE, from_)
    except customers.InvalidIdentity:
        return None
