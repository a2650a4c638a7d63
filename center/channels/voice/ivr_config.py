"""``CENTER_IVR_FILE``: the IVR from a YAML or TOML file, validated, errors with file:line.

As with the queue file (center/queue/config.py), a problem raises ``ConfigError`` naming the
file and line: ``ivr.yaml:12: option 2 of menu 'main' sends to unknown queue 'biling'``.
See ``ivr.example.yaml`` for the format.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Mapping
from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from center.channels.voice.ivr import (
    DEFAULT,
    DEFAULT_PROMPTS,
    WEEKDAYS,
    Hours,
    IvrConfig,
    Menu,
    Option,
    Overflow,
    Prompt,
    Target,
    TargetKind,
)
from center.queue.config import ConfigError, FieldError, check_queue_name, check_skill_name
from center.queue.config_lines import FieldPath, line_of, read_document
from center.queue.definitions import LANGUAGE_PREFIX, MAX_LEVEL, MAX_OWN_SKILLS, MIN_LEVEL

TOP_KEYS = frozenset(
    {"languages", "voice", "max_tries", "entry", "menus", "hours", "after_hours", "overflow"}
    | {"announce_every_s", "hold_music", "callback_digit", "csat", "gather_timeout_s"}
    | {"greeting", "known_caller", "prompts", "record_calls"}
)
MENU_KEYS = frozenset({"prompt", "options", "default", "invalid"})
TARGET_KEYS = frozenset(
    {"queue", "priority", "skills", "kb", "voicemail", "menu", "language", "prompt"} | {"fallback"}
)
OPTION_KEYS = TARGET_KEYS | {"digit", "say"}
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
MENU_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,40}$")
DIGIT = re.compile(r"^[0-9*#]$")
SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
MAX_PROMPT = 1000  # characters of one spoken text
MAX_TRIES = 10


def _fail(path: FieldPath, message: str) -> FieldError:
    return FieldError(path, message)


def _mapping(v: Any, path: FieldPath, what: str) -> Mapping[str, Any]:
    if not isinstance(v, Mapping):
        raise _fail(path, f"{what} must be a mapping")
    return v


def _keys(v: Mapping[str, Any], allowed: frozenset[str], path: FieldPath, what: str) -> None:
    for key in v:
        if key not in allowed:
            raise _fail((*path, key), f"{what}: unknown key {key!r}")


def _int(v: Any, path: FieldPath, what: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise _fail(path, f"{what} must be an integer {lo}..{hi}, got {v!r}")
    return v


def _number(v: Any, path: FieldPath, what: str, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise _fail(path, f"{what} must be a number, got {v!r}")
    if isinstance(v, float) and not math.isfinite(v):
        raise _fail(path, f"{what} must be a finite number")
    if not lo <= v <= hi:
        raise _fail(path, f"{what} must be {lo:g}..{hi:g}, got {v!r}")
    return float(v)


class _Parser:
    def __init__(
        self,
        languages: tuple[str, ...],
        queues: set[str] | None,
        skills: frozenset[str] | None = None,
    ) -> None:
        self.languages = languages
        self.queues = queues
        self.skills = skills  # the queue file's declared skill names (None: any name)
        self.menu_refs: list[tuple[FieldPath, str]] = []

    def prompt(self, v: Any, path: FieldPath, what: str) -> Prompt:
        """A text for every language, or a mapping language -> text."""
        if isinstance(v, str):
            v = {lang: v for lang in self.languages}
        v = _mapping(v, path, what)
        texts: dict[str, str] = {}
        for lang, text in v.items():
            if lang not in self.languages:
                known = ", ".join(self.languages)
                raise _fail(
                    (*path, lang), f"{what}: language {lang!r} is not in languages ({known})"
                )
            if not isinstance(text, str) or not 0 < len(text.strip()) <= MAX_PROMPT:
                raise _fail((*path, lang), f"{what}: a text of 1..{MAX_PROMPT} characters")
            if "\x00" in text:
                raise _fail((*path, lang), f"{what}: contains a NUL character")
            texts[lang] = text.strip()
        if not texts:
            raise _fail(path, f"{what}: needs at least one text")
        return Prompt(texts)

    def target(self, v: Any, path: FieldPath, what: str, *, option: bool = False) -> Target:
        if isinstance(v, str):  # shorthand: a queue name, or "voicemail"
            v = {"voicemail": True} if v == "voicemail" else {"queue": v}
        v = _mapping(v, path, what)
        _keys(v, OPTION_KEYS if option else TARGET_KEYS, path, what)
        kinds = [k for k in ("queue", "kb", "voicemail", "menu", "language") if k in v]
        if len(kinds) != 1:
            raise _fail(path, f"{what}: needs exactly one of queue, kb, voicemail, menu, language")
        kind = TargetKind(kinds[0])
        prompt = self.prompt(v["prompt"], (*path, "prompt"), what) if "prompt" in v else None
        if kind is TargetKind.QUEUE:
            queue = v["queue"]
            check_queue_name(queue, (*path, "queue"))
            if self.queues is not None and queue not in self.queues:
                raise _fail((*path, "queue"), f"{what} sends to unknown queue {queue!r}")
            priority = _int(v.get("priority", 0), (*path, "priority"), f"{what}: priority", 0, 9)
            skills = self.required(v["skills"], (*path, "skills"), what) if "skills" in v else {}
            return Target(kind, queue=queue, priority=priority, skills=skills)
        for extra in ("priority", "skills"):
            if extra in v:
                raise _fail((*path, extra), f"{what}: {extra} only goes with a queue")
        if kind is TargetKind.KB:
            if v["kb"] is not True:
                raise _fail((*path, "kb"), f"{what}: kb must be true")
            fallback = self.target(v.get("fallback", "default"), (*path, "fallback"), what)
            if fallback.kind is not TargetKind.QUEUE:
                raise _fail((*path, "fallback"), f"{what}: the kb fallback must be a queue")
            return Target(kind, prompt=prompt, fallback=fallback)
        if kind is TargetKind.VOICEMAIL:
            if v["voicemail"] is not True:
                raise _fail((*path, "voicemail"), f"{what}: voicemail must be true")
            return Target(kind, prompt=prompt)
        if kind is TargetKind.LANGUAGE:
            lang = v["language"]
            if lang not in self.languages:
                raise _fail((*path, "language"), f"{what}: unknown language {lang!r}")
            menu = v.get("menu")
            if menu is not None:
                self.menu_refs.append(((*path, "menu"), menu))
            return Target(kind, language=lang, menu=menu)
        self.menu_refs.append(((*path, "menu"), v["menu"]))
        return Target(kind, menu=v["menu"])

    def required(self, v: Any, path: FieldPath, what: str) -> dict[str, int]:
        """``skills:`` of a queue target: {name: min level}, names as the queue file's."""
        v = _mapping(v, path, f"{what}: skills")
        if not 0 < len(v) <= MAX_OWN_SKILLS:
            raise _fail(path, f"{what}: skills needs 1..{MAX_OWN_SKILLS} skills")
        out: dict[str, int] = {}
        for name, level in v.items():
            # (Languages are skills named lang:<code>, which the queue file never declares.)
            declared = None if str(name).startswith(LANGUAGE_PREFIX) else self.skills
            check_skill_name(name, declared, (*path, name), what)
            out[name] = _int(
                level, (*path, name), f"{what}: level of {name!r}", MIN_LEVEL, MAX_LEVEL
            )
        return out

    def option(self, v: Any, path: FieldPath, what: str) -> Option:
        v = _mapping(v, path, what)
        digit = v.get("digit")
        if digit is not None:
            digit = str(digit) if isinstance(digit, int) and not isinstance(digit, bool) else digit
            if not isinstance(digit, str) or not DIGIT.fullmatch(digit):
                raise _fail((*path, "digit"), f"{what}: digit must be one of 0-9 * #")
        words_raw = v.get("say", [])
        if isinstance(words_raw, str):
            words_raw = [words_raw]
        if not isinstance(words_raw, list) or not all(
            isinstance(w, str) and 0 < len(w.strip()) <= 80 for w in words_raw
        ):
            raise _fail((*path, "say"), f"{what}: say must be a list of phrases")
        if digit is None and not words_raw:
            raise _fail(path, f"{what}: needs a digit or words to say")
        words = tuple(" ".join(w.casefold().split()) for w in words_raw)
        target_data = {k: x for k, x in v.items() if k not in ("digit", "say")}
        return Option(self.target(target_data, path, what, option=True), digit, words)

    def menu(self, name: str, v: Any, path: FieldPath) -> Menu:
        what = f"menu {name!r}"
        if not isinstance(name, str) or not MENU_NAME.fullmatch(name):
            raise _fail(path, f"menu name {name!r}: 1..40 letters, digits, _ -")
        v = _mapping(v, path, what)
        _keys(v, MENU_KEYS, path, what)
        options_raw = v.get("options", [])
        if not isinstance(options_raw, list):
            raise _fail((*path, "options"), f"{what}: options must be a list")
        options = []
        seen_digits: set[str] = set()
        for i, raw in enumerate(options_raw):
            opath = (*path, "options", i)
            option = self.option(raw, opath, f"option {i + 1} of {what}")
            if option.digit is not None:
                if option.digit in seen_digits:
                    raise _fail((*opath, "digit"), f"{what}: digit {option.digit} used twice")
                seen_digits.add(option.digit)
            options.append(option)
        if options and "prompt" not in v:
            raise _fail(path, f"{what}: a menu with options needs a prompt")
        prompt = self.prompt(v["prompt"], (*path, "prompt"), what) if "prompt" in v else None
        default = self.target(v.get("default", "default"), (*path, "default"), f"{what}: default")
        invalid = self.prompt(v["invalid"], (*path, "invalid"), what) if "invalid" in v else None
        return Menu(name, prompt or Prompt({}), tuple(options), default, invalid)


