"""Transfers, re-queues after an agent is gone, and escalation records."""

from __future__ import annotations

import logging

from sqlalchemy import select

from center.interactions.base import (
    _TRANSFER_ERRORS,
    InteractionError,
    ServiceBase,
)
from center.notices import AgentNotice
from center.queue.results import Escalated
from center.queue.router import Offer
from center.queue.scripts import RouterError
from center.records import events
from center.records.enums import (
    ActorKind,
    InteractionState,
)
from center.records.models import Interaction, User

log = logging.getLogger(__name__)
S = InteractionState


class Handoffs(ServiceBase):
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
            if await self._customer_left(s, interaction_id):
                raise InteractionError(
                    "customer_left", "the customer has left this chat: close it instead"
                )
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
            # The customer left since the check above: it is ended below, not handed on.
            gone = await self._customer_left(s, interaction_id)
            if to_queue is not None:
                i.queue = to_queue
                # Back in the queue in Redis already: another process may have offered it
                # (and recorded that) before this commit. Only undo what is still ours.
                if i.state is S.ASSIGNED and i.agent_id == agent.id and not gone:
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
        if gone:
            await self._close_departed(i.id, None)
        elif to_agent_id is not None and t.deadline_ms is not None:
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
            left = {iid for iid in held if await self._customer_left(s, iid)}
        done: list[int] = []
        for iid in held:
            if iid in left:
                # Nobody is there to serve: it ends here (see ServiceBase._customer_left).
                await self._close_departed(iid, agent_id)
                continue
            try:
                back = await self.router.requeue(iid, agent_id)
            except RouterError as exc:
                log.info("re-queue of %s skipped: %s", iid, exc)
                continue
            async with self.db.transaction() as s:
                i = await self._get(s, iid, lock=True)
                gone = await self._customer_left(s, iid)  # left since the read above
                # The Redis step made it offerable again; another process may already have
                # offered, or even closed, it and recorded that. Never step back over it
                # (found by the SIGKILL proof: a closed chat was set back to queued).
                if i.state in (S.ASSIGNED, S.OFFERED) and i.agent_id == agent_id and not gone:
                    i.state, i.agent_id = S.QUEUED, None
                if not gone:
                    requeued = events.Requeued(reason=reason, agent_id=agent_id)
                    events.append(s, requeued, interaction=i)
            if gone:
                await self._close_departed(iid, None)  # out of the queue it just entered
                continue
            done.append(iid)
            await self.router.dispatch(back.queue, back.channel)
        return done

    async def _escalated(self, e: Escalated) -> None:
        async with self.db.transaction() as s:
            i = await s.get(Interaction, e.interaction_id)
            if i is not None:
                events.append(s, events.Escalated(queue=e.queue, step=e.step), interaction=i)
