"""Event types, their typed payloads, and the functions that append them.

Every state change of an interaction appends its events inside the transaction that makes
the change, so the timeline can never disagree with the record. Two ways, one shape:

* ``append`` adds an ORM ``Event`` to a session (the unit of work writes it at commit);
* ``write`` (the hot path, see docs/hot-path.md) inserts ``row`` dicts with one Core
  statement on the step's connection, in the order given, so their ids follow that order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from center.records.base import utcnow
from center.records.enums import ActorKind
from center.records.models import Event, Interaction

EVENTS = Event.__table__
_INSERT = insert(EVENTS)  # (built once: see center/interactions/rows.py)


class EventType(StrEnum):
    CUSTOMER_CREATED = "customer.created"
    IDENTITY_ADDED = "customer.identity_added"
    INTERACTION_STARTED = "interaction.started"
    QUEUED = "interaction.queued"
    OFFERED = "interaction.offered"
    OFFER_REJECTED = "interaction.offer_rejected"
    OFFER_TIMED_OUT = "interaction.offer_timed_out"
    ACCEPTED = "interaction.accepted"
    MESSAGE_RECEIVED = "message.received"
    MESSAGE_SENT = "message.sent"
    CUSTOMER_LEFT = "interaction.customer_left"
    WRAP_UP = "interaction.wrap_up"
    CLOSED = "interaction.closed"
    ABANDONED = "interaction.abandoned"
    DEFLECTED = "interaction.deflected"
    REQUEUED = "interaction.requeued"
    ESCALATED = "interaction.escalated"
    TRANSFERRED = "interaction.transferred"
    QUEUE_CHANGED = "interaction.queue_changed"
    ARTICLE_SUGGESTED = "kb.articles_suggested"
    ARTICLE_VIEWED = "kb.article_viewed"
    ARTICLE_INSERTED = "kb.article_inserted"
    PRESENCE_CHANGED = "agent.presence_changed"


@dataclass(frozen=True, slots=True)
class Payload:
    type: ClassVar[EventType]

    def data(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CustomerCreated(Payload):
    type: ClassVar[EventType] = EventType.CUSTOMER_CREATED
    via: str


@dataclass(frozen=True, slots=True)
class IdentityAdded(Payload):
    type: ClassVar[EventType] = EventType.IDENTITY_ADDED
    kind: str
    value: str
    # False: merely claimed (typed by the visitor); never finds the customer. Added again
    # with True when a claim is proved.
    verified: bool = True


@dataclass(frozen=True, slots=True)
class InteractionStarted(Payload):
    type: ClassVar[EventType] = EventType.INTERACTION_STARTED
    channel: str


@dataclass(frozen=True, slots=True)
class Queued(Payload):
    type: ClassVar[EventType] = EventType.QUEUED
    queue: str
    priority: int


@dataclass(frozen=True, slots=True)
class Offered(Payload):
    type: ClassVar[EventType] = EventType.OFFERED
    agent_id: int
    timeout_s: float


@dataclass(frozen=True, slots=True)
class OfferRejected(Payload):
    type: ClassVar[EventType] = EventType.OFFER_REJECTED
    agent_id: int


@dataclass(frozen=True, slots=True)
class OfferTimedOut(Payload):
    type: ClassVar[EventType] = EventType.OFFER_TIMED_OUT
    agent_id: int
    missed_in_a_row: int


@dataclass(frozen=True, slots=True)
class Accepted(Payload):
    type: ClassVar[EventType] = EventType.ACCEPTED
    agent_id: int
    wait_s: float


@dataclass(frozen=True, slots=True)
class MessageReceived(Payload):
    type: ClassVar[EventType] = EventType.MESSAGE_RECEIVED
    message_id: int
    body: str


@dataclass(frozen=True, slots=True)
class MessageSent(Payload):
    type: ClassVar[EventType] = EventType.MESSAGE_SENT
    message_id: int
    body: str
    agent_id: int


@dataclass(frozen=True, slots=True)
class CustomerLeft(Payload):
    type: ClassVar[EventType] = EventType.CUSTOMER_LEFT


@dataclass(frozen=True, slots=True)
class WrapUp(Payload):
    type: ClassVar[EventType] = EventType.WRAP_UP
    agent_id: int
    note: str
    disposition: str | None


@dataclass(frozen=True, slots=True)
class Closed(Payload):
    type: ClassVar[EventType] = EventType.CLOSED
    handle_s: float | None


@dataclass(frozen=True, slots=True)
class Abandoned(Payload):
    type: ClassVar[EventType] = EventType.ABANDONED
    wait_s: float
    state_before: str


@dataclass(frozen=True, slots=True)
class Deflected(Payload):
    type: ClassVar[EventType] = EventType.DEFLECTED
    article_ids: list[int]


@dataclass(frozen=True, slots=True)
class Requeued(Payload):
    type: ClassVar[EventType] = EventType.REQUEUED
    reason: str
    agent_id: int | None = None  # whose hands it was taken from


@dataclass(frozen=True, slots=True)
class Escalated(Payload):
    """The interaction reached an escalation ring: more agents are eligible."""

    type: ClassVar[EventType] = EventType.ESCALATED
    queue: str
    step: int  # 1-based index into the queue's escalation steps


@dataclass(frozen=True, slots=True)
class Transferred(Payload):
    type: ClassVar[EventType] = EventType.TRANSFERRED
    from_agent_id: int
    to_agent_id: int | None = None
    to_queue: str | None = None


@dataclass(frozen=True, slots=True)
class QueueChanged(Payload):
    """An admin deleted the queue the interaction waited in and moved it to another."""

    type: ClassVar[EventType] = EventType.QUEUE_CHANGED
    from_queue: str
    to_queue: str
    reason: str = "queue_deleted"


@dataclass(frozen=True, slots=True)
class ArticlesSuggested(Payload):
    type: ClassVar[EventType] = EventType.ARTICLE_SUGGESTED
    article_ids: list[int]


@dataclass(frozen=True, slots=True)
class ArticleViewed(Payload):
    type: ClassVar[EventType] = EventType.ARTICLE_VIEWED
    article_id: int


@dataclass(frozen=True, slots=True)
class ArticleInserted(Payload):
    type: ClassVar[EventType] = EventType.ARTICLE_INSERTED
    article_id: int
    agent_id: int


@dataclass(frozen=True, slots=True)
class PresenceChanged(Payload):
    type: ClassVar[EventType] = EventType.PRESENCE_CHANGED
    presence: str
    reason: str | None = None
    # The state left and how long the agent was in it, so a report can sum time per state.
    previous: str | None = None
    duration_s: float | None = None


def append(
    session: AsyncSession,
    payload: Payload,
    *,
    interaction: Interaction | None = None,
    customer_id: int | None = None,
    actor_kind: ActorKind = ActorKind.SYSTEM,
    actor_id: int | None = None,
) -> Event:
    """Add an event to the session's transaction (committed with the change it records)."""
    event = Event(
        customer_id=interaction.customer_id if interaction is not None else customer_id,
        interaction_id=interaction.id if interaction is not None else None,
        ticket_id=interaction.ticket_id if interaction is not None else None,
        actor_kind=actor_kind,
        actor_id=actor_id,
        type=payload.type.value,
        data=payload.data(),
    )
    session.add(event)
    return event


