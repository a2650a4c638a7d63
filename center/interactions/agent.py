"""The agent's side: offers (the router's callbacks), accept, reject, replies, close, presence."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from center.channels.base import CustomerNotice
from center.interactions import one_statement, rows, state_statements
from center.interactions.base import (
    _ACCEPT_ERRORS,
    InteractionError,
    ServiceBase,
    Stored,
    _ms,
    interaction_json,
    message_json,
)
from center.notices import AgentNotice
from center.queue.results import DEFAULT_CAPACITY, PresenceChange
from center.queue.router import Declined, Offer
from center.queue.scripts import ErrorCode, RouterError
from center.records import events
from center.records.base import utcnow
from center.records.enums import (
    ActorKind,
    AwayReason,
    Channel,
    Direction,
    InteractionState,
    Presence,
)
from center.records.models import Interaction, Message, User

S = InteractionState


class AgentSide(ServiceBase):
    # -- router callbacks ------------------------------------------------------------------

    async def _offered(self, offer: Offer) -> None:
        timeout = self.router.options.offer_timeout_ms / 1000
        found = await self._plain_case(
            lambda c: state_statements.offered(
                c, offer.interaction_id, offer.agent_id, timeout, utcnow()
            )
        )
        if found is None:
            found = await self._offered_step(offer, timeout)
        i, preview = found
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

    async def _offered_step(self, offer: Offer, timeout: float) -> tuple[Interaction, str | None]:
        return await self.db.run_step(self._offered_body, offer, timeout)

    async def _offered_body(
        self, c: AsyncConnection, offer: Offer, timeout: float
    ) -> tuple[Interaction, str | None]:
        i = await self._load(c, offer.interaction_id, lock=True)
        recorded = i.state is S.OFFERED and i.agent_id == offer.agent_id
        written = []
        if i.state is S.OFFERED and i.agent_id not in (None, offer.agent_id):
            # The previous offer ended in Redis but its record never came: the process
            # that ended it died between the two (seen in the SIGKILL proof). Say so
            # rather than leave a silent gap in the timeline.
            written.append(
                events.row(
                    events.Requeued(reason="offer_unrecorded", agent_id=i.agent_id),
                    interaction=i,
                )
            )
        if not recorded:  # (the audit wrote it down first when this write lagged)
            await rows.set_interaction(c, i, state=S.OFFERED, agent_id=offer.agent_id)
            written.append(
                events.row(
                    events.Offered(agent_id=offer.agent_id, timeout_s=timeout), interaction=i
                )
            )
        await events.write(c, *written)
        return i, await rows.last_body(c, i.id)

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
        await self.db.run_step(self._declined_body, d, payload)

    async def _declined_body(
        self, c: AsyncConnection, d: Declined, payload: events.Payload
    ) -> None:
        i = await self._load(c, d.interaction_id, lock=True)
        # Another process may already have re-offered it: only undo our own offer.
        if i.state is S.OFFERED and i.agent_id == d.agent_id:
            await rows.set_interaction(c, i, state=S.QUEUED, agent_id=None)
        await events.write(
            c,
            events.row(payload, interaction=i, actor_kind=ActorKind.AGENT, actor_id=d.agent_id),
        )

    # -- agent side ------------------------------------------------------------------------

    async def accept(self, agent: User, interaction_id: int) -> tuple[Interaction, list[Message]]:
        try:
            enq_ms = await self.router.accept(interaction_id, agent.id)
        except RouterError as exc:
            raise InteractionError(exc.code.name.lower(), _ACCEPT_ERRORS[exc.code]) from None
        now = utcnow()
        wait_s = round(max(0.0, _ms(now) / 1000 - enq_ms / 1000), 3)
        found = await self._plain_case(
            lambda c: state_statements.accepted(c, interaction_id, agent.id, wait_s, now)
        )
        recorded = False
        if found is not None:
            i, msgs = found
        else:
            i, msgs, recorded = await self._accept_step(agent, interaction_id, wait_s, now)
        if not recorded:
            await self._notify(i, CustomerNotice.AGENT_JOINED, {"agent": agent.display_name})
        await self.bus.to_agent(
            agent.id,
            AgentNotice.ASSIGNED,
            {**interaction_json(i), "messages": [message_json(m) for m in msgs]},
        )
        last_inbound = next((m for m in reversed(msgs) if m.direction is Direction.INBOUND), None)
        self._tell_listeners(i, last_inbound)
        return i, msgs

    async def _accept_step(
        self, agent: User, interaction_id: int, wait_s: float, now: datetime
    ) -> tuple[Interaction, list[Message], bool]:
        return await self.db.run_step(self._accept_body, agent, interaction_id, wait_s, now)

    async def _accept_body(
        self, c: AsyncConnection, agent: User, interaction_id: int, wait_s: float, now: datetime
    ) -> tuple[Interaction, list[Message], bool]:
        i = await self._load(c, interaction_id, lock=True)
        # Already recorded if this write lagged so far behind Redis that the audit
        # wrote it down first (recovery.py): one accept, one event, one "joined".
        recorded = i.state is S.ASSIGNED and i.agent_id == agent.id
        if not recorded:
            await rows.set_interaction(c, i, state=S.ASSIGNED, agent_id=agent.id, assigned_at=now)
            await events.write(
                c,
                events.row(
                    events.Accepted(agent_id=agent.id, wait_s=wait_s),
                    interaction=i,
                    actor_kind=ActorKind.AGENT,
                    actor_id=agent.id,
                ),
            )
        return i, await rows.messages(c, i.id), recorded

    async def reject(self, agent: User, interaction_id: int) -> None:
        try:
            declined = await self.router.decline(interaction_id, agent.id, timeout=False)
        except RouterError as exc:
            raise InteractionError(exc.code.name.lower(), _ACCEPT_ERRORS[exc.code]) from None
        await self._declined(declined, events.OfferRejected(agent_id=agent.id))
        await self.router.dispatch(declined.queue, declined.channel)

    async def outbound(self, agent: User, interaction_id: int, body: str) -> Stored:
        stored = None
        if self.db.single_statement_steps:
            async with self.db.statement() as c:
                stored = await one_statement.outbound_owned(
                    c, agent.id, interaction_id, body, utcnow(), hooked=self.outbound_steps
                )
        else:  # (SQLite: the step below in one call on its thread, unless it has a hook)
            stored = await self.db.run_step(self._outbound_body, agent, interaction_id, body, False)
        if stored is None:
            # Not the agent's, or a channel with a hook: the step that says why or runs it.
            stored = await self.db.run_step(
                self._outbound_body, agent, interaction_id, body, True, one_call=False
            )
        assert stored is not None  # (with its hook allowed, the step always stores or refuses)
        i, m = stored
        adapter = self.adapters.get(i.channel)
        if adapter is not None:
            await adapter.deliver(i, m, agent.display_name)
        return Stored(i, m)

    async def _outbound_body(
        self, c: AsyncConnection, agent: User, interaction_id: int, body: str, hooks: bool
    ) -> tuple[Interaction, Message] | None:
        """The agent's message and its event (and the channel's hook, with ``hooks``; None
        without, for a channel that has one: the hook may await more than the step's
        connection)."""
        i = await self._load_owned(c, agent, interaction_id)
        hook = self.outbound_steps.get(i.channel)
        if hook is not None and not hooks:
            return None
        m = await rows.insert_message(c, i.id, Direction.OUTBOUND, body, author_id=agent.id)
        await events.write(
            c,
            events.row(
                events.MessageSent(message_id=m.id, body=body, agent_id=agent.id),
                interaction=i,
                actor_kind=ActorKind.AGENT,
                actor_id=agent.id,
            ),
        )
        if hook is not None:
            await hook(c, i, m)
        return i, m

    async def agent_typing(self, agent: User, interaction_id: int) -> None:
        async with self.db.read() as s:
            i = await self._owned(s, agent, interaction_id)
        await self._notify(i, CustomerNotice.AGENT_TYPING, {"agent": agent.display_name})

    async def close(
        self, agent: User, interaction_id: int, *, note: str, disposition: str | None
    ) -> Interaction:
        released = None
        try:
            # (The script refuses work that is not assigned to this agent, as the record
            # would: no read of the row first.)
            released = await self.router.finish(interaction_id, agent.id)
        except RouterError as exc:
            if exc.code in (ErrorCode.NOT_YOURS, ErrorCode.NOT_ASSIGNED):
                msg = "this interaction is not assigned to you"
                raise InteractionError("not_yours", msg) from None
            # Live state gone (Redis restarted): the record, checked below, still closes.
            if exc.code is not ErrorCode.NOT_FOUND:
                raise InteractionError(exc.code.name.lower(), str(exc)) from None
        now = utcnow()
        i = await self._plain_case(
            lambda c: state_statements.closed(c, interaction_id, agent.id, note, disposition, now)
        )
        if i is None:
            i = await self._close_step(agent, interaction_id, note, disposition, now)
        await self._notify(i, CustomerNotice.CLOSED, {})
        await self.bus.to_agent(agent.id, AgentNotice.CLOSED, {"interaction_id": i.id})
        if released is not None and released.wrap_up is not None:
            await self._record_change(released.wrap_up, None)
        else:
            # Capacity freed: offer this agent the backlog at once (event-driven).
            await self.router.dispatch_agent(agent.id, _takes(agent))
        return i

    async def _close_step(
        self, agent: User, interaction_id: int, note: str, disposition: str | None, now: datetime
    ) -> Interaction:
        return await self.db.run_step(
            self._close_body, agent, interaction_id, note, disposition, now
        )

    async def _close_body(
        self,
        c: AsyncConnection,
        agent: User,
        interaction_id: int,
        note: str,
        disposition: str | None,
        now: datetime,
    ) -> Interaction:
        i = await self._load_owned(c, agent, interaction_id, lock=True)
        handle = (now - i.assigned_at).total_seconds() if i.assigned_at else None
        # Through wrap-up to closed in one update; both events, in that order.
        await rows.set_interaction(
            c, i, state=S.CLOSED, wrap_up_note=note, disposition=disposition, ended_at=now
        )
        by_agent = {"interaction": i, "actor_kind": ActorKind.AGENT, "actor_id": agent.id}
        await events.write(
            c,
            events.row(
                events.WrapUp(agent_id=agent.id, note=note, disposition=disposition),
                **by_agent,
            ),
            events.row(events.Closed(handle_s=round(handle, 3) if handle else None), **by_agent),
        )
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
            await self.router.dispatch_agent(agent.id, _takes(agent))

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
        async with self.db.step() as c:
            if previous is None and duration_s is None:
                previous = await rows.presence(c, agent_id)
            await rows.set_presence(c, agent_id, presence)
            await events.write(
                c,
                events.row(
                    events.PresenceChanged(
                        presence=presence.value,
                        reason=reason,
                        previous=previous,
                        duration_s=duration_s,
                    ),
                    actor_kind=ActorKind.AGENT,
                    actor_id=agent_id,
                ),
            )
        await self.bus.to_agent(
            agent_id, AgentNotice.PRESENCE, {"presence": presence.value, "reason": reason}
        )


def _takes(agent: User) -> list[Channel]:
    """The channels ``agent`` has capacity for (as their presence gave the router): no
    other channel's queue can offer them anything, so a freed slot asks only these (a
    Redis call per channel asked, and a chat's close asked all four)."""
    capacity = agent.capacity or DEFAULT_CAPACITY
    return [c for c in Channel if _positive(capacity.get(c.value))]


def _positive(value: Any) -> bool:
    try:
        return int(value) > 0
    except (TypeError, ValueError):
        return False
