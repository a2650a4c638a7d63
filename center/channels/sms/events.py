"""SMS's own timeline events (the shared ones are in center/records/events.py)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from center.records.events import Payload


class SmsEventType(StrEnum):
    OPTED_OUT = "sms.opted_out"
    OPTED_IN = "sms.opted_in"
    HELP = "sms.help"
    STATUS = "sms.status"  # a Twilio status callback for one of our messages
    KB_ANSWERED = "sms.kb_answered"
    CSAT_ASKED = "sms.csat_asked"
    CSAT = "sms.csat"


@dataclass(frozen=True, slots=True)
class OptedOut(Payload):
    type: ClassVar[Any] = SmsEventType.OPTED_OUT
    phone: str
    keyword: str


@dataclass(frozen=True, slots=True)
class OptedIn(Payload):
    type: ClassVar[Any] = SmsEventType.OPTED_IN
    phone: str
    keyword: str


@dataclass(frozen=True, slots=True)
class HelpAsked(Payload):
    type: ClassVar[Any] = SmsEventType.HELP
    phone: str


@dataclass(frozen=True, slots=True)
class StatusChanged(Payload):
    type: ClassVar[Any] = SmsEventType.STATUS
    message_id: int
    sid: str
    status: str
    error_code: int | None = None


@dataclass(frozen=True, slots=True)
class KbAnswered(Payload):
    type: ClassVar[Any] = SmsEventType.KB_ANSWERED
    article_id: int
    confidence: float
    message_id: int


@dataclass(frozen=True, slots=True)
class CsatAsked(Payload):
    type: ClassVar[Any] = SmsEventType.CSAT_ASKED
    message_id: int


@dataclass(frozen=True, slots=True)
class CsatRated(Payload):
    type: ClassVar[Any] = SmsEventType.CSAT
    rating: int
    message_id: int | None = None
