"""The conference and everything done to it through Twilio's REST API: bridging an
assigned call, the callback, hold, transfers, supervisors' listen / whisper / barge.

Each action is REST requests through the official async client (``app[TWILIO]``), then
the record of what Twilio accepted (legs, stage, events) in one step. A Twilio error
(4xx/5xx, or no answer) is logged, written on the timeline (``call.rest_error``) and
raised as ``VoiceError`` for the console, which shows it; nothing crashes. Bridging runs
in the background (it is started by the router's accept, not by a webhook): its errors
reach the agent as a ``call_error`` event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioRestException

from center.channels.twilio import TwilioRest, TwilioSettings
from center.channels.voice import events as ve
from center.channels.voice import store, twiml
from center.channels.voice.ivr import IvrConfig
from center.channels.voice.store import Role, Stage
from center.interactions import rows as irows
from center.outbox import OutboxKind, PermanentSendError, RetryableSendError, enqueue
from center.records import events
from center.records.db import Database
from center.records.enums import ActorKind
from center.records.models import Interaction, User, VoiceCall, VoiceLeg

log = logging.getLogger(__name__)
LEG_EVENTS = ["initiated", "ringing", "answered", "completed"]
# (call, interaction, event, data) -> emitted to the agent's and supervisors' consoles.
Emit = Callable[[VoiceCall, Interaction, str, dict[str, Any]], Awaitable[None]]


class VoiceError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Bridge:
    def __init__(
        self, db: Database, rest: TwilioRest, twilio: TwilioSettings, ivr: IvrConfig, emit: Emit
    ) -> None:
        self.db = db
        self.rest = rest
        self.twilio = twilio
        self.ivr = ivr
        self.emit = emit
        self.tasks: set[asyncio.Task[None]] = set()
        self.wake: Callable[[], None] | None = None  # the outbox worker's, once it exists

    # -- plumbing --------------------------------------------------------------------------

    def background(self, coro: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def settle(self) -> None:
        """Wait for bridging in flight (shutdown, tests)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    def url(self, path: str, **query: object) -> str:
        return self.twilio.public(twiml.url(path, **query))

    async def _rest(self, call: VoiceCall, i: Interaction, action: str, req: Awaitable[Any]) -> Any:
        """One REST request; its failure recorded, told and raised as VoiceError."""
        try:
            return await req
        except TwilioRestException as exc:
            status, code, message = exc.status, exc.code, str(exc.msg)
        except (aiohttp.ClientError, TimeoutError) as exc:
            status, code, message = None, None, f"Twilio did not answer ({type(exc).__name__})"
        await self._failed(call, i, action, status, code, message)
        raise VoiceError("twilio_error", f"Twilio refused {action}: {message}")

    async def _failed(
        self,
        call: VoiceCall,
        i: Interaction,
        action: str,
        status: int | None,
        code: int | None,
        message: str,
    ) -> None:
        """A refused or unanswered request: logged, on the timeline, told to the agent."""
        log.warning("twilio %s for call %s failed: %s %s %s", action, i.id, status, code, message)
        async with self.db.step() as c:
            await events.write(
                c, events.row(ve.RestError(action, status, code, message[:500]), interaction=i)
            )
        data = {"action": action, "status": status, "code": code, "error": message[:500]}
        await self.emit(call, i, "call_error", data)

    async def _endpoint(self, user_id: int) -> str:
        async with self.db.read_step() as c:
            phone = await store.agent_phone(c, user_id)
        return phone or f"client:agent-{user_id}"

    async def _load(self, interaction_id: int) -> tuple[VoiceCall, Interaction, list[VoiceLeg]]:
        async with self.db.read_step() as c:
            call = await store.call_for_interaction(c, interaction_id)
            if call is None:
                raise VoiceError("not_found", f"interaction {interaction_id} is not a call")
            i = await irows.interaction(c, interaction_id)
            return call, i, await store.legs(c, call.id)

    async def _conference_sid(self, call: VoiceCall, i: Interaction) -> str:
        """Participant updates address the conference by sid: from its status callback,
        else looked up by name."""
        if call.conference_sid:
            return call.conference_sid
        found = await self._rest(
            call,
            i,
            "find the conference",
            self.rest.account.conferences.list_async(
                friendly_name=call.conference, status="in-progress", limit=1
            ),
        )
        if not found:
            raise VoiceError("not_live", "the call's conference is not running")
        async with self.db.step() as c:
            await store.set_call(c, call, conference_sid=found[0].sid)
        return found[0].sid

    async def _add_participant(
        self, call: VoiceCall, i: Interaction, user_id: int, role: Role, **options: Any
    ) -> VoiceLeg:
        to = await self._endpoint(user_id)
        p = await self._rest(
            call,
            i,
            f"add the {role.value}",
            self.rest.account.conferences(call.conference).participants.create_async(
                from_=self.twilio.number,
                to=to,
                label=f"{role.value}-{user_id}",
                beep="false",
                start_conference_on_enter=True,
                end_conference_on_exit=False,
                status_callback=self.url("/status"),
                status_callback_method="POST",
                status_callback_event=LEG_EVENTS,
                **options,
            ),
        )
        async with self.db.step() as c:
            leg = await store.insert_leg(
                c, call, p.call_sid, role, status="queued", user_id=user_id
            )
            if role is Role.AGENT:
                await events.write(
                    c, events.row(ve.Bridged(user_id, p.call_sid, to), interaction=i)
                )
        return leg

    # -- bridging ---------------------------------------------------------------------------

    def assigned(self, i: Interaction) -> None:
        """The router's accept (a new call, a callback's turn, or a warm transfer's)."""
        self.background(self._assigned(i), f"bridge-{i.id}")

    async def _assigned(self, i: Interaction) -> None:
        try:
            call, i, legs = await self._load(i.id)
            agent_id = i.agent_id
            if agent_id is None:
                return
            stage = Stage(call.stage)
            if stage is Stage.CALLBACK:
                await self._callback(call, i, agent_id)
            elif stage is Stage.WAITING:
                caller = _leg(legs, Role.CALLER)
                async with self.db.step() as c:  # (a hold round racing this bridges too)
                    await store.set_call(c, call, stage=Stage.BRIDGED.value)
                try:
                    await self._rest(
                        call,
                        i,
                        "bridge the caller",
                        self.rest.account.calls(caller.call_sid).update_async(
                            twiml=twiml.bridge(self.ivr, call.language, conference=call.conference)
                        ),
                    )
                except VoiceError:
                    async with self.db.step() as c:
                        await store.set_call(c, call, stage=Stage.WAITING.value)
                    raise
                await self._add_participant(call, i, agent_id, Role.AGENT)
            elif stage is Stage.BRIDGED:  # a warm transfer's new agent joins the conference
                await self._add_participant(call, i, agent_id, Role.AGENT)
            else:
                return
            await self.emit(call, i, "call", await self.state(i.id))
        except VoiceError as exc:
            log.info("bridging %s: %s", i.id, exc)
        except Exception:
            log.exception("bridging %s failed", i.id)

    async def _callback(self, call: VoiceCall, i: Interaction, agent_id: int) -> None:
        """The callback's turn: the agent into the conference, then the customer called
        back through the outbox (durable, placed once: ``CallbackSender``)."""
        await self._add_participant(call, i, agent_id, Role.AGENT)
        number = call.callback_number or call.from_number
        request = {
            "to": number,
            "from_": self.twilio.number,
            "url": self.url("/callback", call=call.id),
            "method": "POST",
            "status_callback": self.url("/status"),
            "status_callback_method": "POST",
            "status_callback_event": LEG_EVENTS,
        }
        # Bridged in the step that asks for the call: Twilio may fetch the callback's
        # TwiML (which asks for this stage) before its answer to the request reaches us.
        async with self.db.step() as c:
            await store.set_call(c, call, stage=Stage.BRIDGED.value)
            await enqueue(
                c,
                OutboxKind.CALL,
                {"request": request, "voice_call_id": call.id, "agent_id": agent_id},
                key=f"voice-callback-{call.id}",
                customer_id=i.customer_id,
                interaction_id=i.id,
            )
        if self.wake is not None:
            self.wake()

    async def place_callback(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The outbox's send of a callback: the REST request, then its leg on the record.
        Twilio's "try later" (429, 503) is retried; any other refusal, or no answer (it may
        have been placed), fails for good and is shown to the agent."""
        async with self.db.read_step() as c:
            call = await store.call_by_id(c, int(payload["voice_call_id"]))
            if call is None:
                raise PermanentSendError("the call is gone")
            i = await irows.interaction(c, call.interaction_id)
        request = payload["request"]
        try:
            placed = await self.rest.account.calls.create_async(**request)
        except TwilioRestException as exc:
            if exc.status in (429, 503):
                raise RetryableSendError(f"Twilio {exc.status}: {exc.msg}") from None
            await self._failed(call, i, "place the callback", exc.status, exc.code, str(exc.msg))
            raise PermanentSendError(f"Twilio {exc.status} {exc.code}: {exc.msg}") from None
        except aiohttp.ClientConnectorError as exc:  # nothing was handed over
            raise RetryableSendError(f"Twilio unreachable: {exc}") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            message = f"no answer from Twilio ({type(exc).__name__}): it may have been placed"
            await self._failed(call, i, "place the callback", None, None, message)
            raise PermanentSendError(message) from None
        async with self.db.step() as c:
            await store.insert_leg(c, call, placed.sid, Role.CALLBACK, status="queued")
            await events.write(
                c,
                events.row(
                    ve.CallbackPlaced(placed.sid, request["to"], int(payload["agent_id"])),
                    interaction=i,
                ),
            )
        await self.emit(call, i, "call", await self.state(i.id))
        return {"sid": placed.sid}

    # -- controls ---------------------------------------------------------------------------

    async def hold(self, agent: User, interaction_id: int, on: bool) -> dict[str, Any]:
        call, i, legs = await self._owned(agent, interaction_id)
        customer = _customer_leg(legs)
        sid = await self._conference_sid(call, i)
        options: dict[str, Any] = {"hold": on}
        if on and self.ivr.hold_music:
            options["hold_url"] = self.ivr.hold_music
        await self._rest(
            call,
            i,
            "hold" if on else "resume",
            self.rest.account.conferences(sid)
            .participants(customer.call_sid)
            .update_async(**options),
        )
        async with self.db.step() as c:
            await store.set_leg(c, customer, on_hold=on)
            await events.write(
                c,
                events.row(
                    ve.Hold(on, agent.id), interaction=i, actor_kind=ActorKind.AGENT,
                    actor_id=agent.id,
                ),
            )  # fmt: skip
        return await self._told(call, i)

    async def to_hold_loop(self, agent: User, interaction_id: int) -> tuple[VoiceCall, Interaction]:
        """Before a transfer to a queue: the caller out of the conference, back on hold."""
        call, i, legs = await self._owned(agent, interaction_id)
        customer = _customer_leg(legs)
        async with self.db.step() as c:
            await store.set_call(c, call, stage=Stage.WAITING.value)
        try:
            await self._rest(
                call,
                i,
                "move the caller to the queue",
                self.rest.account.calls(customer.call_sid).update_async(
                    url=self.url("/hold"), method="POST"
                ),
            )
        except VoiceError:
            async with self.db.step() as c:
                await store.set_call(c, call, stage=Stage.BRIDGED.value)
            raise
        return call, i

    async def leave(self, agent: User, interaction_id: int) -> dict[str, Any]:
        """An agent drops out of the conference (after introducing a warm transfer)."""
        call, i, legs = await self._load(interaction_id)
        mine = [
            leg for leg in legs if leg.user_id == agent.id and leg.role == Role.AGENT.value
            and leg.ended_at is None
        ]  # fmt: skip
        if not mine:
            raise VoiceError("not_yours", "you are not on this call")
        sid = await self._conference_sid(call, i)
        for leg in mine:
            await self._rest(
                call,
                i,
                "leave the call",
                self.rest.account.conferences(sid).participants(leg.call_sid).delete_async(),
            )
        async with self.db.step() as c:
            await events.write(
                c,
                events.row(
                    ve.AgentLeft(agent.id), interaction=i, actor_kind=ActorKind.AGENT,
                    actor_id=agent.id,
                ),
            )  # fmt: skip
        return await self._told(call, i)

    async def hang_up(self, agent: User, interaction_id: int) -> dict[str, Any]:
        """End the conference: the caller's <Dial> moves on (to the survey)."""
        call, i, _legs = await self._owned(agent, interaction_id)
        await self.end(call, i)
        return await self._told(call, i)

    async def end(self, call: VoiceCall, i: Interaction) -> None:
        if call.stage != Stage.BRIDGED.value:
            return
        sid = await self._conference_sid(call, i)
        await self._rest(
            call,
            i,
            "end the call",
            self.rest.account.conferences(sid).update_async(status="completed"),
        )

    async def monitor(self, supervisor: User, interaction_id: int, mode: str) -> dict[str, Any]:
        """Listen (muted), whisper (coach the agent: only the agent hears) or barge (all)."""
        call, i, legs = await self._load(interaction_id)
        if call.stage != Stage.BRIDGED.value:
            raise VoiceError("not_live", "this call is not connected to an agent")
        agent_leg = next(
            (
                leg
                for leg in reversed(legs)
                if leg.role == Role.AGENT.value and leg.user_id == i.agent_id
            ),
            None,
        )
        if agent_leg is None:
            raise VoiceError("not_live", "no agent is on this call")
        options: dict[str, Any] = {
            "muted": mode == "listen",
            "coaching": mode == "whisper",
        }
        if mode == "whisper":
            options["call_sid_to_coach"] = agent_leg.call_sid
        mine = next(
            (
                leg
                for leg in legs
                if leg.role == Role.SUPERVISOR.value
                and leg.user_id == supervisor.id
                and leg.ended_at is None
            ),
            None,
        )
        if mine is None:
            leg = await self._add_participant(call, i, supervisor.id, Role.SUPERVISOR, **options)
        else:
            sid = await self._conference_sid(call, i)
            await self._rest(
                call,
                i,
                f"switch to {mode}",
                self.rest.account.conferences(sid)
                .participants(mine.call_sid)
                .update_async(**options),
            )
            leg = mine
        async with self.db.step() as c:
            await store.set_leg(c, leg, mode=mode)
            await events.write(
                c,
                events.row(
                    ve.Monitor(supervisor.id, mode), interaction=i, actor_kind=ActorKind.AGENT,
                    actor_id=supervisor.id,
                ),
            )  # fmt: skip
        return await self._told(call, i)

    # -- reads ------------------------------------------------------------------------------

    async def state(self, interaction_id: int) -> dict[str, Any]:
        async with self.db.read_step() as c:
            call = await store.call_for_interaction(c, interaction_id)
            if call is None:
                raise VoiceError("not_found", f"interaction {interaction_id} is not a call")
            return store.call_json(call, await store.legs(c, call.id))

    async def _told(self, call: VoiceCall, i: Interaction) -> dict[str, Any]:
        state = await self.state(i.id)
        await self.emit(call, i, "call", state)
        return state

    async def _owned(
        self, agent: User, interaction_id: int
    ) -> tuple[VoiceCall, Interaction, list[VoiceLeg]]:
        call, i, legs = await self._load(interaction_id)
        if i.agent_id != agent.id or i.state.value != "assigned":
            raise VoiceError("not_yours", "this call is not assigned to you")
        if call.stage != Stage.BRIDGED.value:
            raise VoiceError("not_live", "this call is not connected")
        return call, i, legs


def _leg(legs: list[VoiceLeg], role: Role) -> VoiceLeg:
    found = next((leg for leg in legs if leg.role == role.value), None)
    if found is None:
        raise VoiceError("not_live", f"the call has no {role.value} leg")
    return found


def _customer_leg(legs: list[VoiceLeg]) -> VoiceLeg:
    """The customer's live leg: the callback's when there is one, else the caller's."""
    for role in (Role.CALLBACK, Role.CALLER):
        found = [leg for leg in legs if leg.role == role.value]
        if found:
            return found[-1]
    raise VoiceError("not_live", "the call has no customer leg")
