"""The IVR as data: menus, options, prompts per language, business hours.

Loaded from ``CENTER_IVR_FILE`` (YAML or TOML) by ``ivr_config``; this module holds the
types and the decisions made on them (which option a key or a phrase picks, whether the
centre is open), with no Twilio in it: ``twiml.py`` turns the decisions into TwiML.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import StrEnum
from zoneinfo import ZoneInfo


class TargetKind(StrEnum):
    QUEUE = "queue"  # wait for an agent in a queue (with skills and priority)
    KB = "kb"  # ask a question, hear the knowledge base's answer
    VOICEMAIL = "voicemail"  # leave a message: it becomes a ticket
    MENU = "menu"  # a sub-menu
    LANGUAGE = "language"  # switch the caller's language, then a menu


@dataclass(frozen=True, slots=True)
class Prompt:
    """One text per language; ``text(lang)`` falls back to the first given."""

    texts: Mapping[str, str]

    def text(self, language: str) -> str:
        if language in self.texts:
            return self.texts[language]
        return next(iter(self.texts.values()), "")


@dataclass(frozen=True, slots=True)
class Target:
    kind: TargetKind
    queue: str | None = None
    priority: int = 0
    # QUEUE: required of the answering agent on top of the queue's own skills (name -> min
    # level); the call carries them (interactions.required_skills), wherever it is re-queued.
    skills: Mapping[str, int] = field(default_factory=dict)
    menu: str | None = None  # MENU, LANGUAGE (None: the same menu again)
    language: str | None = None  # LANGUAGE
    prompt: Prompt | None = None  # KB: the question prompt; VOICEMAIL: the message prompt
    fallback: Target | None = None  # KB: where a caller goes for an agent

    def describe(self) -> str:
        return {
            TargetKind.QUEUE: f"queue:{self.queue}",
            TargetKind.MENU: f"menu:{self.menu}",
            TargetKind.LANGUAGE: f"language:{self.language}",
        }.get(self.kind, self.kind.value)


@dataclass(frozen=True, slots=True)
class Option:
    target: Target
    digit: str | None = None
    words: tuple[str, ...] = ()  # spoken keywords, lower-case (any one matches)
    line: int = 0


@dataclass(frozen=True, slots=True)
class Menu:
    name: str
    prompt: Prompt
    options: tuple[Option, ...]
    default: Target  # after max_tries of no or invalid input
    invalid: Prompt | None = None


_WORD = re.compile(r"\w+", re.UNICODE)


def choose(menu: Menu, digits: str | None, speech: str | None) -> Option | None:
    """The option a key press or a phrase picks (a key wins over speech); None: invalid."""
    d = (digits or "").strip()
    if d:
        return next((o for o in menu.options if o.digit == d), None)
    heard = {w.casefold() for w in _WORD.findall(speech or "")}
    if not heard:
        return None
    for option in menu.options:
        for phrase in option.words:
            if set(phrase.split()) <= heard:
                return option
    return None


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Hours:
    """Opening hours per weekday in the centre's zone, and holidays (closed all day)."""

    zone: ZoneInfo
    weekly: Mapping[int, tuple[tuple[time, time], ...]]  # weekday 0=Mon -> [(start, end))
    holidays: frozenset[date] = frozenset()

    def open_at(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        if local.date() in self.holidays:
            return False
        now = local.time().replace(tzinfo=None)
        return any(start <= now < end for start, end in self.weekly.get(local.weekday(), ()))


@dataclass(frozen=True, slots=True)
class Overflow:
    """When waiting is pointless: too many ahead, or waited too long -> voicemail."""

    max_waiting: int | None = None
    max_wait_s: float | None = None


# Built-in phrases (overridable per language under ``prompts:``). {placeholders} filled in.
DEFAULT_PROMPTS: dict[str, str] = {
    "greeting": "Thank you for calling.",
    "known_caller": "Hello {name}.",
    "invalid": "Sorry, I did not get that.",
    "position": "You are number {position} in the queue.",
    "estimated_wait": "Your estimated wait is about {minutes} minutes.",
    "callback_offer": "To be called back instead, keeping your place, press {digit}.",
    "callback_confirmed": "Thank you. We will call you back at this number. Goodbye.",
    "after_hours": "We are closed right now. Please leave a message after the tone.",
    "voicemail": "Please leave a message after the tone, then hang up.",
    "voicemail_thanks": "Thank you, your message has been recorded. Goodbye.",
    "overflow": "All our agents are busy. Please leave a message after the tone.",
    "kb_question": "Please ask your question.",
    "kb_no_answer": "I could not find an answer to that. Let me connect you to an agent.",
    "kb_offer_agent": "To speak to an agent, press 1. Otherwise you may hang up.",
    "connecting": "Connecting you to an agent.",
    "callback_intro": "Hello, this is the call back you asked for. Connecting you now.",
    "csat": "Please rate your call from 1 to 5, 5 being excellent.",
    "csat_thanks": "Thank you for your feedback. Goodbye.",
    "goodbye": "Goodbye.",
}


@dataclass(frozen=True, slots=True)
class IvrConfig:
    languages: tuple[str, ...]  # the first is the default; Twilio codes such as en-US
    menus: Mapping[str, Menu]
    entry: str = "main"
    max_tries: int = 3
    voice: str | None = None  # a Twilio <Say> voice, e.g. Polly.Joanna
    hours: Hours | None = None  # None: always open
    after_hours: Target = field(default_factory=lambda: Target(TargetKind.VOICEMAIL))
    overflow: Overflow = field(default_factory=Overflow)
    announce_every_s: float = 30.0
    hold_music: str | None = None  # an audio URL; None: a pause between announcements
    callback_digit: str | None = "1"  # None: no callback offer
    csat: bool = False
    record_calls: bool = True  # the conference recorded from the start (say so in the greeting)
    gather_timeout_s: int = 5
    prompts: Mapping[str, Prompt] = field(default_factory=dict)
    source: str = "(built-in default)"

    def phrase(self, key: str, language: str, **values: object) -> str:
        prompt = self.prompts.get(key)
        text = prompt.text(language) if prompt is not None else DEFAULT_PROMPTS[key]
        return text.format(**values) if values else text

    def menu(self, name: str | None) -> Menu:
        return self.menus[name or self.entry]

    def language(self, wanted: str | None) -> str:
        return wanted if wanted in self.languages else self.languages[0]

    def queues(self) -> set[str]:
        """Every queue the IVR can send a caller to (checked against the queue config)."""
        out: set[str] = set()

        def walk(t: Target | None) -> None:
            if t is None:
                return
            if t.queue:
                out.add(t.queue)
            walk(t.fallback)

        for m in self.menus.values():
            walk(m.default)
            for o in m.options:
                walk(o.target)
        walk(self.after_hours)
        return out


DEFAULT_QUEUE_TARGET = Target(TargetKind.QUEUE, queue="default")
DEFAULT = IvrConfig(
    languages=("en-US",),
    menus={"main": Menu("main", Prompt({}), (), DEFAULT_QUEUE_TARGET)},
)
