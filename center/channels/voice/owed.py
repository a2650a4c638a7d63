"""Bridging an accepted call so that it survives a crash or a failed REST request.

The accept commits first; the bridge (the caller moved into the conference, the agent's
leg added through the REST API) comes after it. So the bridge is a durable debt:

1. **Owe** (one step, the interaction locked): the agent's leg row for this assignment
   (``assigned_at``), without a CallSid, status ``moving`` (the caller is still on the hold
   loop) or ``pending``; the call's stage ``bridged``. At most one leg per assignment:
   a second ``owe`` (a repeated notice, another process's sweep) finds it.
2. **Dial**, holding the leg (``claim_leg``: a lease in the row, one process at a time):
   the caller redirected (then ``pending``), the participant created, its CallSid
   stored. A retry first looks for the participant by its label (the leg's id), so a
   request whose answer was lost is adopted, not sent again; and the leg's status
   callbacks carry the leg's id, so they fill in the CallSid even before the answer.
3. **Retry**: Twilio's 5xx/429 or no answer: again after 1, 2, 4 … s (at most a minute,
   ``MAX_ATTEMPTS`` tries); a 4xx (or the last try failing): the leg fails, the agent is
   told, and the call goes back to its queue as when the agent's phone does not answer.
4. **Sweep**, at start and every ``check_s`` in every process: legs still owed whose
   lease ran out (their process died), and assigned calls with no leg for their
   assignment (the process died between the accept and step 1), are owed and dialled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncConnection
from twilio.base.exceptions import TwilioRestException

from center.channels.voice import events as ve
from center.channels.voice import store, twiml
from center.channels.voice.controls import Controls
from center.channels.voice.rest import LEG_EVENTS, leg_label
from center.channels.voice.store import Role, Stage
from center.interactions import rows as irows
from center.loops import every
from center.outbox import OutboxKind, enqueue
from center.records import events
from center.records.base import utcnow
from center.records.enums import InteractionState
from center.records.models import Interaction, VoiceCall, VoiceLeg

log = logging.getLogger(__name__)
LEASE_S = 60.0  # > a dial's requests (a redirect, a lookup, a create) at their timeout
FIRST_RETRY_S, MAX_RETRY_S, MAX_ATTEMPTS = 1.0, 60.0, 10
SWEEP_LIMIT = 50


class Retry(Exception):
    """A REST request Twilio did not take (5xx, 429, no answer): the dial is tried again."""


class Refused(Exception):
    """Twilio refused a dial's request for good (the leg failed; recorded and told)."""

    def __init__(self, message: str, leg: VoiceLeg, call: VoiceCall, i: Interaction) -> None:
        super().__init__(message)
        self.leg, self.call, self.interaction = leg, call, i


LegFailed = Callable[[VoiceLeg, VoiceCall, Interaction], Awaitable[None]]


