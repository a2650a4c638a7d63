"""Transfers, re-queues after an agent is gone, escalation records, and recovery at start."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select

from center.agent_ui.notices import AgentNotice
from center.channels.base import CustomerNotice
from center.interactions.base import (
    _TRANSFER_ERRORS,
    InteractionError,
    ServiceBase,
    _ms,
    interaction_json,
    message_json,
)
from center.queue.results import Escalated
from center.queue.router import Offer
from center.queue.scripts import RouterError
from center.records import events
from center.records.base import utcnow
from center.records.enums import (
    ActorKind,
    InteractionState,
)
from center.records.models import Interaction, Message, User

log = logging.getLogger(__name__)
S = InteractionState


class HandoffsAndRecovery(ServiceBase):
    # -- transfers, re-queues, escalation ----------------------------------------------------

    async def transfer(
        self,
        agent: User,
        interaction_id: int,
        *,
        to_agent_id: int | None = None,
        to_queue: str | None = None,
    ) -> Interaction:
        """Warm transfer: to an agent (offered to them) or a queue (keeping its place)."""
        async with self.db.read() as s:
            await self._owned(s, agent, interaction_id)
            if to_agent_id is not None:
                target = await s.get(User, to_agent_id)
                if target is None or not target.active:
                    raise InteractionError("not_found", f"no agent {to_agent_id}")
        try:
            t = await self.router.transfer(
                interaction_id, agent.id, to_agent_id=to_agent_id, to_queue=to_queue
            )
        except RouterError as exc:
            raise InteractionError(exc.code.name.lower(), _TRANSFER_ERRORS[exc.code]) from None
        except ValueError as exc:
            raise InteractionError("malformed", str(exc)) from None
        async with self.db.transaction() as s:
            i = await self._get(s, interaction_id, lock=True)
            if to_queue is not None:
                i.queue = to_queue
                # Back in the queue in Redis already: another process may have offered it
                # (and recorded that) before this commit. Only undo what is still ours.
                if i.state is S.ASSIGNED and i.agent_id == agent.id:
                    i.state, i.agent_id = S.QUEUED, None
            events.append(
                s,
                events.Transferred(
                    from_agent_id=agent.id, to_agent_id=to_agent_id, to_queue=to_queue
                ),
                interaction=i,
                actor_kind=ActorKind.AGENT,
                actor_id=agent.id,
            )
        where = {"to_agent_id": to_agent_id} if to_agent_id is not None else {"to_queue": to_queue}
        await self.bus.to_agent(
            agent.id, AgentNotice.TRANSFERRED, {"interaction_id": i.id, **where}
        )
        if to_agent_id is not None and t.deadline_ms is not None:
            await self._offered(Offer(i.id, to_agent_id, t.deadline_ms, i.queue))
        else:
            await self.router.dispatch(i.queue, i.channel)
        await self.router.dispatch_agent(agent.id)
        return i

    async def requeue_agent(self, agent_id: int, reason: str) -> list[int]:
        """Give an agent's work back to the queues at its original places (the agent is gone
        past the grace period); returns the interaction ids."""
        async with self.db.read() as s:
            held = list(
                await s.scalars(
                    select(Interaction.id)
                    .where(
                        Interaction.agent_id == agent_id,
                        Interaction.state.in_([S.ASSIGNED, S.OFFERED]),
                    )
                    .order_by(Interaction.id)
                )
            )
        done: list[int] = []
        for iid in held:
            try:
                back = await self.router.requeue(iid, agent_id)
            except RouterError as exc:
                log.info("re-queue of %s skipped: %s", iid, exc)
                continue
            async with self.db.transaction() as s:
                i = await self._get(s, iid, lock=True)
                # The Redis step made it offerable again; another process may already have
                # offered, or even closed, it and recorded that. Never step back over it
                # (found by the SIGKILL proof: a closed chat was set back to queued).
                if i.state in (S.ASSIGNED, S.OFFERED) and i.agent_id == agent_id:
                    i.state, i.agent_id = S.QUEUED, None
                events.append(s, events.Requeued(reason=reason, agent_id=agent_id), interaction=i)
            done.append(iid)
            await self.router.dispatch(back.queue, back.channel)
        return done

    async def _escalated(self, e: Escalated) -> None:
        async with self.db.transaction() as s:
            i = await s.get(Interaction, e.interaction_id)
            if i is not None:
                events.append(s, events.Escalated(queue=e.queue, step=e.step), interaction=i)

    # -- recovery --------------------------------------------------------------------------

    async def reconcile(self, confirm_s: float = 2.0) -> int:
        """Bring the record in line with the live routing state after a process died between
        a Redis step and its database write (an accept nobody recorded would leave the
        customer waiting for an agent who has them). Redis decided who got what, so the
        record follows it, with the event that was missing. A mismatch must still be there
        ``confirm_s`` later: a live process finishing its own write is not one. Returns the
        number of interactions repaired."""
        suspects = await self._mismatches(None)
        if suspects and confirm_s > 0:
            await asyncio.sleep(confirm_s)
        repaired = 0
        for iid, live in (await self._mismatches(suspects)).items():
            if suspects.get(iid) == live and await self._repair(iid, live):
                repaired += 1
        return repaired

    async def _mismatches(
        self, only: dict[int, dict[str, str]] | None
    ) -> dict[int, dict[str, str]]:
        stmt = select(Interaction).where(Interaction.state.in_([S.QUEUED, S.OFFERED, S.ASSIGNED]))
        if only is not None:
            if not only:
                return {}
            stmt = stmt.where(Interaction.id.in_(list(only)))
        async with self.db.read() as s:
            rows = list(await s.scalars(stmt))
        out = {}
        for row in rows:
            live = await self.router.live_state(row.id)
            if live and _differs(row, live):
                out[row.id] = live
        return out

    async def _repair(self, iid: int, live: dict[str, str]) -> bool:
        agent_id = int(live["agent"]) if live.get("agent") else None
        async with self.db.transaction() as s:
            i = await self._get(s, iid, lock=True)
            if not i.state.is_open or not _differs(i, live):
                return False
            if live["state"] == S.ASSIGNED.value and agent_id is not None:
                i.state, i.agent_id, i.assigned_at = S.ASSIGNED, agent_id, utcnow()
                wait = max(0.0, _ms(i.assigned_at) / 1000 - int(live.get("enq") or 0) / 1000)
                payload: events.Payload = events.Accepted(agent_id=agent_id, wait_s=round(wait, 3))
            elif live["state"] == S.OFFERED.value and agent_id is not None:
                i.state, i.agent_id = S.OFFERED, agent_id
                timeout = self.router.options.offer_timeout_ms / 1000
                payload = events.Offered(agent_id=agent_id, timeout_s=timeout)
            elif live["state"] == S.QUEUED.value:
                payload = events.Requeued(reason="unrecorded", agent_id=i.agent_id)
                i.state, i.agent_id = S.QUEUED, None
            else:
                return False
            events.append(s, payload, interaction=i)
            msgs = list(
                await s.scalars(
                    select(Message).where(Message.interaction_id == i.id).order_by(Message.id)
                )
            )
        log.warning("reconciled interaction %s with the live state (%s)", iid, live["state"])
        if i.state is S.ASSIGNED and i.agent_id is not None:
            # Their console never heard the accept's answer: show it the conversation now.
            await self.bus.to_agent(
                i.agent_id,
                AgentNotice.ASSIGNED,
                {**interaction_json(i), "messages": [message_json(m) for m in msgs]},
            )
            async with self.db.read() as s:
                agent = await s.get(User, i.agent_id)
            name = agent.display_name if agent is not None else "An agent"
            await self._notify(i, CustomerNotice.AGENT_JOINED, {"agent": name})
        return True

    async def recover(self) -> int:
        """Put interactions the database says are waiting back into Redis, in order, and
        count assigned ones in their agents' load again (capacity stays right)."""
        await self._recover_assigned()
        async with self.db.read() as s:
            waiting = list(
                await s.scalars(
                    select(Interaction)
                    .where(Interaction.state.in_([S.QUEUED, S.OFFERED]))
                    .order_by(Interaction.queued_at)
                )
            )
        restored = 0
        for i in waiting:
            if await self.router.live_state(i.id):
                continue
            if i.state is S.OFFERED:
                async with self.db.transaction() as s:
                    row = await self._get(s, i.id, lock=True)
                    row.state, row.agent_id = S.QUEUED, None
                    events.append(s, events.Requeued(reason="recovery"), interaction=row)
            await self.router.enqueue(
                i.id,
                queue=i.queue,
                channel=i.channel,
                priority=i.priority,
                enqueued_ms=_ms(i.queued_at),
            )
            restored += 1
        return restored

    async def _recover_assigned(self) -> None:
        async with self.db.read() as s:
            assigned = list(
                await s.scalars(
                    select(Interaction).where(
                        Interaction.state == S.ASSIGNED, Interaction.agent_id.is_not(None)
                    )
                )
            )
        for i in assigned:
            assert i.agent_id is not None
            await self.router.restore_assigned(
                i.id,
                i.agent_id,
                queue=i.queue,
                channel=i.channel,
                priority=i.priority,
                enqueued_ms=_ms(i.queued_at or i.created_at),
            )


def _differs(i: Interaction, live: dict[str, str]) -> bool:
    agent = int(live["agent"]) if live.get("agent") else None
    if live.get("state") == S.QUEUED.value:
        return i.state is not S.QUEUED
    return live.get("state") != i.state.value or agent != i.agent_id
