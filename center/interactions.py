"""The interaction service: the one place where an interaction changes state.

Each step writes the row and its timeline event in one database transaction, moves the live
routing state in Redis (atomic Lua steps, via the router), then tells the agent consoles and
the customer's channel. Channel adapters call in; nothing here knows a channel's protocol.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from center.agent_ui.notices import AgentBus, AgentNotice
from center.channels.base import ChannelAdapter, CustomerNotice
from center.queue.results import DEFAULT_CAPACITY, Escalated, PresenceChange
from center.queue.router import Declined, Offer, Router
from center.queue.scripts import ErrorCode, RouterError
from center.records import events
from center.records.base import utcnow
from center.records.db import Database
from center.records.enums import (
    ActorKind,
    AwayReason,
    Channel,
    Direction,
    InteractionState,
    Presence,
)
from center.records.models import Event, Interaction, Message, User

log = logging.getLogger(__name__)
S = InteractionState


class InteractionError(Exception):
    """A refused action; ``code`` is stable for clients, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# Called after a customer message is stored, and when an agent accepts (with the last
# customer message): how the knowledge base pushes suggestions without a dependency here.
ConversationListener = Callable[[Interaction, Message | None], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Stored:
    interaction: Interaction
    message: Message


def _ms(dt: datetime | None) -> int:
    return int((dt or utcnow()).timestamp() * 1000)


def message_json(m: Message) -> dict[str, Any]:
    return {
        "id": m.id,
        "interaction_id": m.interaction_id,
        "direction": m.direction.value,
        "author_id": m.author_id,
        "body": m.body,
        "at": m.created_at.isoformat(),
    }


def interaction_json(i: Interaction) -> dict[str, Any]:
    return {
        "id": i.id,
        "customer_id": i.customer_id,
        "channel": i.channel.value,
        "state": i.state.value,
        "queue": i.queue,
        "priority": i.priority,
        "agent_id": i.agent_id,
        "subject": i.subject,
        "created_at": i.created_at.isoformat(),
        "queued_at": i.queued_at.isoformat() if i.queued_at else None,
    }


class InteractionService:
    def __init__(self, db: Database, router: Router, bus: AgentBus) -> None:
        self.db = db
        self.router = router
        self.bus = bus
        self.adapters: dict[Channel, ChannelAdapter] = {}
        self.listeners: list[ConversationListener] = []
        router.on_offer = self._offered
        router.on_timeout = self._timed_out
        router.on_escalated = self._escalated
        router.on_wrap_up_end = self._wrap_up_ended

    def register(self, adapter: ChannelAdapter) -> None:
        self.adapters[adapter.channel] = adapter

    # -- customer side ---------------------------------------------------------------------

    async def open(
        self,
        customer_id: int,
        channel: Channel,
        *,
        queue: str = "default",
        priority: int = 0,
        subject: str | None = None,
        external_ref: str | None = None,
    ) -> Interaction:
        async with self.db.transaction() as s:
            i = Interaction(
                customer_id=customer_id,
                channel=channel,
                state=S.NEW,
                queue=queue,
                priority=priority,
                subject=subject,
                external_ref=external_ref,
            )
            s.add(i)
            await s.flush()
            events.append(
                s,
                events.InteractionStarted(channel=channel.value),
                interaction=i,
                actor_kind=ActorKind.CUSTOMER,
            )
        return i

    async def start(
        self,
        customer_id: int,
        channel: Channel,
        body: str,
        *,
        queue: str = "default",
        priority: int = 0,
        suggested: list[int] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Stored:
        """A new conversation with its first message, in one transaction: started, message
        received, and then either the articles shown to the customer (``suggested``: the
        chat waits for them to read or ask for an agent) or queued at once."""
        async with self.db.transaction() as s:
            i = Interaction(
                customer_id=customer_id, channel=channel, state=S.NEW, queue=queue,
                priority=priority,
            )  # fmt: skip
            s.add(i)
            await s.flush()
            events.append(
                s,
                events.InteractionStarted(channel=channel.value),
                interaction=i,
                actor_kind=ActorKind.CUSTOMER,
            )
            m = Message(
                interaction_id=i.id, direction=Direction.INBOUND, body=body, meta=meta or {}
            )
            s.add(m)
            await s.flush()
            events.append(
                s,
                events.MessageReceived(message_id=m.id, body=body),
                interaction=i,
                actor_kind=ActorKind.CUSTOMER,
            )
            if suggested:
                events.append(s, events.ArticlesSuggested(article_ids=suggested), interaction=i)
            else:
                i.state, i.queued_at = S.QUEUED, utcnow()
                events.append(s, events.Queued(queue=i.queue, priority=i.priority), interaction=i)
        if not suggested:
            await self._route(i)
        return Stored(i, m)

    async def inbound(
        self, interaction_id: int, body: str, meta: dict[str, Any] | None = None
    ) -> Stored:
        """Store a customer's message (durably, before anyone acknowledges it)."""
        async with self.db.transaction() as s:
            i = await self._get(s, interaction_id)
            if not i.state.is_open:
                raise InteractionError("closed", "this conversation has ended")
            m = Message(
                interaction_id=i.id, direction=Direction.INBOUND, body=body, meta=meta or {}
            )
            s.add(m)
            await s.flush()
            events.append(
                s,
                events.MessageReceived(message_id=m.id, body=body),
                interaction=i,
                actor_kind=ActorKind.CUSTOMER,
            )
        if i.agent_id is not None and i.state is S.ASSIGNED:
            await self.bus.to_agent(i.agent_id, AgentNotice.MESSAGE, message_json(m))
            await self._tell_listeners(i, m)
        return Stored(i, m)

    async def enqueue(self, interaction_id: int) -> int:
        """Queue an interaction for routing; returns its position."""
        async with self.db.transaction() as s:
            i = await self._get(s, interaction_id, lock=True)
            if i.state not in (S.NEW, S.IVR):
                raise InteractionError("bad_state", f"cannot queue from {i.state.value}")
            i.state, i.queued_at = S.QUEUED, utcnow()
            events.append(s, events.Queued(queue=i.queue, priority=i.priority), interaction=i)
        return await self._route(i)

    async def _route(self, i: Interaction) -> int:
        """Hand a queued interaction (committed as such) to the router; its position."""
        position = await self.router.enqueue(
            i.id,
            queue=i.queue,
            channel=i.channel,
            priority=i.priority,
            enqueued_ms=_ms(i.queued_at),
        )
        await self._notify(i, CustomerNotice.QUEUED, {"position": position})
        await self.router.dispatch(i.queue, i.channel)
        return position

    async def customer_gone(self, interaction_id: int) -> Interaction:
        """The customer left: abandoned if still waiting, otherwise the agent is told."""
        try:
            removed = await self.router.remove(interaction_id)
        except RouterError as exc:
            if exc.code is not ErrorCode.NOT_WAITING and exc.code is not ErrorCode.NOT_FOUND:
                raise
            removed = None
        async with self.db.transaction() as s:
            i = await self._get(s, interaction_id, lock=True)
            viewed = await self._viewed_articles(s, i.id) if i.state is S.NEW else []
            if viewed:
                # Read an article before ever queueing, then left: self-service worked.
                i.state, i.ended_at = S.DEFLECTED, utcnow()
                events.append(
                    s,
                    events.Deflected(article_ids=viewed),
                    interaction=i,
                    actor_kind=ActorKind.CUSTOMER,
                )
            elif i.state.is_waiting or i.state in (S.NEW, S.IVR):
                before = i.state
                wait = (utcnow() - (i.queued_at or i.created_at)).total_seconds()
                i.state, i.ended_at, i.agent_id = S.ABANDONED, utcnow(), None
                events.append(
                    s,
                    events.Abandoned(wait_s=round(wait, 3), state_before=before),
                    interaction=i,
                    actor_kind=ActorKind.CUSTOMER,
                )
            elif i.state is S.ASSIGNED:
                events.append(
                    s, events.CustomerLeft(), interaction=i, actor_kind=ActorKind.CUSTOMER
                )
        if removed is not None and removed.agent_id is not None:
            await self.bus.to_agent(
                removed.agent_id,
                AgentNotice.OFFER_WITHDRAWN,
                {"interaction_id": interaction_id, "reason": "abandoned"},
            )
            await self.router.dispatch_all([i.channel])
        elif i.state is S.ASSIGNED and i.agent_id is not None:
            await self.bus.to_agent(
                i.agent_id, AgentNotice.CUSTOMER_LEFT, {"interaction_id": interaction_id}
            )
        return i

    async def article_viewed(self, interaction_id: int, article_id: int) -> None:
        async with self.db.transaction() as s:
            i = await self._get(s, interaction_id)
            if not i.state.is_open:
                raise InteractionError("closed", "this conversation has ended")
            events.append(
                s,
                events.ArticleViewed(article_id=article_id),
                interaction=i,
                actor_kind=ActorKind.CUSTOMER,
            )

    async def _viewed_articles(self, s: AsyncSession, interaction_id: int) -> list[int]:
        rows = await s.scalars(
            select(Event.data)
            .where(
                Event.interaction_id == interaction_id,
                Event.type == events.EventType.ARTICLE_VIEWED.value,
            )
            .order_by(Event.id)
        )
        return [int(d["article_id"]) for d in rows]

    # -- router callbacks ------------------------------------------------------------------

    async def _offered(self, offer: Offer) -> None:
        async with self.db.transaction() as s:
            i = await self._get(s, offer.interaction_id, lock=True)
            if i.state is S.OFFERED and i.agent_id not in (None, offer.agent_id):
                # The previous offer ended in Redis but its record never came: the process
                # that ended it died between the two (seen in the SIGKILL proof). Say so
                # rather than leave a silent gap in the timeline.
                events.append(
                    s,
                    events.Requeued(reason="offer_unrecorded", agent_id=i.agent_id),
                    interaction=i,
                )
            i.state, i.agent_id = S.OFFERED, offer.agent_id
            timeout = self.router.options.offer_timeout_ms / 1000
            events.append(
                s, events.Offered(agent_id=offer.agent_id, timeout_s=timeout), interaction=i
            )
            preview = await s.scalar(
                select(Message.body)
                .where(Message.interaction_id == i.id)
                .order_by(Message.id.desc())
                .limit(1)
            )
        await self.bus.to_agent(
            offer.agent_id,
            AgentNotice.OFFER,
            {
                **interaction_json(i),
                "deadline_ms": offer.deadline_ms,
                "timeout_s": timeout,
                "preview": (preview or "")[:200],
            },
        )

    async def _timed_out(self, declined: Declined) -> None:
        await self._declined(
            declined,
            events.OfferTimedOut(
                agent_id=declined.agent_id, missed_in_a_row=declined.missed_in_a_row
            ),
        )
        await self.bus.to_agent(
            declined.agent_id,
            AgentNotice.OFFER_WITHDRAWN,
            {"interaction_id": declined.interaction_id, "reason": "timeout"},
        )
        if declined.set_away:
            await self._record_change(
                PresenceChange(
                    declined.agent_id,
                    Presence.AWAY,
                    Presence.AVAILABLE,
                    declined.available_ms,
                ),
                AwayReason.MISSED_OFFERS.value,
            )

    async def _declined(self, d: Declined, payload: events.Payload) -> None:
        async with self.db.transaction() as s:
            i = await self._get(s, d.interaction_id, lock=True)
            # Another process may already have re-offered it: only undo our own offer.
            if i.state is S.OFFERED and i.agent_id == d.agent_id:
                i.state, i.agent_id = S.QUEUED, None
            events.append(
                s, payload, interaction=i, actor_kind=ActorKind.AGENT, actor_id=d.agent_id
            )

    # -- agent side ------------------------------------------------------------------------

    async def accept(self, agent: User, interaction_id: int) -> tuple[Interaction, list[Message]]:
        try:
            enq_ms = await self.router.accept(interaction_id, agent.id)
        except RouterError as exc:
            raise InteractionError(exc.code.name.lower(), _ACCEPT_ERRORS[exc.code]) from None
        async with self.db.transaction() as s:
            i = await self._get(s, interaction_id, lock=True)
            i.state, i.agent_id, i.assigned_at = S.ASSIGNED, agent.id, utcnow()
            wait = max(0.0, _ms(i.assigned_at) / 1000 - enq_ms / 1000)
            events.append(
                s,
                events.Accepted(agent_id=agent.id, wait_s=round(wait, 3)),
                interaction=i,
                actor_kind=ActorKind.AGENT,
                actor_id=agent.id,
            )
            msgs = list(
                await s.scalars(
                    select(Message).where(Message.interaction_id == i.id).order_by(Message.id)
                )
            )
        await self._notify(i, CustomerNotice.AGENT_JOINED, {"agent": agent.display_name})
        await self.bus.to_agent(
            agent.id,
            AgentNotice.ASSIGNED,
            {**interaction_json(i), "messages": [message_json(m) for m in msgs]},
        )
        last_inbound = next((m for m in reversed(msgs) if m.direction is Direction.INBOUND), None)
        await self._tell_listeners(i, last_inbound)
        return i, msgs

    async def reject(self, agent: User, interaction_id: int) -> None:
        try:
            declined = await self.router.decline(interaction_id, agent.id, timeout=False)
        except RouterError as exc:
            raise InteractionError(exc.code.name.lower(), _ACCEPT_ERRORS[exc.code]) from None
        await self._declined(declined, events.OfferRejected(agent_id=agent.id))
        await self.router.dispatch(declined.queue, declined.channel)

    async def outbound(self, agent: User, interaction_id: int, body: str) -> Stored:
        async with self.db.transaction() as s:
            i = await self._owned(s, agent, interaction_id)
            m = Message(
                interaction_id=i.id, direction=Direction.OUTBOUND, body=body, author_id=agent.id
            )
            s.add(m)
            await s.flush()
            events.append(
                s,
                events.MessageSent(message_id=m.id, body=body, agent_id=agent.id),
                interaction=i,
                actor_kind=ActorKind.AGENT,
                actor_id=agent.id,
            )
        adapter = self.adapters.get(i.channel)
        if adapter is not None:
            await adapter.deliver(i, m, agent.display_name)
        return Stored(i, m)

    async def agent_typing(self, agent: User, interaction_id: int) -> None:
        async with self.db.read() as s:
            i = await self._owned(s, agent, interaction_id)
        await self._notify(i, CustomerNotice.AGENT_TYPING, {"agent": agent.display_name})

    async def close(
        self, agent: User, interaction_id: int, *, note: str, disposition: str | None
    ) -> Interaction:
        async with self.db.read() as s:
            await self._owned(s, agent, interaction_id)
        released = None
        try:
            released = await self.router.finish(interaction_id, agent.id)
        except RouterError as exc:
            # Live state gone (Redis restarted): the record still closes.
            if exc.code is not ErrorCode.NOT_FOUND:
                raise InteractionError(exc.code.name.lower(), str(exc)) from None
        async with self.db.transaction() as s:
            i = await self._owned(s, agent, interaction_id, lock=True)
            now = utcnow()
            i.state, i.wrap_up_note, i.disposition = S.WRAP_UP, note, disposition
            events.append(
                s,
                events.WrapUp(agent_id=agent.id, note=note, disposition=disposition),
                interaction=i,
                actor_kind=ActorKind.AGENT,
                actor_id=agent.id,
            )
            handle = (now - i.assigned_at).total_seconds() if i.assigned_at else None
            i.state, i.ended_at = S.CLOSED, now
            events.append(
                s,
                events.Closed(handle_s=round(handle, 3) if handle else None),
                interaction=i,
                actor_kind=ActorKind.AGENT,
                actor_id=agent.id,
            )
        await self._notify(i, CustomerNotice.CLOSED, {})
        await self.bus.to_agent(agent.id, AgentNotice.CLOSED, {"interaction_id": i.id})
        if released is not None and released.wrap_up is not None:
            await self._record_change(released.wrap_up, None)
        else:
            # Capacity freed: offer this agent the backlog at once (event-driven).
            await self.router.dispatch_agent(agent.id)
        return i

    async def set_presence(
        self, agent: User, presence: Presence, reason: str | None = None
    ) -> None:
        if presence is Presence.WRAP_UP:
            raise InteractionError("malformed", "wrap-up starts by closing an interaction")
        # A user without a capacity setting is a blended agent with the default capacities.
        capacity = agent.capacity or DEFAULT_CAPACITY
        try:
            change = await self.router.change_presence(
                agent.id, presence, capacity, skills=agent.skills or {}
            )
        except ValueError as exc:  # e.g. a skill level outside 1..10 in the user record
            raise InteractionError("bad_skills", str(exc)) from None
        await self._record_change(change, reason)
        if presence is Presence.AVAILABLE:
            await self.router.dispatch_agent(agent.id)

    async def _wrap_up_ended(self, change: PresenceChange) -> None:
        await self._record_change(change, "wrap_up_timer")
        await self.router.dispatch_agent(change.agent_id)

    async def _record_change(self, change: PresenceChange, reason: str | None) -> None:
        duration = None if change.duration_ms is None else round(change.duration_ms / 1000, 3)
        await self._record_presence(
            change.agent_id,
            change.presence,
            reason,
            previous=change.previous.value if change.previous else None,
            duration_s=duration,
        )

    async def _record_presence(
        self,
        agent_id: int,
        presence: Presence,
        reason: str | None,
        *,
        previous: str | None = None,
        duration_s: float | None = None,
    ) -> None:
        async with self.db.transaction() as s:
            user = await s.get(User, agent_id)
            if user is not None:
                if previous is None and duration_s is None:
                    previous = user.presence.value
                user.presence = presence
            events.append(
                s,
                events.PresenceChanged(
                    presence=presence.value,
                    reason=reason,
                    previous=previous,
                    duration_s=duration_s,
                ),
                actor_kind=ActorKind.AGENT,
                actor_id=agent_id,
            )
        await self.bus.to_agent(
            agent_id, AgentNotice.PRESENCE, {"presence": presence.value, "reason": reason}
        )

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

    # -- helpers ---------------------------------------------------------------------------

    async def _get(
        self, s: AsyncSession, interaction_id: int, *, lock: bool = False
    ) -> Interaction:
        stmt = select(Interaction).where(Interaction.id == interaction_id)
        if lock:
            stmt = stmt.with_for_update()
        i = await s.scalar(stmt)
        if i is None:
            raise InteractionError("not_found", f"no interaction {interaction_id}")
        return i

    async def _owned(
        self, s: AsyncSession, agent: User, interaction_id: int, *, lock: bool = False
    ) -> Interaction:
        i = await self._get(s, interaction_id, lock=lock)
        if i.agent_id != agent.id or i.state is not S.ASSIGNED:
            raise InteractionError("not_yours", "this interaction is not assigned to you")
        return i

    async def _tell_listeners(self, i: Interaction, m: Message | None) -> None:
        for listener in self.listeners:
            try:
                await listener(i, m)
            except Exception:  # a helper feature must never break the conversation
                log.exception("conversation listener failed")

    async def _notify(self, i: Interaction, notice: CustomerNotice, data: dict[str, Any]) -> None:
        adapter = self.adapters.get(i.channel)
        if adapter is not None:
            await adapter.notify(i, notice, {"interaction_id": i.id, **data})


_ACCEPT_ERRORS = {
    ErrorCode.NOT_FOUND: "no such offer",
    ErrorCode.NOT_OFFERED: "this interaction is not on offer (taken or withdrawn)",
    ErrorCode.NOT_YOURS: "this offer was made to another agent",
    ErrorCode.EXPIRED: "the offer has expired",
}

_TRANSFER_ERRORS = {
    ErrorCode.NOT_FOUND: "this interaction is no longer routed",
    ErrorCode.NOT_ASSIGNED: "only an assigned interaction can be transferred",
    ErrorCode.NOT_YOURS: "this interaction is not assigned to you",
    ErrorCode.AGENT_UNAVAILABLE: "that agent is not available for this channel",
}

__all__ = ["InteractionError", "InteractionService", "interaction_json", "message_json"]
