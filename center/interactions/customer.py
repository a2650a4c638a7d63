"""The customer's side of an interaction: start, messages, queueing, leaving, articles read."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from center.channels.base import CustomerNotice
from center.interactions import one_statement, rows, state_statements
from center.interactions.base import (
    InteractionError,
    MessageHook,
    ServiceBase,
    StepHook,
    Stored,
    message_json,
    placement,
)
from center.notices import AgentNotice
from center.queue.scripts import ErrorCode, RouterError
from center.records import events
from center.records.base import utcnow
from center.records.enums import (
    ActorKind,
    Channel,
    Direction,
    InteractionState,
)
from center.records.models import Event, Interaction, Message

S = InteractionState


class CustomerSide(ServiceBase):
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
        external_ref: str | None = None,
        before: StepHook | None = None,
        after: MessageHook | None = None,
    ) -> Stored:
        """A new conversation with its first message, in one transaction: started, message
        received, and then either the articles shown to the customer (``suggested``: the
        chat waits for them to read or ask for an agent) or queued at once. ``before`` and
        ``after`` run in that transaction (see ``StepHook``); ``external_ref`` is the
        channel's own key for the conversation (an SMS conversation's number)."""
        one = before is None and after is None and external_ref is None
        if one and self.db.single_statement_steps:
            async with self.db.statement() as c:
                i, m = await state_statements.started(
                    c, customer_id=customer_id, channel=channel, body=body, queue=queue,
                    priority=priority, suggested=suggested, meta=meta, now=utcnow(),
                )  # fmt: skip
            if not suggested:
                await self._route(i)
            return Stored(i, m)
        i, m = await self.db.run_step(
            self._start_body, customer_id, channel, body, queue, priority, suggested, meta,
            external_ref, before, after, one_call=before is None and after is None,
        )  # fmt: skip
        if not suggested:
            await self._route(i)
        return Stored(i, m)

    async def _start_body(
        self,
        c: AsyncConnection,
        customer_id: int,
        channel: Channel,
        body: str,
        queue: str,
        priority: int,
        suggested: list[int] | None,
        meta: dict[str, Any] | None,
        external_ref: str | None,
        before: StepHook | None,
        after: MessageHook | None,
    ) -> tuple[Interaction, Message]:
        if before is not None:
            await before(c)
        # Inserted in the state it ends this step in (one statement, not insert+update).
        now = utcnow()
        i = await rows.insert_interaction(
            c, customer_id=customer_id, channel=channel, queue=queue, priority=priority,
            state=S.NEW if suggested else S.QUEUED, created_at=now,
            queued_at=None if suggested else now, external_ref=external_ref,
        )  # fmt: skip
        m = await rows.insert_message(c, i.id, Direction.INBOUND, body, meta=meta)
        customer = ActorKind.CUSTOMER
        await events.write(
            c,
            events.row(
                events.InteractionStarted(channel=channel.value),
                interaction=i,
                actor_kind=customer,
            ),
            events.row(
                events.MessageReceived(message_id=m.id, body=body),
                interaction=i,
                actor_kind=customer,
            ),
            events.row(events.ArticlesSuggested(article_ids=suggested), interaction=i)
            if suggested
            else events.row(events.Queued(queue=i.queue, priority=i.priority), interaction=i),
        )
        if after is not None:
            await after(c, i, m)
        return i, m

    async def inbound(
        self,
        interaction_id: int,
        body: str,
        meta: dict[str, Any] | None = None,
        *,
        before: StepHook | None = None,
        after: MessageHook | None = None,
    ) -> Stored:
        """Store a customer's message (durably, before anyone acknowledges it). ``before``
        and ``after`` run in its transaction (see ``StepHook``)."""
        async with self.db.step() as c:
            if before is not None:
                await before(c)
            i = await self._load(c, interaction_id)
            if not i.state.is_open:
                raise InteractionError("closed", "this conversation has ended")
            m = await self._store_inbound(c, i, body, meta)
            if after is not None:
                await after(c, i, m)
        return await self.inbound_stored(i, m)

    async def inbound_open(self, customer_id: int, channel: Channel, body: str) -> Stored | None:
        """A customer's message to their open conversation on ``channel``, found in the same
        step (not looked up in a read of its own first); None when they have none, and
        nothing is written (the caller starts one)."""
        if self.db.single_statement_steps:
            async with self.db.statement() as c:
                stored = await one_statement.inbound_open(c, customer_id, channel, body, utcnow())
            if stored is None:
                return None
            return await self.inbound_stored(*stored)
        stored = await self.db.run_step(self._inbound_open_body, customer_id, channel, body)
        return None if stored is None else await self.inbound_stored(*stored)

    async def _inbound_open_body(
        self, c: AsyncConnection, customer_id: int, channel: Channel, body: str
    ) -> tuple[Interaction, Message] | None:
        i = await rows.open_conversation(c, customer_id, channel)
        if i is None:
            return None
        return i, await self._store_inbound(c, i, body, None)

    async def _store_inbound(
        self, c: AsyncConnection, i: Interaction, body: str, meta: dict[str, Any] | None
    ) -> Message:
        m = await rows.insert_message(c, i.id, Direction.INBOUND, body, meta=meta)
        await events.write(
            c,
            events.row(
                events.MessageReceived(message_id=m.id, body=body),
                interaction=i,
                actor_kind=ActorKind.CUSTOMER,
            ),
        )
        return m

    async def inbound_stored(self, i: Interaction, m: Message) -> Stored:
        """After a customer's message committed (in ``inbound``'s steps, or in a channel's
        own one-statement step: SMS, center/channels/sms/joined.py): the assigned agent sees
        it, then the listeners run."""
        if i.agent_id is not None and i.state is S.ASSIGNED:
            await self.bus.to_agent(i.agent_id, AgentNotice.MESSAGE, message_json(m))
            self._tell_listeners(i, m)
        return Stored(i, m)

    async def enqueue(self, interaction_id: int) -> int:
        """Queue an interaction for routing; returns its position."""
        async with self.db.step() as c:
            i = await self._load(c, interaction_id, lock=True)
            if i.state not in (S.NEW, S.IVR):
                raise InteractionError("bad_state", f"cannot queue from {i.state.value}")
            await rows.set_interaction(c, i, state=S.QUEUED, queued_at=utcnow())
            await events.write(
                c, events.row(events.Queued(queue=i.queue, priority=i.priority), interaction=i)
            )
        return await self._route(i)

    async def route_queued(self, i: Interaction) -> int:
        """Route an interaction another channel's step stored as queued (with its Queued
        event), after that step committed: email stores message, ticket and interaction
        in one transaction of its own."""
        return await self._route(i)

    async def route_queued_many(self, queued: list[Interaction]) -> None:
        """``route_queued`` for several committed together (a batch of e-mail): each
        placed in its queue, then one dispatch per queue and channel, not one each."""
        await asyncio.gather(*(self._place(i) for i in queued))
        for queue, channel in dict.fromkeys((i.queue, i.channel) for i in queued):
            await self.router.dispatch(queue, channel)

    async def _route(self, i: Interaction) -> int:
        """Hand a queued interaction (committed as such) to the router; its position. The
        customer is told their place before any agent is offered the work."""

        async def placed(position: int) -> None:
            await self._notify(i, CustomerNotice.QUEUED, {"position": position})

        position, _ = await self.router.enqueue_and_dispatch(
            i.id,
            **placement(i),
            on_placed=placed,
        )
        return position

    async def _place(self, i: Interaction) -> int:
        position = await self.router.enqueue(
            i.id,
            **placement(i),
        )
        await self._notify(i, CustomerNotice.QUEUED, {"position": position})
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
        if removed is None and i.state is S.ABANDONED:
            # Assigned when Redis was asked, and waiting by our write: re-queued in between
            # (its agent went away). Out of the queue too, or it is offered to nobody's end.
            with contextlib.suppress(RouterError):
                removed = await self.router.remove(interaction_id)
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
        found = await s.scalars(
            select(Event.data)
            .where(
                Event.interaction_id == interaction_id,
                Event.type == events.EventType.ARTICLE_VIEWED.value,
            )
            .order_by(Event.id)
        )
        return [int(d["article_id"]) for d in found]