def row(
    payload: Payload,
    *,
    interaction: Interaction | None = None,
    customer_id: int | None = None,
    actor_kind: ActorKind = ActorKind.SYSTEM,
    actor_id: int | None = None,
) -> dict[str, Any]:
    """The values of one event row (as ``append`` would write it), for ``write``."""
    return {
        "customer_id": interaction.customer_id if interaction is not None else customer_id,
        "interaction_id": interaction.id if interaction is not None else None,
        "ticket_id": interaction.ticket_id if interaction is not None else None,
        "actor_kind": actor_kind,
        "actor_id": actor_id,
        "type": payload.type.value,
        "data": payload.data(),
        "created_at": utcnow(),
    }


async def write(conn: AsyncConnection | AsyncSession, *rows: dict[str, Any]) -> None:
    """Insert event rows in the caller's transaction, in order: one statement, one round trip
    (an executemany for several, which keeps the statement cached and prepared)."""
    if len(rows) == 1:
        await conn.execute(_INSERT, rows[0])
    elif rows:
        await conn.execute(_INSERT, list(rows))


def event_json(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "at": event.created_at.isoformat(),
        "actor": {"kind": event.actor_kind.value, "id": event.actor_id},
        "interaction_id": event.interaction_id,
        "ticket_id": event.ticket_id,
        "data": event.data,
    }
