"""Keeping the record and the live routing state in line: recovery at start, and an audit
that one process at a time runs every ``reconcile_interval_s``.

The database is the record; Redis holds who waits, who is offered what and who has what.
Each step changes one and then the other, so a process that dies between the two, or a
write that fails there, leaves them apart:

* Redis moved on and the record did not (an accept nobody wrote down): the record follows
  Redis, with the event that was missing, and the agent and the customer are told.
* The record says waiting, offered or assigned and Redis has nothing: the interaction goes
  back into its queue at its original place, or back on its agent's load. When Redis lost
  its data (its ``epoch`` key is gone) that happens at once. Otherwise only a waiting or
  offered one, and only once it has been missing for ``missing_after_s``: Redis drops an
  interaction first and the record follows (a close, a customer leaving), and under load
  that write can trail by seconds (up to SQLite's 30 s busy timeout). A closed one must not
  come back; one whose enqueue failed after its commit is rescued within a minute or so.
  An assigned one missing while Redis kept its data is a close whose write failed: the
  agent still sees it and can close it again, so it is left alone.
* The record has an agent at work (available, away, in wrap-up) and Redis does not know
  them (it lost its data): their presence, capacity and skills go back, so they are
  offered work again without having to touch anything.

A mismatch must still be there ``confirm_s`` later: a live process finishing its own step
is not one.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select

from center.channels.base import CustomerNotice
from center.interactions.base import (
    ServiceBase,
    _ms,
    interaction_json,
    message_json,
    placement,
)
from center.loops import every, pause
from center.notices import AgentNotice
from center.queue.results import DEFAULT_CAPACITY
from center.records import events
from center.records.base import utcnow
from center.records.enums import InteractionState, Presence
from center.records.models import Interaction, Message, User

log = logging.getLogger(__name__)
S = InteractionState
LIVE = (S.QUEUED, S.OFFERED, S.ASSIGNED)  # the states Redis must know about


class Recovery(ServiceBase):
    async def audit_forever(self, interval_s: float, missing_after_s: float = 60.0) -> None:
        """Reconcile every ``interval_s``, in whichever process takes the turn (a Redis
        lock), so a gap is closed within about that long without anyone restarting."""
        redis, lock = self.router.redis, self.router.keys.reconcile_lock

        async def turn() -> None:
            if await redis.set(lock, "1", nx=True, px=max(100, int(interval_s * 900))):
                # A long confirmation: under overload a live process's database write
                # can trail its Redis step by seconds, and that is no gap to repair.
                await self.reconcile(
                    confirm_s=max(2.0, interval_s / 3), missing_after_s=missing_after_s
                )

        # (Redis or the database away: the turn is retried with a backoff, never given up.)
        await pause(interval_s)
        await every(interval_s, turn, "reconcile audit")

    async def reconcile(self, confirm_s: float = 2.0, missing_after_s: float = 60.0) -> int:
        """Repair every confirmed mismatch; returns how many interactions were repaired."""
        redis, keys = self.router.redis, self.router.keys
        data_lost = not await redis.exists(keys.epoch)
        suspects = await self._mismatches(None)
        if suspects and confirm_s > 0:
            await asyncio.sleep(confirm_s)
        repaired = 0
        for iid, live in (await self._mismatches(suspects)).items():
            if suspects.get(iid) != live:
                continue  # it moved meanwhile: somebody is working on it
            if live:
                repaired += await self._repair(iid, live)
            elif data_lost or await self._missing_for(iid, missing_after_s):
                repaired += await self._restore(iid, assigned_too=data_lost)
        # After the interactions: their loads must be back before agents take new work.
        repaired += await self.restore_agents()
        await redis.set(keys.epoch, "1")
        return repaired

    async def _missing_for(self, iid: int, seconds: float) -> bool:
        """Whether Redis has had no trace of the interaction for ``seconds`` (the first
        sighting is remembered in Redis, so the audit's turn may pass between processes)."""
        if seconds <= 0:
            return True
        key, now = self.router.keys.missing(iid), self.router.clock.now_ms()
        ttl_ms = int(seconds * 4000)  # forgotten if it does not stay missing
        await self.router.redis.set(key, now, nx=True, px=ttl_ms)
        first = int(await self.router.redis.get(key) or now)
        return now - first >= seconds * 1000

    async def restore_agents(self) -> int:
        """Agents at work in the record whom Redis does not know: presence, capacity and
        skills back, after the load of what they hold. Returns how many."""
        async with self.db.read() as s:
            users = list(
                await s.scalars(select(User).where(User.active, User.presence != Presence.OFFLINE))
            )
        known = await self.router.presences([u.id for u in users])
        restored = 0
        for user, presence in zip(users, known, strict=True):
            if presence is not None:
                continue
            # Their assigned work first (idempotent), whether or not this turn found it
            # missing: taking work again with a load of zero could put them over capacity.
            async with self.db.read() as s:
                held = list(
                    await s.scalars(
                        select(Interaction).where(
                            Interaction.agent_id == user.id, Interaction.state == S.ASSIGNED
                        )
                    )
                )
            for i in held:
                await self._restore_assigned(i)
            # A wrap-up's timer went with Redis: the agent is back to available.
            now = Presence.AWAY if user.presence is Presence.AWAY else Presence.AVAILABLE
            await self.router.change_presence(
                user.id, now, user.capacity or DEFAULT_CAPACITY, skills=user.skills or {}
            )
            log.warning("restored agent %s's lost live state (%s)", user.id, now.value)
            if now is Presence.AVAILABLE:
                await self.router.dispatch_agent(user.id)
            restored += 1
        return restored

    async def _mismatches(
        self, only: dict[int, dict[str, str]] | None
    ) -> dict[int, dict[str, str]]:
        """Open interactions whose live state differs from the record ({} when missing)."""
        stmt = select(Interaction).where(Interaction.state.in_(LIVE))
        if only is not None:
            if not only:
                return {}
            stmt = stmt.where(Interaction.id.in_(list(only)))
        async with self.db.read() as s:
            rows = list(await s.scalars(stmt))
        lives = await self.router.live_states([row.id for row in rows])
        return {
            row.id: live
            for row, live in zip(rows, lives, strict=True)
            if not live or _differs(row, live)
        }

    async def _repair(self, iid: int, live: dict[str, str]) -> bool:
        agent_id = int(live["agent"]) if live.get("agent") else None
        if live.get("state") != S.ASSIGNED.value:
            async with self.db.read() as s:
                left = await self._customer_left(s, iid)
            if left:  # waiting again in Redis for a customer who has gone: end it instead
                return await self._close_departed(iid, None)
        async with self.db.transaction() as s:
            i = await self._get(s, iid, lock=True)
            # Read Redis again under the row's lock: the confirmed state may be stale by now
            # (a step and its write both landed since), and writing it would move the record
            # backwards. Only a state that held still all along is a gap.
            if await self.router.live_state(iid) != live:
                return False
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

    async def _restore(self, iid: int, *, assigned_too: bool) -> bool:
        """Put back the live state of an open interaction Redis has lost."""
        async with self.db.read() as s:
            i = await s.get(Interaction, iid)
        if i is None or i.state not in LIVE or await self.router.live_state(iid):
            return False
        if i.state is S.ASSIGNED:
            if not assigned_too or i.agent_id is None:
                return False  # see the module's docstring
            await self._restore_assigned(i)
        else:
            await self._requeue_missing(i)
            await self.router.dispatch(i.queue, i.channel)
        log.warning("restored the lost live state of interaction %s (%s)", iid, i.state.value)
        return True

    async def recover(self) -> int:
        """At start: put interactions the database says are waiting back into Redis, in
        order, and count assigned ones in their agents' load again (capacity stays right)."""
        async with self.db.read() as s:
            assigned = list(
                await s.scalars(
                    select(Interaction).where(
                        Interaction.state == S.ASSIGNED, Interaction.agent_id.is_not(None)
                    )
                )
            )
            waiting = list(
                await s.scalars(
                    select(Interaction)
                    .where(Interaction.state.in_([S.QUEUED, S.OFFERED]))
                    .order_by(Interaction.queued_at)
                )
            )
        for i in assigned:
            await self._restore_assigned(i)
        await self.restore_agents()
        await self.router.redis.set(self.router.keys.epoch, "1")
        restored = 0
        for i, live in zip(
            waiting, await self.router.live_states([i.id for i in waiting]), strict=True
        ):
            if not live:
                await self._requeue_missing(i)
                restored += 1
        return restored

    async def _requeue_missing(self, i: Interaction) -> None:
        async with self.db.read() as s:
            left = await self._customer_left(s, i.id)
        if left:  # never back into a queue for a customer who has gone
            await self._close_departed(i.id, None)
            return
        if i.state is S.OFFERED:  # the offer died with the live state: back to waiting
            async with self.db.transaction() as s:
                row = await self._get(s, i.id, lock=True)
                row.state, row.agent_id = S.QUEUED, None
                events.append(s, events.Requeued(reason="recovery"), interaction=row)
        await self.router.enqueue(
            i.id,
            **placement(i),
        )

    async def _restore_assigned(self, i: Interaction) -> None:
        assert i.agent_id is not None
        await self.router.restore_assigned(  # idempotent: live state is left alone
            i.id,
            i.agent_id,
            queue=i.queue,
            channel=i.channel,
            priority=i.priority,
            enqueued_ms=_ms(i.queued_at or i.created_at),
            skills=i.required_skills,
        )


def _differs(i: Interaction, live: dict[str, str]) -> bool:
    agent = int(live["agent"]) if live.get("agent") else None
    if live.get("state") == S.QUEUED.value:
        return i.state is not S.QUEUED
    return live.get("state") != i.state.value or agent != i.agent_id
