"""What a client may send: the constrained types every boundary shares, and the models of
the socket.io events of ``/chat`` and ``/agent``.

Everything from the wire is checked here before any handler acts on it, so a value the
database, Redis or a numeric loop cannot take never gets past the boundary: text without
NUL characters or unpaired surrogates (PostgreSQL and UTF-8 encoders refuse both), within a
length; ids that fit a BIGINT; enums by value. Booleans and numbers are never taken for
strings or ids (``strict``), and nothing is coerced to text.

``parse`` turns a refusal into ``PayloadError`` with the codes the error acks have always
carried: ``malformed``, ``empty`` (nothing left after trimming), ``too_long``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from center.channels.validation import PayloadError
from center.knowledge_base.query import MAX_QUERY
from center.queue.config import QUEUE_NAME
from center.records.enums import AwayReason, Presence

# The largest id a BIGINT column holds (PostgreSQL's bigint, SQLite's INTEGER).
MAX_ID = 2**63 - 1
# A message's hard cap whatever the settings say; the configured limit comes as context.
MAX_MESSAGE_CHARS = 100_000

M = TypeVar("M", bound=BaseModel)


def clean(value: str) -> str:
    """Refuse what no store takes: NUL (PostgreSQL text) and unpaired surrogates (UTF-8)."""
    if "\x00" in value:
        raise PydanticCustomError("nul_character", "must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("surrogate", "must not contain unpaired surrogates") from None
    return value


def Text(max_chars: int, *, min_chars: int = 1, strip: bool = True) -> Any:
    """A string type: trimmed (by default), ``min_chars``..``max_chars`` long, clean."""
    return Annotated[
        str,
        Strict(),
        StringConstraints(strip_whitespace=strip, min_length=min_chars, max_length=max_chars),
        AfterValidator(clean),
    ]


def _none_if_blank(raw: Any) -> Any:
    return None if isinstance(raw, str) and not raw.strip() else raw


# An optional value a form sends as "" when left empty: "" (or blanks) means absent.
BlankIsNone = BeforeValidator(_none_if_blank)


def _configured_limit(value: str, info: ValidationInfo) -> str:
    limit = (info.context or {}).get("max_chars")
    if limit is not None and len(value) > limit:
        raise PydanticCustomError(
            "string_too_long",
            "String should have at most {max_length} characters",
            {"max_length": limit},
        )
    return value


Id = Annotated[int, Strict(), Field(ge=1, le=MAX_ID)]
# A BCP 47-ish language tag ("en", "pt-BR"); the column holds 16 characters.
Locale = Annotated[
    str, Strict(), StringConstraints(max_length=16, pattern=r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")
]
QueueName = Annotated[str, Strict(), StringConstraints(pattern=QUEUE_NAME.pattern)]
# A message's text; its limit is the settings' (``parse(..., max_chars=n)``).
MessageText = Annotated[Text(MAX_MESSAGE_CHARS), AfterValidator(_configured_limit)]

_CODES = {"string_too_long": "too_long", "string_too_short": "empty"}


def describe(exc: ValidationError) -> tuple[str, str, str]:
    """The first problem as (field path, kind, message); never echoes the input."""
    first = exc.errors(include_url=False, include_input=False, include_context=False)[0]
    where = ".".join(str(p) for p in first["loc"])
    # (A model's own check has no field; pydantic prefixes its message with the kind.)
    return where, first["type"], first["msg"].removeprefix("Value error, ")


def parse(model: type[M], data: Any, **context: Any) -> M:
    """A socket.io payload as ``model`` (no payload: an empty object), or PayloadError."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PayloadError("malformed", "payload must be an object")
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        where, kind, message = describe(exc)
        message = f"'{where}': {message}" if where else message
        raise PayloadError(_CODES.get(kind, "malformed"), message) from None


class Payload(BaseModel):
    # Unknown keys are ignored (older and newer consoles send what they send); every key
    # that is read is checked.
    model_config = ConfigDict(frozen=True, extra="ignore")


class SearchQuery(Payload):
    """?q=&locale= of a knowledge-base search (the portal's and the API's)."""

    q: Text(MAX_QUERY, min_chars=0, strip=False) = ""
    locale: Annotated[Locale | None, BlankIsNone] = None


# -- /chat -------------------------------------------------------------------------------


class NoArguments(Payload):
    """typing, leave, escalate: an object (or nothing) whose keys are not read."""


class ChatMessage(Payload):
    text: MessageText


class ArticleOpened(Payload):
    article_id: Id


# -- /agent ------------------------------------------------------------------------------


class PresenceChange(Payload):
    presence: Literal["available", "away", "offline"]  # wrap-up is the server's to set
    reason: Text(40, min_chars=0) | None = None

    @model_validator(mode="after")
    def _known_reason(self) -> PresenceChange:
        if self.presence == Presence.AWAY and self.reason and self.reason not in set(AwayReason):
            codes = ", ".join(r.value for r in AwayReason)
            raise ValueError(f"away reason must be one of {codes}")
        return self

    @property
    def state(self) -> Presence:
        return Presence(self.presence)


class InteractionRef(Payload):
    """accept, reject, typing."""

    interaction_id: Id


class AgentMessage(InteractionRef):
    text: MessageText


class InsertArticle(InteractionRef):
    article_id: Id


class CloseWork(InteractionRef):
    note: Text(4000, min_chars=0) | None = None
    disposition: Text(80, min_chars=0) | None = None


class Transfer(InteractionRef):
    to_agent_id: Id | None = None
    to_queue: QueueName | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Transfer:
        if (self.to_agent_id is None) == (self.to_queue is None):
            raise ValueError("give exactly one of to_agent_id or to_queue")
        return self
