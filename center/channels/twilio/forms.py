"""Twilio's webhook parameters as pydantic models, with limits.

Field names are Twilio's (``MessageSid``, ``CallStatus`` ...) as aliases; everything Twilio
adds that a model does not name is ignored. Forms carry only strings, so numbers are parsed
from text here (finite, bounded); text is length-capped and refused with NUL characters or
unpaired surrogates, like every other boundary (center/payloads.py).
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from center.payloads import clean

# Twilio's resource ids: two capital letters and 32 hex digits (SM…, MM…, CA…, AC…, RE…).
SID_PATTERN = r"^[A-Z]{2}[0-9a-fA-F]{32}$"
MAX_MEDIA = 10  # Twilio delivers at most 10 media items per message
MAX_BODY = 1600  # Twilio's own limit on a message body (concatenated segments)


def _text(max_chars: int, *, pattern: str | None = None) -> Any:
    return Annotated[
        str, StringConstraints(max_length=max_chars, pattern=pattern), AfterValidator(clean)
    ]


Sid = _text(34, pattern=SID_PATTERN)
# An address: E.164, a short code, "client:alice", "sip:…", "whatsapp:+1…".
Address = _text(256)
Url = _text(2048, pattern=r"^https?://")
Body = _text(MAX_BODY * 2)  # (generous: Twilio's limit counts UCS-2 units, not ours)


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


Confidence = Annotated[float, Field(ge=0, le=1), AfterValidator(_finite)]


class TwilioForm(BaseModel):
    """What every Twilio webhook carries."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    account_sid: Sid = Field(alias="AccountSid")


class MessageStatus(StrEnum):
    """Twilio's MessageStatus values (a message's life, outbound and inbound)."""

    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    READ = "read"
    RECEIVING = "receiving"
    RECEIVED = "received"
    CANCELED = "canceled"
    PARTIALLY_DELIVERED = "partially_delivered"


class Media(BaseModel):
    url: Url
    content_type: _text(255) = ""


class SmsInbound(TwilioForm):
    """``POST /twilio/sms``: a message arrives (MediaUrl0…/MediaContentType0… gathered)."""

    message_sid: Sid = Field(alias="MessageSid")
    from_: Address = Field(alias="From", min_length=1)
    to: Address = Field(alias="To", min_length=1)
    body: Body = Field(alias="Body", default="")
    num_media: int = Field(alias="NumMedia", default=0, ge=0, le=MAX_MEDIA)
    num_segments: int = Field(alias="NumSegments", default=1, ge=0, le=100)
    # Advanced Opt-Out (a Messaging Service setting) names the keyword class it matched.
    opt_out_type: _text(16) | None = Field(alias="OptOutType", default=None)
    messaging_service_sid: Sid | None = Field(alias="MessagingServiceSid", default=None)
    media: tuple[Media, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _gather_media(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        try:
            count = int(data.get("NumMedia") or 0)
        except (TypeError, ValueError):
            return data  # the field's own check reports it
        count = max(0, min(count, MAX_MEDIA))
        media = []
        for i in range(count):
            url = data.get(f"MediaUrl{i}")
            if url is None:
                raise ValueError(f"MediaUrl{i} missing (NumMedia={count})")
            media.append({"url": url, "content_type": data.get(f"MediaContentType{i}", "")})
        return {**data, "media": media}


class SmsStatus(TwilioForm):
    """``POST /twilio/sms/status``: a message's status callback."""

    message_sid: Sid = Field(alias="MessageSid")
    status: MessageStatus = Field(alias="MessageStatus")
    error_code: int | None = Field(alias="ErrorCode", default=None, ge=0, le=10**7)
    error_message: _text(1000) | None = Field(alias="ErrorMessage", default=None)
    from_: Address | None = Field(alias="From", default=None)
    to: Address | None = Field(alias="To", default=None)

    @model_validator(mode="before")
    @classmethod
    def _blank_code(cls, data: Any) -> Any:
        # (Twilio sends ErrorCode="" on some callbacks: no error.)
        if isinstance(data, dict) and data.get("ErrorCode") == "":
            return {k: v for k, v in data.items() if k != "ErrorCode"}
        return data


class CallStatus(StrEnum):
    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"


class VoiceCall(TwilioForm):
    """What every voice webhook carries (``/twilio/voice`` and the rest)."""

    call_sid: Sid = Field(alias="CallSid")
    from_: Address = Field(alias="From", default="")
    to: Address = Field(alias="To", default="")
    call_status: CallStatus = Field(alias="CallStatus")
    direction: _text(32) = Field(alias="Direction", default="inbound")
    caller_name: _text(256) | None = Field(alias="CallerName", default=None)
    parent_call_sid: Sid | None = Field(alias="ParentCallSid", default=None)


class Gather(VoiceCall):
    """``<Gather>`` results: keys pressed and/or speech recognised."""

    digits: _text(64, pattern=r"^[0-9*#w]*$") | None = Field(alias="Digits", default=None)
    speech_result: _text(2000) | None = Field(alias="SpeechResult", default=None)
    confidence: Confidence | None = Field(alias="Confidence", default=None)


class CallStatusCallback(VoiceCall):
    """``statusCallback`` of a call: durations and recordings once it ends."""

    call_duration: int | None = Field(alias="CallDuration", default=None, ge=0, le=10**7)
    sequence_number: int | None = Field(alias="SequenceNumber", default=None, ge=0, le=10**7)
    recording_url: Url | None = Field(alias="RecordingUrl", default=None)
    recording_sid: Sid | None = Field(alias="RecordingSid", default=None)
    recording_duration: int | None = Field(alias="RecordingDuration", default=None, ge=0, le=10**7)
    error_code: int | None = Field(alias="ErrorCode", default=None, ge=0, le=10**7)


class Recording(TwilioForm):
    """``recordingStatusCallback`` / ``<Record action>``: a recording is ready."""

    call_sid: Sid = Field(alias="CallSid")
    recording_sid: Sid = Field(alias="RecordingSid")
    recording_url: Url = Field(alias="RecordingUrl")
    recording_status: _text(32) = Field(alias="RecordingStatus", default="completed")
    recording_duration: int | None = Field(alias="RecordingDuration", default=None, ge=-1, le=10**7)


class ConferenceEvent(TwilioForm):
    """A conference's ``statusCallback`` (participant-join, participant-leave, end …)."""

    conference_sid: Sid = Field(alias="ConferenceSid")
    friendly_name: _text(128) = Field(alias="FriendlyName", default="")
    event: _text(64) = Field(alias="StatusCallbackEvent")
    call_sid: Sid | None = Field(alias="CallSid", default=None)
    sequence_number: int | None = Field(alias="SequenceNumber", default=None, ge=0, le=10**7)
