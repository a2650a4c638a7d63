"""The call's own timeline events (beside the interaction's: started, queued, accepted ...).

Written with ``center.records.events.row``/``write`` in the step that makes the change, like
every event; their types live here so the voice channel owns them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from center.records.events import Payload


class VoiceEventType(StrEnum):
    STATUS = "call.status"  # a leg's status callback (ringing, in-progress, completed ...)
    IVR_CHOICE = "call.ivr_choice"
    KB_ANSWER = "call.kb_answer"
    CALLBACK_REQUESTED = "call.callback_requested"
    CALLBACK_PLACED = "call.callback_placed"
    OVERFLOW = "call.overflow"
    VOICEMAIL = "call.voicemail"
    RECORDING = "call.recording"
    BRIDGED = "call.bridged"  # an agent's leg added to the conference
    HOLD = "call.hold"
    MONITOR = "call.monitor"  # a supervisor listens, whispers or barges
    LEFT = "call.agent_left"
    CSAT = "call.csat"
    REST_ERROR = "call.rest_error"


@dataclass(frozen=True, slots=True)
class CallStatus(Payload):
    type: ClassVar = VoiceEventType.STATUS
    call_sid: str
    role: str
    status: str
    duration_s: int | None = None


@dataclass(frozen=True, slots=True)
class IvrChoice(Payload):
    type: ClassVar = VoiceEventType.IVR_CHOICE
    menu: str
    choice: str  # what was pressed or said ('' for no input)
    target: str  # queue:billing, kb, voicemail, menu:more, invalid, no_input, default
    tries: int


@dataclass(frozen=True, slots=True)
class KbAnswer(Payload):
    type: ClassVar = VoiceEventType.KB_ANSWER
    question: str
    article_id: int | None
    confidence: float | None


@dataclass(frozen=True, slots=True)
class CallbackRequested(Payload):
    type: ClassVar = VoiceEventType.CALLBACK_REQUESTED
    number: str
    position: int | None


@dataclass(frozen=True, slots=True)
class CallbackPlaced(Payload):
    type: ClassVar = VoiceEventType.CALLBACK_PLACED
    call_sid: str
    number: str
    agent_id: int


@dataclass(frozen=True, slots=True)
class Overflow(Payload):
    type: ClassVar = VoiceEventType.OVERFLOW
    reason: str  # after_hours | queue_full | waited_too_long
    queue: str | None = None


@dataclass(frozen=True, slots=True)
class Voicemail(Payload):
    type: ClassVar = VoiceEventType.VOICEMAIL
    recording_sid: str
    recording_url: str
    duration_s: int | None
    ticket_id: int | None


@dataclass(frozen=True, slots=True)
class Recording(Payload):
    type: ClassVar = VoiceEventType.RECORDING
    recording_sid: str
    recording_url: str
    duration_s: int | None


@dataclass(frozen=True, slots=True)
class Bridged(Payload):
    type: ClassVar = VoiceEventType.BRIDGED
    agent_id: int
    call_sid: str
    to: str  # client:agent-5 or a phone number


@dataclass(frozen=True, slots=True)
class Hold(Payload):
    type: ClassVar = VoiceEventType.HOLD
    on: bool
    agent_id: int


@dataclass(frozen=True, slots=True)
class Monitor(Payload):
    type: ClassVar = VoiceEventType.MONITOR
    supervisor_id: int
    mode: str  # listen | whisper | barge


@dataclass(frozen=True, slots=True)
class AgentLeft(Payload):
    type: ClassVar = VoiceEventType.LEFT
    agent_id: int


@dataclass(frozen=True, slots=True)
class Csat(Payload):
    type: ClassVar = VoiceEventType.CSAT
    score: int


@dataclass(frozen=True, slots=True)
class RestError(Payload):
    type: ClassVar = VoiceEventType.REST_ERROR
    action: str
    status: int | None
    code: int | None
    message: str
