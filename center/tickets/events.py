"""The ticket desk's timeline events (typed payloads, shaped by center.records.events)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, ClassVar

from center.records import events
from center.records.enums import ActorKind


class TicketEvent(StrEnum):
    CREATED = "ticket.created"
    STATUS_CHANGED = "ticket.status_changed"
    UPDATED = "ticket.updated"  # priority, assignee, queue, tags, subject
    INTERACTION_ATTACHED = "ticket.interaction_attached"
    CUSTOMER_MESSAGE = "ticket.customer_message"
    MESSAGE_SUPPRESSED = "ticket.message_suppressed"
    REPLIED = "ticket.replied"
    NOTE_ADDED = "ticket.note_added"
    SLA_SET = "ticket.sla_set"
    SLA_WARNING = "ticket.sla_warning"
    SLA_BREACHED = "ticket.sla_breached"
    SLA_MET = "ticket.sla_met"
    SLA_PAUSED = "ticket.sla_paused"  # pending: the resolution clock waits on the customer


class TicketPriority(IntEnum):
    """Stored as the ticket's integer priority; higher is more urgent."""

    LOW = -1
    NORMAL = 0
    HIGH = 1
    URGENT = 2


class Suppression(StrEnum):
    """Why an inbound message must make no work: no reopen, no SLA clock, no auto-ack."""

    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    BULK = "bulk"
    LOOP = "loop"  # our own Message-ID came back


class SlaTarget(StrEnum):
    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"


@dataclass(frozen=True, slots=True)
class Created(events.Payload):
    type: ClassVar[Any] = TicketEvent.CREATED
    number: int
    subject: str
    queue: str
    priority: int
    channel: str | None
    follow_up_of: int | None = None


@dataclass(frozen=True, slots=True)
class StatusChanged(events.Payload):
    type: ClassVar[Any] = TicketEvent.STATUS_CHANGED
    old: str
    new: str
    reason: str  # "agent", "customer_reply", ...


@dataclass(frozen=True, slots=True)
class Updated(events.Payload):
    type: ClassVar[Any] = TicketEvent.UPDATED
    field: str
    old: Any
    new: Any


@dataclass(frozen=True, slots=True)
class InteractionAttached(events.Payload):
    type: ClassVar[Any] = TicketEvent.INTERACTION_ATTACHED
    interaction_id: int
    channel: str
    previous_ticket_id: int | None = None


@dataclass(frozen=True, slots=True)
class CustomerMessage(events.Payload):
    type: ClassVar[Any] = TicketEvent.CUSTOMER_MESSAGE
    message_id: int
    reopened: bool


@dataclass(frozen=True, slots=True)
class MessageSuppressed(events.Payload):
    type: ClassVar[Any] = TicketEvent.MESSAGE_SUPPRESSED
    message_id: int
    reason: str
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Replied(events.Payload):
    type: ClassVar[Any] = TicketEvent.REPLIED
    message_id: int
    agent_id: int


@dataclass(frozen=True, slots=True)
class NoteAdded(events.Payload):
    type: ClassVar[Any] = TicketEvent.NOTE_ADDED
    note_id: int
    body: str
    private: bool = True


@dataclass(frozen=True, slots=True)
class SlaSet(events.Payload):
    type: ClassVar[Any] = TicketEvent.SLA_SET
    policy_id: int | None
    target: str
    due_at: str | None


@dataclass(frozen=True, slots=True)
class SlaWarning(events.Payload):
    type: ClassVar[Any] = TicketEvent.SLA_WARNING
    target: str
    due_at: str


@dataclass(frozen=True, slots=True)
class SlaBreached(events.Payload):
    type: ClassVar[Any] = TicketEvent.SLA_BREACHED
    target: str
    due_at: str


@dataclass(frozen=True, slots=True)
class SlaMet(events.Payload):
    type: ClassVar[Any] = TicketEvent.SLA_MET
    target: str
    due_at: str
    in_time: bool


@dataclass(frozen=True, slots=True)
class SlaPaused(events.Payload):
    type: ClassVar[Any] = TicketEvent.SLA_PAUSED
    target: str
    left_s: float  # business seconds left when paused


def ticket_row(
    payload: events.Payload,
    *,
    customer_id: int,
    ticket_id: int,
    interaction_id: int | None = None,
    actor_kind: ActorKind = ActorKind.SYSTEM,
    actor_id: int | None = None,
) -> dict[str, Any]:
    row = events.row(payload, customer_id=customer_id, actor_kind=actor_kind, actor_id=actor_id)
    row.update(ticket_id=ticket_id, interaction_id=interaction_id)
    return row