def _hours(v: Any, default_zone: str) -> Hours:
    path: FieldPath = ("hours",)
    v = _mapping(v, path, "hours")
    _keys(v, frozenset({"timezone", "weekly", "holidays"}), path, "hours")
    zone_name = v.get("timezone", default_zone)
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise _fail((*path, "timezone"), f"hours: unknown time zone {zone_name!r}") from None
    weekly: dict[int, tuple[tuple[time, time], ...]] = {}
    days = _mapping(v.get("weekly", {}), (*path, "weekly"), "hours: weekly")
    for day, spans in days.items():
        dpath = (*path, "weekly", day)
        if day not in WEEKDAYS:
            raise _fail(dpath, f"hours: unknown weekday {day!r} (use {', '.join(WEEKDAYS)})")
        if isinstance(spans, str):
            spans = [spans]
        if not isinstance(spans, list):
            raise _fail(dpath, "hours: a day is a span 'HH:MM-HH:MM' or a list of them")
        parsed = []
        for span in spans:
            m = SPAN.match(span) if isinstance(span, str) else None
            if m is None:
                raise _fail(dpath, f"hours: {span!r} is not a span like '09:00-17:30'")
            h1, m1, h2, m2 = (int(x) for x in m.groups())
            if not (h1 < 24 and m1 < 60 and (h2 < 24 or (h2 == 24 and m2 == 0)) and m2 < 60):
                raise _fail(dpath, f"hours: {span!r} is not a valid time span")
            start = time(h1, m1)
            end = time.max if h2 == 24 else time(h2, m2)
            if end <= start:
                raise _fail(dpath, f"hours: {span!r} ends before it starts")
            parsed.append((start, end))
        weekly[WEEKDAYS.index(day)] = tuple(parsed)
    holidays = set()
    raw_h = v.get("holidays", [])
    if not isinstance(raw_h, list):
        raise _fail((*path, "holidays"), "hours: holidays must be a list of dates")
    for i, d in enumerate(raw_h):
        if isinstance(d, date):
            holidays.add(d)
            continue
        try:
            holidays.add(date.fromisoformat(str(d)))
        except ValueError:
            raise _fail((*path, "holidays", i), f"hours: {d!r} is not a date YYYY-MM-DD") from None
    return Hours(zone, weekly, frozenset(holidays))


