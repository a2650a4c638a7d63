"""The keywords Twilio acts on in an inbound message, and the ones this center adds.

Twilio's default opt-out handling (long codes and toll-free, without Advanced Opt-Out) matches
a message that is exactly one keyword, case-insensitive, surrounding whitespace ignored:
opt-out STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT; opt-in START, YES,
UNSTOP; help HELP, INFO. Twilio itself replies to them and blocks (or unblocks) the number;
we mirror that state so nothing is even tried to an opted-out number. With Advanced Opt-Out
(a Messaging Service with custom or localised keywords) Twilio names the class it matched
in ``OptOutType``, which then decides.
"""

from __future__ import annotations

from enum import StrEnum


class Keyword(StrEnum):
    STOP = "STOP"
    START = "START"
    HELP = "HELP"


OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN = frozenset({"START", "YES", "UNSTOP"})
HELP = frozenset({"HELP", "INFO"})
# Ours: a customer answered by the knowledge base asks for a person.
AGENT = frozenset({"AGENT", "PERSON", "HUMAN"})


def _word(body: str) -> str:
    return body.strip().upper()


def classify(body: str, opt_out_type: str | None = None) -> Keyword | None:
    """The Twilio keyword class of a message, or None for an ordinary message."""
    if opt_out_type:
        try:
            return Keyword(opt_out_type.strip().upper())
        except ValueError:
            pass  # a class Twilio may add later: fall back to the default keywords
    word = _word(body)
    if word in OPT_OUT:
        return Keyword.STOP
    if word in OPT_IN:
        return Keyword.START
    if word in HELP:
        return Keyword.HELP
    return None


def asks_for_agent(body: str) -> bool:
    return _word(body).rstrip(".!") in AGENT


def rating(body: str) -> int | None:
    """A CSAT reply: a single digit 1 to 5 (``"4"``, ``" 5 "``, ``"5!"``), else None."""
    word = body.strip().rstrip(".!")
    return int(word) if len(word) == 1 and word in "12345" else None
