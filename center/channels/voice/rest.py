"""The REST side's plumbing shared by bridging and the call controls: one request through
the official async client (``app[TWILIO]``) with its failure recorded (``call.rest_error``),
told (``call_error``) and raised as ``VoiceError``; the call's rows; participants added."""

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
from center.records import events
from center.records.base import utcnow
from center.records.db import Database
from center.records.models import Interaction, User, VoiceCall, VoiceLeg

log = logging.getLogger(__name__)
LEG_EVENTS = ["initiated", "ringing", "answered", "completed"]
# The supervisors' board lists at most this many live calls (a bound on one read; a centre
# with more calls at once than a supervisor can scan needs a filter, not a longer list).
LIVE_CALLS_SHOWN = 200
# (call, interaction, event, data) -> emitted to the agent's and supervisors' consoles.
Emit = Callable[[VoiceCall, Interaction, str, dict[str, Any]], Awaitable[None]]


class VoiceError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class RestBase:
    def __init__(
        self, db: Database, rest: TwilioRest, twilio: TwilioSettings, ivr: IvrConfig, emit: Emit
    ) -> None:
        self.db = db
        self.rest = rest
        self.twilio = twilio
        self.ivr = ivr
        self.emit = emit
        self.tasks: set[asyncio.Task[None]] = set()
        self.retries: set[asyncio.Task[None]] = set()  # owed legs' next tries (owed.py)
        self.wake: Callable[[], None] | None = None  # the outbox worker's, once it exists

    # -- plumbing --------------------------------------------------------------------------

    def background(self, coro: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def settle(self) -> None:
        """Wait for bridging in flight (shutdown, tests); retries waiting are dropped (the
        legs stay owed in the database: the next sweep, here or elsewhere, dials them)."""
        for task in list(self.retries):
            task.cancel()
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

    def _participant(
        self, call: VoiceCall, leg: VoiceLeg, to: str, **options: Any
    ) -> Awaitable[Any]:
        """The REST request adding ``leg`` (its row already written) to the conference. Its
        label names the row, so a retry can find a participant an unanswered request made;
        its status callback URL names the row too (signed by Twilio with the URL), so a
        callback that beats Twilio's answer still finds the leg."""
        return self.rest.account.conferences(call.conference).participants.create_async(
            from_=self.twilio.number,
            to=to,
            label=leg_label(leg),
            beep="false",
            start_conference_on_enter=True,
            end_conference_on_exit=False,
            status_callback=self.url("/status", leg=leg.id),
            status_callback_method="POST",
            status_callback_event=LEG_EVENTS,
            **options,
        )

    async def _add_participant(
        self, call: VoiceCall, i: Interaction, user_id: int, role: Role, **options: Any
    ) -> VoiceLeg:
        """A supervisor's leg, while they wait for the answer (a refusal is theirs to see):
        the row, the request, its CallSid."""
        to = await self._endpoint(user_id)
        async with self.db.step() as c:
            leg = await store.insert_leg(
                c, call, None, role, status=store.PENDING_DIAL, user_id=user_id
            )
        try:
            p = await self._rest(
                call, i, f"add the {role.value}", self._participant(call, leg, to, **options)
            )
        except VoiceError:
            async with self.db.step() as c:
                await store.set_leg(c, leg, status="failed", ended_at=utcnow())
            raise
        async with self.db.step() as c:
            await store.fill_sid(c, leg.id, p.call_sid)
        leg.call_sid = p.call_sid
        return leg

    # -- reads ------------------------------------------------------------------------------

    async def state(self, interaction_id: int) -> dict[str, Any]:
        async with self.db.read_step() as c:
            call = await store.call_for_interaction(c, interaction_id)
            if call is None:
                raise VoiceError("not_found", f"interaction {interaction_id} is not a call")
            return store.call_json(call, await store.legs(c, call.id))

    async def live(self, limit: int = LIVE_CALLS_SHOWN) -> list[dict[str, Any]]:
        """The calls connected to an agent now, as ``call`` pushes carry them."""
        async with self.db.read_step() as c:
            found = await store.live_calls(c, limit)
        return [store.call_json(call, legs) for call, legs in found]

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


def leg_label(leg: VoiceLeg) -> str:
    return f"{leg.role}-{leg.user_id}-{leg.id}"


def _leg(legs: list[VoiceLeg], role: Role) -> VoiceLeg:
    found = next((leg for leg in legs if leg.role == role.value and leg.call_sid), None)
    if found is None:
        raise VoiceError("not_live", f"the call has no {role.value} leg")
    return found


def _customer_leg(legs: list[VoiceLeg]) -> VoiceLeg:
    """The customer's live leg: the callback's when there is one, else the caller's."""
    for role in (Role.CALLBACK, Role.CALLER):
        found = [leg for leg in legs if leg.role == role.value and leg.call_sid]
        if found:
            return found[-1]
    raise VoiceError("not_live", "the call has no customer leg")
