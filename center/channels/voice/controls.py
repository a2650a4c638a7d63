"""Call controls on a bridged call: hold, transfers back to the hold loop, leaving, hanging
up, supervisors' listen / whisper / barge; each a participant or call request, then its
record and the ``call`` notice."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from center.channels.voice import events as ve
from center.channels.voice import store
from center.channels.voice.rest import RestBase, VoiceError, _customer_leg
from center.channels.voice.store import Role, Stage
from center.records import events
from center.records.enums import ActorKind
from center.records.models import Interaction, User, VoiceCall

log = logging.getLogger(__name__)


class Controls(RestBase):
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

    async def requeue_unanswered(
        self,
        agent: User,
        interaction_id: int,
        transfer: Callable[[], Awaitable[Any]],
        *,
        why: str = "your phone did not answer",
        then: str = "",
    ) -> None:
        """The assigned agent's leg was never answered: the caller back on the hold loop (a
        callback not placed yet: back to waiting for its turn) and the call back in its
        queue at its place (``transfer``: the service's, to the same queue), so the router
        offers it to the next agent. The agent is told."""
        try:
            call, i, legs = await self._owned(agent, interaction_id)
            if call.callback_number and store.live_customer_leg(legs) is None:
                # A callback whose customer is not called yet: nobody to move; it waits
                # for its next turn as it did before this one.
                async with self.db.step() as c:
                    await store.set_call(c, call, stage=Stage.CALLBACK.value)
            else:
                call, i = await self.to_hold_loop(agent, interaction_id)
            await transfer()
        except Exception as exc:  # (a hang-up meanwhile, a refusal: already told/logged)
            log.info("re-queue of unanswered call %s: %s", interaction_id, exc)
            return
        data = {
            "action": "ring your phone",
            "status": None,
            "code": None,
            "error": f"{why}: the call went back to the queue{then}",
        }
        await self.emit(call, i, "call_error", {**data, "agent_id": agent.id})

    async def leave(self, agent: User, interaction_id: int) -> dict[str, Any]:
        """An agent drops out of the conference (after introducing a warm transfer)."""
        call, i, legs = await self._load(interaction_id)
        mine = [
            leg for leg in legs if leg.user_id == agent.id and leg.role == Role.AGENT.value
            and leg.ended_at is None and leg.call_sid
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
                if leg.role == Role.AGENT.value and leg.user_id == i.agent_id and leg.call_sid
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
                and leg.call_sid
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
