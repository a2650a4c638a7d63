"""The durable record: customers and identities, interactions, messages, tickets, events, users.

The database is the truth; Redis only holds live routing state that can be rebuilt from here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Enum,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from center.records.base import Base, BigId, utcnow
from center.records.enums import (
    ActorKind,
    Channel,
    Direction,
    IdentityKind,
    InteractionState,
    Presence,
    Role,
    TicketStatus,
)


def _enum(cls: type) -> Enum:
    # Stored as plain strings (no native ENUM type): new states need no ALTER TYPE.
    return Enum(cls, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(_enum(Role), default=Role.AGENT)
    # {"billing": 3, "french": 5}: skill name -> level 1..10
    skills: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # {"chat": 3, "voice": 1, ...}: per-channel concurrent capacity
    capacity: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    presence: Mapped[Presence] = mapped_column(_enum(Presence), default=Presence.OFFLINE)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuthSession(Base):
    __tablename__ = "auth_sessions"

    # sha256 of the cookie value: a leaked table does not leak usable cookies.
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))

    identities: Mapped[list[Identity]] = relationship(
        back_populates="customer", lazy="selectin", order_by="Identity.id"
    )


class Identity(Base):
    """A phone number, e-mail address or chat visitor token of a customer.

    Verified: the channel proved it (a number Twilio delivered, the visitor token issued to
    that browser, an e-mail the host site vouched for with an HMAC). Only a verified
    identity finds a customer, and one verified owner per value. Unverified: merely claimed
    (an address typed in the widget); any number of customers may claim the same value, and
    a claim never leads to anyone's conversations.
    """

    __tablename__ = "identities"
    __table_args__ = (
        Index(
            "uq_identities_verified_kind_value",
            "kind",
            "value",
            unique=True,
            sqlite_where=text("verified = 1"),  # (as SQLAlchemy writes it there)
            postgresql_where=text("verified"),
        ),
        UniqueConstraint("customer_id", "kind", "value", name="uq_identities_customer_kind_value"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[IdentityKind] = mapped_column(_enum(IdentityKind))
    # Normalised: E.164 phone, lower-cased email, sha256 of a chat visitor token.
    value: Mapped[str] = mapped_column(String(255))
    verified: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="identities")


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    subject: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[TicketStatus] = mapped_column(_enum(TicketStatus), default=TicketStatus.OPEN)
    priority: Mapped[int] = mapped_column(default=0)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    due_at: Mapped[datetime | None]
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # --- tickets (issue 11): see center/tickets/ ---
    # Shown to customers as [#N] in subjects; equal to the id unless imported from elsewhere.
    number: Mapped[int | None] = mapped_column(unique=True)
    queue: Mapped[str] = mapped_column(String(80), default="default", server_default="default")
    # The channel replies leave by (a replier is registered per channel).
    channel: Mapped[Channel | None] = mapped_column(_enum(Channel))
    # SLA clocks (UTC instants computed in business hours; see center/tickets/sla.py).
    sla_policy_id: Mapped[int | None]
    first_response_due_at: Mapped[datetime | None]
    first_responded_at: Mapped[datetime | None]
    next_response_due_at: Mapped[datetime | None]
    resolution_due_at: Mapped[datetime | None]
    # {"first_response": "warned" | "breached" | "met", ...}: what the SLA loop has said.
    sla_flags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The next instant the SLA loop must look at this ticket (a warning or a due time).
    sla_check_at: Mapped[datetime | None] = mapped_column(index=True)
    solved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # A customer's reply to a closed ticket opens a follow-up that points back here.
    follow_up_of_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))


class Interaction(Base):
    __tablename__ = "interactions"
    __table_args__ = (
        Index("ix_interactions_state_queue", "state", "queue"),
        Index("ix_interactions_queued_at", "queued_at"),  # supervisor stats: today's rows
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    channel: Mapped[Channel] = mapped_column(_enum(Channel))
    state: Mapped[InteractionState] = mapped_column(
        _enum(InteractionState), default=InteractionState.NEW
    )
    queue: Mapped[str] = mapped_column(String(80), default="default")
    priority: Mapped[int] = mapped_column(default=0)
    required_skills: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    language: Mapped[str | None] = mapped_column(String(16))
    subject: Mapped[str | None] = mapped_column(String(255))
    # Channel-side reference: call SID, email thread root Message-ID, ...
    external_ref: Mapped[str | None] = mapped_column(String(255), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime | None]
    assigned_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    disposition: Mapped[str | None] = mapped_column(String(80))
    wrap_up_note: Mapped[str | None] = mapped_column(Text)


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    interaction_id: Mapped[int] = mapped_column(ForeignKey("interactions.id"), index=True)
    direction: Mapped[Direction] = mapped_column(_enum(Direction))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(80), default="text/plain")
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(Base):
    """Append-only log row. The customer's timeline is their events ordered by id."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_customer_id_id", "customer_id", "id"),
        Index("ix_events_actor_id_id", "actor_id", "id"),  # an agent's newest presence event
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    interaction_id: Mapped[int | None] = mapped_column(ForeignKey("interactions.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    actor_kind: Mapped[ActorKind] = mapped_column(_enum(ActorKind))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    type: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- Twilio (center/channels/twilio/, sms/) ---------------------------------------------------


class TwilioWebhook(Base):
    """One row per (Sid, status) seen: a replayed webhook is recognised and makes nothing."""

    __tablename__ = "twilio_webhooks"
    __table_args__ = (UniqueConstraint("sid", "status", name="uq_twilio_webhooks_sid_status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sid: Mapped[str] = mapped_column(String(34))
    status: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class TwilioInbox(Base):
    """A webhook stored as it arrived, before anything acts on it (the SMS inbox).

    ``POST /twilio/sms`` answers after this one row is written; a processor in every
    process acts on the rows in id order (center/channels/sms/drain.py). The unique
    (kind, sid, status) makes a replay no second row; ``key`` (the sender) keeps one
    customer's texts in order across processes; ``error`` marks a row that failed (not
    retried).
    """

    __tablename__ = "twilio_inbox"
    __table_args__ = (
        UniqueConstraint("kind", "sid", "status", name="uq_twilio_inbox_kind_sid_status"),
        Index("ix_twilio_inbox_pending", "processed_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    sid: Mapped[str] = mapped_column(String(34))
    status: Mapped[str] = mapped_column(String(64), default="")
    key: Mapped[str] = mapped_column(String(256), default="")
    form: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class SmsOptOut(Base):
    """A number that texted STOP (and not START since): nothing is sent to it.

    Keyed by the number (Twilio blocks per number, whoever owns it); ``customer_id`` is the
    customer the number resolved to, for the console and the timeline.
    """

    __tablename__ = "sms_opt_outs"

    phone: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    opted_out_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- voice (issue 12; center/channels/voice/) -------------------------------------------------


class VoiceCall(Base):
    """One phone call's voice-side record (the interaction is the routing side): the IVR
    walk, the conference, callback and voicemail, recording, durations and CSAT."""

    __tablename__ = "voice_calls"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    interaction_id: Mapped[int] = mapped_column(ForeignKey("interactions.id"), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    from_number: Mapped[str] = mapped_column(String(40))
    to_number: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(16))
    # ivr | waiting | callback | bridged | voicemail | survey | ended
    stage: Mapped[str] = mapped_column(String(16), default="ivr")
    menu: Mapped[str | None] = mapped_column(String(40))
    conference: Mapped[str] = mapped_column(String(80))  # its friendly name
    conference_sid: Mapped[str | None] = mapped_column(String(64))  # once Twilio started it
    callback_number: Mapped[str | None] = mapped_column(String(40))
    recording_sid: Mapped[str | None] = mapped_column(String(64))
    recording_url: Mapped[str | None] = mapped_column(Text)
    recording_duration_s: Mapped[int | None]
    duration_s: Mapped[int | None]
    csat: Mapped[int | None]
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]


class VoiceLeg(Base):
    """One Twilio call (CallSid) taking part in a VoiceCall: the caller, an agent, a
    supervisor, the callback (each call's status callbacks find it by CallSid, or by the
    row's id in their URL while the CallSid is not known yet)."""

    __tablename__ = "voice_legs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # NULL: written before the REST request that creates the call (its answer or its first
    # status callback fills it in).
    call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    voice_call_id: Mapped[int] = mapped_column(ForeignKey("voice_calls.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # caller | agent | supervisor | callback
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    mode: Mapped[str | None] = mapped_column(String(16))  # supervisor: listen|whisper|barge
    status: Mapped[str] = mapped_column(String(32), default="initiated")
    on_hold: Mapped[bool] = mapped_column(default=False, server_default=false())
    duration_s: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    # An agent's leg: the assignment it is dialled for (the interaction's assigned_at).
    assigned_at: Mapped[datetime | None]
    # Owed legs (no CallSid yet): the process dialling it holds it until then; tries so far.
    lease_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0, server_default=text("0"))


class VoiceAgent(Base):
    """Where an agent takes calls: the browser softphone (no phone) or a phone number."""

    __tablename__ = "voice_agents"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    phone: Mapped[str | None] = mapped_column(String(40))
