"""Enumerations shared by the records, the router and the channels."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    VOICE = "voice"
    CHAT = "chat"
    SMS = "sms"
    EMAIL = "email"


class InteractionState(StrEnum):
    NEW = "new"
    IVR = "ivr"
    QUEUED = "queued"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    WRAP_UP = "wrap_up"
    CLOSED = "closed"
    ABANDONED = "abandoned"
    DEFLECTED = "deflected"
    TRANSFERRED = "transferred"

    @property
    def is_waiting(self) -> bool:
        return self in (InteractionState.QUEUED, InteractionState.OFFERED)

    @property
    def is_open(self) -> bool:
        return self not in (
            InteractionState.CLOSED,
            InteractionState.ABANDONED,
            InteractionState.DEFLECTED,
        )


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def sees_all(self) -> bool:
        return self in (Role.SUPERVISOR, Role.ADMIN)


class Presence(StrEnum):
    AVAILABLE = "available"
    AWAY = "away"
    OFFLINE = "offline"
    WRAP_UP = "wrap_up"  # after closing, until the agent's action or the wrap-up timer


class AwayReason(StrEnum):
    """Why an agent is away; reports sum time per reason."""

    BREAK = "break"
    LUNCH = "lunch"
    TRAINING = "training"
    MISSED_OFFERS = "missed_offers"
    # An accepted call whose ring on the agent's own phone went unanswered, or which Twilio
    # could not place: set away so the next call does not ring that phone again.
    PHONE_NOT_ANSWERED = "phone_not_answered"
    PHONE_UNREACHABLE = "phone_unreachable"


class IdentityKind(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    CHAT_VISITOR = "chat_visitor"


class TicketStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    SOLVED = "solved"
    CLOSED = "closed"


class ActorKind(StrEnum):
    SYSTEM = "system"
    CUSTOMER = "customer"
    AGENT = "agent"
