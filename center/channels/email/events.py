"""The email channel's timeline events: received, threaded, suppressed (and why),
quarantined, bounced, acknowledged. Rows are shaped by center.records.events."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from center.records import events
from center.records.enums import ActorKind
from center.records.models import Interaction


class EmailEvent(StrEnum):
    RECEIVED = "email.received"
    SUPPRESSED = "email.suppressed"
    BOUNCED = "email.bounced"
    DUPLICATE = "email.duplicate"
    DELIVERABLE = "email.undeliverable_cleared"
    ACK_QUEUED = "email.auto_ack_queued"
    ACK_SKIPPED = "email.auto_ack_skipped"
    REPLY_QUEUED = "email.reply_queued"


@dataclass(frozen=True, slots=True)
class Received(events.Payload):
    type: ClassVar[Any] = EmailEvent.RECEIVED
    inbound_id: int
    message_id: int
    message_id_header: str | None
    subject: str
    # How it found its ticket: references | subject_token | address_token | new_ticket.
    threaded_by: str
    # A token was present but the sender was not on that thread: not threaded by it.
    token_refused: bool = False
    attachments: int = 0
    attachments_omitted: int = 0


@dataclass(frozen=True, slots=True)
class Suppressed(events.Payload):
    type: ClassVar[Any] = EmailEvent.SUPPRESSED
    inbound_id: int
    reason: str
    sender: str
    subject: str


@dataclass(frozen=True, slots=True)
class Bounced(events.Payload):
    type: ClassVar[Any] = EmailEvent.BOUNCED
    inbound_id: int
    action: str
    recipients: list[str]
    status: str
    diagnostic: str
    original_message_id: str | None
    message_id: int | None  # our outbound message that bounced


@dataclass(frozen=True, slots=True)
class Duplicate(events.Payload):
    type: ClassVar[Any] = EmailEvent.DUPLICATE
    inbound_id: int
    message_id_header: str


@dataclass(frozen=True, slots=True)
class Deliverable(events.Payload):
    """The address's undeliverable flag cleared: mail from it arrived (``mail_received``)
    or a supervisor cleared it (``supervisor``)."""

    type: ClassVar[Any] = EmailEvent.DELIVERABLE
    address: str
    by: str


@dataclass(frozen=True, slots=True)
class AckQueued(events.Payload):
    type: ClassVar[Any] = EmailEvent.ACK_QUEUED
    to: str
    message_id: int


@dataclass(frozen=True, slots=True)
class AckSkipped(events.Payload):
    type: ClassVar[Any] = EmailEvent.ACK_SKIPPED
    to: str
    # rate_limited | undeliverable | automatic_sender | own_address | already_acknowledged
    reason: str


@dataclass(frozen=True, slots=True)
class ReplyQueued(events.Payload):
    type: ClassVar[Any] = EmailEvent.REPLY_QUEUED
    message_id: int
    message_id_header: str
    to: list[str]
    cc: list[str]


def row(
    payload: events.Payload,
    *,
    interaction: Interaction | None = None,
    customer_id: int | None = None,
    ticket_id: int | None = None,
    actor_kind: ActorKind = ActorKind.SYSTEM,
    actor_id: int | None = None,
) -> dict[str, Any]:
    out = events.row(
        payload,
        interaction=interaction,
        customer_id=customer_id,
        actor_kind=actor_kind,
        actor_id=actor_id,
    )
    if ticket_id is not None:
        out["ticket_id"] = ticket_id
    return out
