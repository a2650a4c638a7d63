"""Shared parts of the interaction service: errors, JSON shapes, row helpers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from center.channels.base import ChannelAdapter, CustomerNotice
from center.interactions import rows
from center.interactions.followups import Followups
from center.notices import AgentBus, AgentNotice
from center.queue.router import Router
from center.queue.scripts import ErrorCode, RouterError
from center.records import events
from center.records.base import utcnow
from center.records.db import Database
from center.records.enums import (
    Channel,
    InteractionState,
)
from center.records.models import Event, Interaction, Message, User

log = logging.getLogger(__name__)
T = TypeVar("T")
S = InteractionState


class InteractionError(Exception):
    """A refused action; ``code`` is stable for clients, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# Called after a customer message is stored, and when an agent accepts (with the last
# customer message): how the knowledge base pushes suggestions without a dependency here.
ConversationListener = Callable[[Interaction, Message | None], Awaitable[None]]
# Run inside a step's transaction by a channel that must write beside it (a webhook's replay
# guard, an outbox row for the message just stored); raising an InteractionError refuses the
# whole step, so nothing of it is written.
StepHook = Callable[[AsyncConnection], Awaitable[None]]
MessageHook = Callable[[AsyncConnection, Interaction, Message], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Stored:
    interaction: Interaction
    message: Message


def _ms(dt: datetime | None) -> int:
    return int((dt or utcnow()).timestamp() * 1000)


def placement(i: Interaction) -> dict[str, Any]:
    """Where and how the router places a queued interaction (``Router.enqueue``'s keywords)."""
    return {
        "queue": i.queue,
        "channel": i.channel,
        "priority": i.priority,
        "enqueued_ms": _ms(i.queued_at),
        "skills": i.required_skills,
    }


def message_json(m: Message) -> dict[str, Any]:
    return {
        "id": m.id,
        "interaction_id": m.interaction_id,
        "direction": m.direction.value,
        "author_id": m.author_id,
        "body": m.body,
        "at": m.created_at.isoformat(),
        # Channel facts the console shows: outbox delivery, Twilio status, media URLs.
        **{k: m.meta[k] for k in ("delivery", "sms", "media") if m.meta and k in m.meta},
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


class ServiceBase:
    """State shared by the parts of the service, and the helpers they all use."""

    db: Database
    router: Router
    bus: AgentBus
    adapters: dict[Channel, ChannelAdapter]
    listeners: list[ConversationListener]
    followups: Followups
    # Per channel: runs in the agent's reply step after the message is stored (SMS: refuse
    # an opted-out number, enqueue the outbox row in the same transaction).
    outbound_steps: dict[Channel, MessageHook]

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
        return _check_owned(await self._get(s, interaction_id, lock=lock), agent)

    # The hot path's versions (a Core connection from ``db.step()``; see rows.py).

    async def _plain_case(
        self, statement: Callable[[AsyncConnection], Awaitable[T | None]]
    ) -> T | None:
        """The step as its one statement on PostgreSQL (state_statements.py); None when it
        wrote nothing (not the plain case) or on SQLite: the caller then takes the step's
        transaction."""
        if not self.db.single_statement_steps:
            return None
        async with self.db.statement() as c:
            return await statement(c)

    async def _load(
        self, c: AsyncConnection, interaction_id: int, *, lock: bool = False
    ) -> Interaction:
        try:
            return await rows.interaction(c, interaction_id, lock=lock)
        except rows.Missing:
            raise InteractionError("not_found", f"no interaction {interaction_id}") from None

    async def _load_owned(
        self, c: AsyncConnection, agent: User, interaction_id: int, *, lock: bool = False
    ) -> Interaction:
        return _check_owned(await self._load(c, interaction_id, lock=lock), agent)

    def _tell_listeners(self, i: Interaction, m: Message | None) -> None:
        """Run the listeners beside the conversation (see followups), never holding it up."""
        if not self.listeners:
            return

        async def run() -> None:
            for listener in self.listeners:
                try:
                    await listener(i, m)
                except Exception:  # a helper feature must never break the conversation
                    log.exception("conversation listener failed")

        self.followups.submit(i.id, run)

    async def _notify(self, i: Interaction, notice: CustomerNotice, data: dict[str, Any]) -> None:
        adapter = self.adapters.get(i.channel)
        if adapter is not None:
            await adapter.notify(i, notice, {"interaction_id": i.id, **data})

    # -- a customer who has left -----------------------------------------------------------
    # Their departure from an assigned interaction is recorded (customer_left) and the
    # agent told; the interaction stays with the agent until they close it. Handing it on
    # instead (their agent went away, a transfer, a repair of the live state) would offer
    # nobody's conversation to agent after agent, ahead of live customers: every such path
    # asks here first and ends it instead.

    async def _customer_left(self, s: AsyncSession, interaction_id: int) -> bool:
        left = exists().where(
            Event.interaction_id == interaction_id,
            Event.type == events.EventType.CUSTOMER_LEFT.value,
        )
        return bool(await s.scalar(select(left)))

    async def _close_departed(self, interaction_id: int, agent_id: int | None) -> bool:
        """End an open interaction whose customer has left (its live state first, then the
        record: wrap-up and closed, disposition ``customer_left``). False when it was
        already over, or another agent holds it in Redis (the record lags: left alone)."""
        if not await self._drop_live(interaction_id, agent_id):
            return False
        async with self.db.transaction() as s:
            i = await self._get(s, interaction_id, lock=True)
            if not i.state.is_open or i.state is S.WRAP_UP:
                return False
            now = utcnow()
            holder = i.agent_id if i.state is S.ASSIGNED else None
            if holder is not None:
                events.append(
                    s,
                    events.WrapUp(agent_id=holder, note="", disposition="customer_left"),
                    interaction=i,
                )
            handle = (now - i.assigned_at).total_seconds() if i.assigned_at else None
            i.state, i.ended_at = S.CLOSED, now
            i.disposition = i.disposition or "customer_left"
            events.append(
                s, events.Closed(handle_s=round(handle, 3) if handle else None), interaction=i
            )
        if holder is not None:
            await self.bus.to_agent(holder, AgentNotice.CLOSED, {"interaction_id": i.id})
        return True

    async def _drop_live(self, interaction_id: int, agent_id: int | None) -> bool:
        if agent_id is not None:
            try:
                await self.router.finish(interaction_id, agent_id, wrap_up_ms=0)
                return True
            except RouterError as exc:
                if exc.code is ErrorCode.NOT_YOURS:
                    return False
                # NOT_ASSIGNED: waiting again (re-queued meanwhile); NOT_FOUND: gone.
        try:
            removed = await self.router.remove(interaction_id)
        except RouterError as exc:
            return exc.code is not ErrorCode.NOT_WAITING  # assigned to somebody: theirs
        if removed.agent_id is not None:
            await self.bus.to_agent(
                removed.agent_id,
                AgentNotice.OFFER_WITHDRAWN,
                {"interaction_id": interaction_id, "reason": "customer_left"},
            )
        return True


def _check_owned(i: Interaction, agent: User) -> Interaction:
    if i.agent_id != agent.id or i.state is not S.ASSIGNED:
        raise InteractionError("not_yours", "this interaction is not assigned to you")
    return i


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