def _build(
    data: Any, queues: set[str] | None, skills: frozenset[str] | None, zone: str, source: str
) -> IvrConfig:
    data = _mapping(data, (), "the top level")
    _keys(data, TOP_KEYS, (), "top level")
    langs = data.get("languages", ["en-US"])
    if isinstance(langs, str):
        langs = [langs]
    if not isinstance(langs, list) or not langs:
        raise _fail(("languages",), "languages must be a list of language codes like en-US")
    for i, lang in enumerate(langs):
        if not isinstance(lang, str) or not LANGUAGE.fullmatch(lang):
            raise _fail(("languages", i), f"{lang!r} is not a language code like en-US")
    p = _Parser(tuple(langs), queues, skills)
    menus_raw = _mapping(data.get("menus", {}), ("menus",), "menus")
    menus = {str(n): p.menu(str(n), body or {}, ("menus", str(n))) for n, body in menus_raw.items()}
    entry = data.get("entry", "main")
    if not menus:
        menus = dict(DEFAULT.menus)
        entry = "main"
    if entry not in menus:
        raise _fail(("entry",) if "entry" in data else ("menus",), f"no entry menu {entry!r}")
    for path, ref in p.menu_refs:
        if ref not in menus:
            raise _fail(path, f"goes to unknown menu {ref!r}")
    prompts: dict[str, Prompt] = {}
    for key in ("greeting", "known_caller"):
        if key in data:
            prompts[key] = p.prompt(data[key], (key,), key)
    for key, text in _mapping(data.get("prompts", {}), ("prompts",), "prompts").items():
        if key not in DEFAULT_PROMPTS:
            raise _fail(("prompts", key), f"prompts: unknown prompt {key!r}")
        prompts[key] = p.prompt(text, ("prompts", key), f"prompt {key!r}")
    overflow_raw = _mapping(data.get("overflow", {}), ("overflow",), "overflow")
    _keys(overflow_raw, frozenset({"max_waiting", "max_wait_s"}), ("overflow",), "overflow")
    overflow = Overflow(
        max_waiting=_int(
            overflow_raw["max_waiting"], ("overflow", "max_waiting"), "max_waiting", 0, 100_000
        )
        if "max_waiting" in overflow_raw
        else None,
        max_wait_s=_number(
            overflow_raw["max_wait_s"], ("overflow", "max_wait_s"), "max_wait_s", 1, 86_400
        )
        if "max_wait_s" in overflow_raw
        else None,
    )
    digit = data.get("callback_digit", "1")
    if isinstance(digit, int) and not isinstance(digit, bool):
        digit = str(digit)
    if (
        digit is not None
        and digit is not False
        and (not isinstance(digit, str) or not re.fullmatch(r"[0-9*#]", digit))
    ):
        raise _fail(("callback_digit",), "callback_digit must be one of 0-9 * # (or false)")
    music = data.get("hold_music")
    if music is not None and (not isinstance(music, str) or not re.match(r"^https?://\S+$", music)):
        raise _fail(("hold_music",), "hold_music must be an http(s) URL of an audio file")
    voice = data.get("voice")
    if voice is not None and (
        not isinstance(voice, str) or not re.fullmatch(r"[\w.\-]{1,60}", voice)
    ):
        raise _fail(("voice",), "voice must be a Twilio voice name like Polly.Joanna")
    csat = data.get("csat", False)
    if not isinstance(csat, bool):
        raise _fail(("csat",), "csat must be true or false")
    record = data.get("record_calls", True)
    if not isinstance(record, bool):
        raise _fail(("record_calls",), "record_calls must be true or false")
    return IvrConfig(
        languages=tuple(langs),
        menus=menus,
        entry=entry,
        max_tries=_int(data.get("max_tries", 3), ("max_tries",), "max_tries", 1, MAX_TRIES),
        voice=voice,
        hours=_hours(data["hours"], zone) if "hours" in data else None,
        after_hours=p.target(data.get("after_hours", "voicemail"), ("after_hours",), "after_hours"),
        overflow=overflow,
        announce_every_s=_number(
            data.get("announce_every_s", 30), ("announce_every_s",), "announce_every_s", 5, 600
        ),
        hold_music=music,
        callback_digit=digit or None,
        csat=csat,
        record_calls=record,
        gather_timeout_s=_int(
            data.get("gather_timeout_s", 5), ("gather_timeout_s",), "gather_timeout_s", 1, 30
        ),
        prompts=prompts,
        source=source,
    )


def parse(
    text: str,
    source: str,
    *,
    queues: set[str] | None = None,
    skills: frozenset[str] | None = None,
    zone: str = "UTC",
) -> IvrConfig:
    """Parse and validate an IVR document; ``queues``: the names options may send to;
    ``skills``: the skill names they may require (the queue file's; None: any)."""
    data, lines = read_document(text, source, "menus")
    try:
        return _build(data, queues, skills, zone, source)
    except FieldError as exc:
        raise ConfigError(f"{source}:{line_of(lines, exc.path)}: {exc.message}") from None


async def load(
    path: Path | None,
    *,
    queues: set[str] | None = None,
    skills: frozenset[str] | None = None,
    zone: str = "UTC",
) -> IvrConfig:
    """The IVR in ``path`` (read off the event loop), or the built-in one (straight to the
    ``default`` queue after the greeting)."""
    if path is None:
        return DEFAULT
    try:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the IVR configuration: {exc.strerror}") from None
    # (In a thread too: the hours' time zone is read from its file.)
    return await asyncio.to_thread(parse, text, str(path), queues=queues, skills=skills, zone=zone)