class OwedLegs(Controls):
    # What becomes of the call when its agent's leg cannot be dialled (set by the voice
    # setup: the same as a leg that ended unanswered, the call back in its queue).
    leg_failed: LegFailed | None = None

    async def bridge(self, interaction_id: int) -> None:
        """Owe the assigned agent their leg, then dial it (errors logged, told, retried)."""
        try:
            leg = await self.owe(interaction_id)
            if leg is not None:
                await self.dial(leg.id)
        except Exception:
            log.exception("bridging %s failed", interaction_id)

    async def owe(self, interaction_id: int) -> VoiceLeg | None:
        """Step 1: the agent's leg for this assignment (written now, or found)."""
        async with self.db.step() as c:
            i = await irows.interaction(c, interaction_id, lock=True)
            call = await store.call_for_interaction(c, interaction_id, lock=True)
            if (
                call is None
                or i.state is not InteractionState.ASSIGNED
                or i.agent_id is None
                or call.stage not in store.BRIDGEABLE
            ):
                return None
            leg = await store.agent_leg_for(c, call.id, i.agent_id, i.assigned_at)
            if leg is not None:
                return leg if leg.call_sid is None and leg.ended_at is None else None
            moving = call.stage == Stage.WAITING.value
            leg = await store.insert_leg(
                c,
                call,
                None,
                Role.AGENT,
                status=store.MOVING if moving else store.PENDING_DIAL,
                user_id=i.agent_id,
                assigned_at=i.assigned_at,
            )
            # Bridged before any request: a hold round now joins the conference itself,
            # and a callback's TwiML (which asks for this stage) finds it.
            if call.stage != Stage.BRIDGED.value:
                await store.set_call(c, call, stage=Stage.BRIDGED.value)
        return leg

    async def dial(self, leg_id: int) -> None:
        """Steps 2-3 for one owed leg, if this process gets to hold it."""
        async with self.db.step() as c:
            leg = await store.claim_leg(c, leg_id, utcnow(), LEASE_S)
        if leg is None:
            return  # dialled, ended, or another process holds it
        try:
            await self._dial(leg)
        except Refused as exc:
            log.info("dialling leg %s: %s", leg.id, exc)
            if self.leg_failed is not None:  # (or the caller holds for an agent never rung)
                await self.leg_failed(exc.leg, exc.call, exc.interaction)
        except Retry:
            delay = min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** (leg.attempts - 1))
            await self._release(leg, delay)
            task = asyncio.ensure_future(self._later(delay, leg.id))
            self.retries.add(task)  # (cancelled at shutdown: the next start's sweep redoes it)
            task.add_done_callback(self.retries.discard)

    async def _later(self, delay: float, leg_id: int) -> None:
        await asyncio.sleep(delay + 0.05)  # (past the lease the release set)
        await self.bridge_leg(leg_id)

    async def bridge_leg(self, leg_id: int) -> None:
        try:
            await self.dial(leg_id)
        except Exception:
            log.exception("dialling owed leg %s failed", leg_id)

    async def _release(self, leg: VoiceLeg, delay: float) -> None:
        """No other process takes the leg before its retry is due."""
        async with self.db.step() as c:
            if leg.call_sid is None:
                await store.set_leg(c, leg, lease_until=utcnow() + timedelta(seconds=delay))

    async def _dial(self, leg: VoiceLeg) -> None:
        async with self.db.read_step() as c:
            call = await store.call_by_id(c, leg.voice_call_id)
            assert call is not None
            i = await irows.interaction(c, call.interaction_id)
            legs = await store.legs(c, call.id)
        if (
            i.state is not InteractionState.ASSIGNED
            or i.agent_id != leg.user_id
            or i.assigned_at != leg.assigned_at
            or call.stage != Stage.BRIDGED.value
        ):  # the assignment is over (hung up, transferred): nobody to dial any more
            async with self.db.step() as c:
                await store.set_leg(c, leg, status="canceled", ended_at=utcnow(), lease_until=None)
            return
        assert leg.user_id is not None
        if leg.status == store.MOVING:
            caller = store.live_customer_leg(legs)  # (a callback's customer, once called)
            if caller is not None:
                bridge = twiml.bridge(self.ivr, call.language, conference=call.conference)
                await self._try(
                    call, i, leg, "bridge the caller",
                    self.rest.account.calls(caller.call_sid).update_async(twiml=bridge),
                )  # fmt: skip
            async with self.db.step() as c:
                await store.set_leg(c, leg, status=store.PENDING_DIAL)
        to = await self._endpoint(leg.user_id)
        sid = await self._made_before(call, i, leg) if leg.attempts > 1 else None
        if sid is None:
            p = await self._try(call, i, leg, "add the agent", self._participant(call, leg, to))
            sid = p.call_sid
        async with self.db.step() as c:
            if await store.fill_sid(c, leg.id, sid):  # (else its status callback was first)
                await events.write(c, events.row(ve.Bridged(leg.user_id, sid, to), interaction=i))
            # A callback's customer is called once the agent is dialled, unless an earlier
            # turn's call reached them (its agent did not answer: they hold on that line).
            callback = bool(call.callback_number) and store.live_customer_leg(legs) is None
            if callback:
                await self._enqueue_callback(c, call, i, leg)
        if callback and self.wake is not None:
            self.wake()
        await self.emit(call, i, "call", await self.state(i.id))

    async def _made_before(self, call: VoiceCall, i: Interaction, leg: VoiceLeg) -> str | None:
        """The CallSid of this leg's participant if an earlier try made it (found by its
        label in the call's conferences), so it is never dialled twice."""
        label = leg_label(leg)
        conferences = await self._try(
            call, i, leg, "look for the agent's leg",
            self.rest.account.conferences.list_async(friendly_name=call.conference, limit=20),
        )  # fmt: skip
        for conference in conferences:
            if conference.status == "completed":
                continue
            people = await self._try(
                call, i, leg, "look for the agent's leg",
                self.rest.account.conferences(conference.sid).participants.list_async(limit=50),
            )  # fmt: skip
            found = next((p for p in people if p.label == label), None)
            if found is not None:
                return str(found.call_sid)
        return None

    async def _try(
        self, call: VoiceCall, i: Interaction, leg: VoiceLeg, action: str, req: Awaitable[Any]
    ) -> Any:
        """One request of a dial: Twilio's "later" or no answer raises Retry (until the
        tries run out); a refusal fails the leg. Both are on the timeline and told."""
        try:
            return await req
        except TwilioRestException as exc:
            retry = exc.status >= 500 or exc.status == 429
            status, code, message = exc.status, exc.code, str(exc.msg)
        except (aiohttp.ClientError, TimeoutError) as exc:
            retry, status, code = True, None, None
            message = f"Twilio did not answer ({type(exc).__name__})"
        retry = retry and leg.attempts < MAX_ATTEMPTS
        told = message + (" (trying again)" if retry else "")
        await self._failed(call, i, action, status, code, told)
        if retry:
            raise Retry(message)
        async with self.db.step() as c:
            await store.set_leg(c, leg, status="failed", ended_at=utcnow(), lease_until=None)
        raise Refused(message, leg, call, i)

    async def _enqueue_callback(
        self, c: AsyncConnection, call: VoiceCall, i: Interaction, agent_leg: VoiceLeg
    ) -> None:
        """The customer called back through the outbox (durable, placed once per agent leg:
        the key; the next agent's turn, after one who did not answer, calls again)."""
        number = call.callback_number or call.from_number
        request = {
            "to": number,
            "from_": self.twilio.number,
            "url": self.url("/callback", call=call.id),
            "method": "POST",
            # (status_callback: added by place_callback, naming the leg's row)
            "status_callback_method": "POST",
            "status_callback_event": LEG_EVENTS,
        }
        await enqueue(
            c,
            OutboxKind.CALL,
            {"request": request, "voice_call_id": call.id, "agent_id": agent_leg.user_id},
            key=f"voice-callback-{call.id}-{agent_leg.id}",
            customer_id=i.customer_id,
            interaction_id=i.id,
        )

    async def sweep(self) -> int:
        """Step 4: every bridge owed and not in hand; how many were tried."""
        async with self.db.read_step() as c:
            legs = await store.owed_legs(c, utcnow(), SWEEP_LIMIT)
            calls = await store.unbridged(c, SWEEP_LIMIT)
        for interaction_id in calls:
            log.warning("bridging call %s, which its process did not", interaction_id)
            await self.bridge(interaction_id)
        for leg_id in legs:
            await self.bridge_leg(leg_id)
        return len(calls) + len(legs)

    async def run(self, check_s: float) -> None:
        """The sweep at start, then every ``check_s`` (an error slows it, never ends it)."""
        await every(check_s, self.sweep, "owed bridges")
