"""Queue configuration: queues and placement rules from a YAML or TOML file, validated.

A problem anywhere raises ``ConfigError`` whose message names the file and line, e.g.
``queues.yaml:14: queue 'billing' requires unknown skill 'biling'``. The same checks
validate queues edited through the admin API (``queue_from_data`` raises ``FieldError``
naming the field). Without a file the built-in default applies: one ``default`` queue for
every channel and no placement rules. See ``queues.example.yaml`` (or the same in TOML,
``queues.example.toml``) for the format; a ``.toml`` file is read as TOML.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from center.queue import definitions
from center.queue.config_lines import ConfigError, FieldPath, line_of, read_document
from center.queue.model import EscalationStep, QueueDef, Strategy
from center.queue.placement import FALLBACK_QUEUE, KeywordRule, Placement, PlacementRules
from center.records.enums import Channel

QUEUE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,79}$")
QUEUE_KEYS = frozenset(
    {"channels", "skills", "language", "priority", "aging_s", "sl_target", "sl_seconds"}
    | {"strategy", "escalation"}
)
STEP_KEYS = frozenset({"after_s", "lower_levels_by", "drop_skills", "overflow_queue"})
TOP_KEYS = frozenset({"skills", "queues", "placement"})
PLACEMENT_KEYS = frozenset({"ivr", "keywords", "tiers", "defaults"})
MAX_WAIT_S = definitions.MAX_WAIT_S
MIN_AGING_S = 0.001  # one millisecond: what the router counts in (less would round to "off")
MAX_SL_SECONDS = 24 * 3600  # "answered within a day" is the loosest target anyone sets
MAX_NAME_CHARS = definitions.MAX_SKILL_NAME  # a skill's (queue names follow QUEUE_NAME)
LANGUAGE = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")


class FieldError(ValueError):
    """A value at ``path`` (keys and list indexes) is wrong."""

    def __init__(self, path: FieldPath, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message

    @property
    def field(self) -> str:
        out = ""
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
        return out


@dataclass(frozen=True, slots=True)
class QueueConfig:
    queues: tuple[QueueDef, ...]
    rules: PlacementRules = field(default_factory=PlacementRules)
    # Declared skill names; None means none declared (the built-in default): any name goes.
    skills: frozenset[str] | None = None
    source: str = "(built-in default)"

    def names(self) -> set[str]:
        return {q.name for q in self.queues}


DEFAULT = QueueConfig(queues=(QueueDef(name=FALLBACK_QUEUE),))


# -- one queue (shared by the file and the API) ----------------------------------------------


def _fail(path: FieldPath, message: str) -> FieldError:
    return FieldError(path, message)


def _int(value: Any, path: FieldPath, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _fail(path, f"{what} must be an integer {lo}..{hi}, got {value!r}")
    return value


def _number(value: Any, path: FieldPath, what: str, lo: float, hi: float) -> float:
    """A finite number lo..hi. (YAML's .nan and TOML's nan are numbers, and NaN passes
    every ``<`` test: unchecked, it stalled the Erlang C loop and the process with it.)"""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, f"{what} must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise _fail(path, f"{what} must be a finite number, got {value!r}")
    if not lo <= value <= hi:  # (before float(): a huge int would overflow it)
        raise _fail(path, f"{what} must be {lo:g}..{hi:g}, got {value!r}")
    return float(value)


def _str_list(value: Any, path: FieldPath, what: str) -> list[str]:
    if not isinstance(value, list) or not all(
        isinstance(v, str) and 0 < len(v) <= MAX_NAME_CHARS for v in value
    ):
        raise _fail(path, f"{what} must be a list of names (up to {MAX_NAME_CHARS} characters)")
    return value


def _mapping(value: Any, path: FieldPath, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(path, f"{what} must be a mapping")
    return value


def _check_keys(data: Mapping[str, Any], allowed: frozenset[str], path: FieldPath, what: str):
    for key in data:
        if key not in allowed:
            raise _fail((*path, key), f"{what}: unknown key {key!r}")


def check_queue_name(name: Any, path: FieldPath = ("name",)) -> str:
    if not isinstance(name, str) or not QUEUE_NAME.fullmatch(name):
        raise _fail(path, f"queue name {name!r} must be 1..80 of letters, digits, _ . -")
    return name


def check_skill_name(name: Any, declared: frozenset[str] | None, path: FieldPath, what: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
        raise _fail(path, f"{what}: skill names must be strings of 1..{MAX_NAME_CHARS} characters")
    if declared is not None and name not in declared:
        raise _fail(path, f"{what} requires unknown skill {name!r}")
    return name


def queue_from_data(
    name: str,
    data: Mapping[str, Any],
    *,
    skills: frozenset[str] | None,
    queue_names: Iterable[str],
) -> QueueDef:
    """Validate one queue's settings; ``queue_names`` are those overflow may point to."""
    check_queue_name(name)
    what = f"queue {name!r}"
    data = _mapping(data, (), what)
    _check_keys(data, QUEUE_KEYS, (), what)
    channels = frozenset(Channel)
    if "channels" in data:
        raw = _str_list(data["channels"], ("channels",), f"{what}: channels")
        for i, c in enumerate(raw):
            if c not in Channel.__members__.values():
                known = ", ".join(Channel)
                raise _fail(("channels", i), f"{what}: unknown channel {c!r} (known: {known})")
        channels = frozenset(Channel(c) for c in raw)
        if not channels:
            raise _fail(("channels",), f"{what}: needs at least one channel")
    required: dict[str, int] = {}
    for skill, level in _mapping(data.get("skills", {}), ("skills",), f"{what}: skills").items():
        check_skill_name(skill, skills, ("skills", skill), what)
        required[skill] = _int(level, ("skills", skill), f"{what}: level of {skill!r}", 1, 10)
    language = data.get("language")
    if language is not None and (
        not isinstance(language, str) or not LANGUAGE.fullmatch(language.strip())
    ):
        raise _fail(("language",), f"{what}: language must be a language code like 'fr'")
    priority = _int(data.get("priority", 0), ("priority",), f"{what}: priority", 0, 9)
    aging = data.get("aging_s")
    if aging is not None:
        aging = _number(aging, ("aging_s",), f"{what}: aging_s", MIN_AGING_S, MAX_WAIT_S)
    sl_target = _number(
        data.get("sl_target", 0.8), ("sl_target",), f"{what}: sl_target", -math.inf, math.inf
    )
    if not 0 < sl_target <= 1:
        raise _fail(("sl_target",), f"{what}: sl_target must be in (0, 1], got {sl_target}")
    sl_seconds = _number(
        data.get("sl_seconds", 20.0), ("sl_seconds",), f"{what}: sl_seconds", 1, MAX_SL_SECONDS
    )
    strategy = data.get("strategy", Strategy.LONGEST_IDLE.value)
    if strategy not in Strategy.__members__.values():
        known = ", ".join(Strategy)
        raise _fail(("strategy",), f"{what}: unknown strategy {strategy!r} (known: {known})")
    steps = _escalation(data.get("escalation", []), what, skills, set(queue_names) | {name})
    return QueueDef(
        name=name,
        channels=channels,
        skills=required,
        language=language.strip().lower() if language else None,
        priority=priority,
        aging_s=aging,
        sl_target=sl_target,
        sl_seconds=sl_seconds,
        strategy=Strategy(strategy),
        escalation=steps,
    )


def _escalation(
    raw: Any, what: str, skills: frozenset[str] | None, names: set[str]
) -> tuple[EscalationStep, ...]:
    if not isinstance(raw, list):
        raise _fail(("escalation",), f"{what}: escalation must be a list of steps")
    steps: list[EscalationStep] = []
    for i, step in enumerate(raw):
        path: FieldPath = ("escalation", i)
        step = _mapping(step, path, f"{what}: escalation step {i + 1}")
        _check_keys(step, STEP_KEYS, path, f"{what}: escalation step {i + 1}")
        if "after_s" not in step:
            raise _fail(path, f"{what}: escalation step {i + 1} needs after_s")
        after = _number(step["after_s"], (*path, "after_s"), f"{what}: after_s", 0, MAX_WAIT_S)
        if steps and after <= steps[-1].after_s:
            raise _fail(
                (*path, "after_s"), f"{what}: escalation steps must have increasing after_s"
            )
        lower = _int(
            step.get("lower_levels_by", 0),
            (*path, "lower_levels_by"),
            f"{what}: lower_levels_by",
            0,
            10,
        )
        drop = _str_list(step.get("drop_skills", []), (*path, "drop_skills"), f"{what}: drop")
        for j, skill in enumerate(drop):
            check_skill_name(skill, skills, (*path, "drop_skills", j), what)
        overflow = step.get("overflow_queue")
        if overflow is not None and overflow not in names:
            raise _fail(
                (*path, "overflow_queue"), f"{what}: overflow to unknown queue {overflow!r}"
            )
        steps.append(EscalationStep(after, lower, tuple(drop), overflow))
    return tuple(steps)


def queue_json(q: QueueDef) -> dict[str, Any]:
    """The inverse of ``queue_from_data`` (plus the name): what the API returns and stores."""
    return {
        "name": q.name,
        "channels": sorted(c.value for c in q.channels),
        "skills": dict(q.skills),
        "language": q.language,
        "priority": q.priority,
        "aging_s": q.aging_s,
        "sl_target": q.sl_target,
        "sl_seconds": q.sl_seconds,
        "strategy": q.strategy.value,
        "escalation": [
            {
                "after_s": s.after_s,
                "lower_levels_by": s.lower_levels_by,
                "drop_skills": list(s.drop_skills),
                "overflow_queue": s.overflow_queue,
            }
            for s in q.escalation
        ],
    }


def check_all(queues: Iterable[QueueDef]) -> None:
    """The router's own whole-set checks (unique names, overflow targets...)."""
    try:
        definitions.encode(queues)
    except definitions.DefinitionError as exc:
        raise FieldError((), str(exc)) from None


# -- the file -------------------------------------------------------------------------------


def _target(raw: Any, path: FieldPath, names: set[str]) -> Placement:
    """A rule's target: a queue name, or {queue: name, priority: 0..9}."""
    if isinstance(raw, str):
        raw = {"queue": raw}
    raw = _mapping(raw, path, "a placement target")
    _check_keys(raw, frozenset({"queue", "priority"}), path, "placement target")
    queue = raw.get("queue")
    if queue not in names:
        raise _fail(
            (*path, "queue") if "queue" in raw else path,
            f"placement sends to unknown queue {queue!r}",
        )
    return Placement(queue, _int(raw.get("priority", 0), (*path, "priority"), "priority", 0, 9))


def _rules(raw: Any, queues: Mapping[str, QueueDef], lines: Mapping[FieldPath, int]):
    names = set(queues)
    raw = _mapping(raw, ("placement",), "placement")
    _check_keys(raw, PLACEMENT_KEYS, ("placement",), "placement")
    ivr = {
        str(choice): _target(t, ("placement", "ivr", str(choice)), names)
        for choice, t in _mapping(raw.get("ivr", {}), ("placement", "ivr"), "ivr").items()
    }
    tiers = {
        str(tier): _target(t, ("placement", "tiers", str(tier)), names)
        for tier, t in _mapping(raw.get("tiers", {}), ("placement", "tiers"), "tiers").items()
    }
    keywords = []
    kw_raw = raw.get("keywords", [])
    if not isinstance(kw_raw, list):
        raise _fail(("placement", "keywords"), "placement keywords must be a list of rules")
    for i, rule in enumerate(kw_raw):
        path: FieldPath = ("placement", "keywords", i)
        rule = _mapping(rule, path, "a keyword rule")
        _check_keys(rule, frozenset({"words", "queue", "priority"}), path, "keyword rule")
        words = _str_list(rule.get("words"), (*path, "words"), "keyword rule: words")
        for j, word in enumerate(words):
            if not re.fullmatch(r"\w+", word):
                raise _fail((*path, "words", j), f"keyword {word!r} must be one word")
        target = _target({k: v for k, v in rule.items() if k != "words"}, path, names)
        keywords.append(
            KeywordRule(tuple(w.casefold() for w in words), target, line_of(lines, path))
        )
    defaults = {}
    for channel, t in _mapping(
        raw.get("defaults", {}), ("placement", "defaults"), "defaults"
    ).items():
        path = ("placement", "defaults", str(channel))
        if channel not in Channel.__members__.values():
            raise _fail(path, f"placement default for unknown channel {channel!r}")
        target = _target(t, path, names)
        if Channel(channel) not in queues[target.queue].channels:
            raise _fail(path, f"queue {target.queue!r} does not take {channel} interactions")
        defaults[Channel(channel)] = target
    return PlacementRules(ivr=ivr, keywords=tuple(keywords), tiers=tiers, defaults=defaults)


def parse(text: str, source: str) -> QueueConfig:
    """Parse and validate a configuration document; ``source`` names it in errors."""
    data, lines = read_document(text, source, "queues")
    try:
        return _build(data, source, lines)
    except FieldError as exc:
        raise ConfigError(f"{source}:{line_of(lines, exc.path)}: {exc.message}") from None


def _build(data: Any, source: str, lines: Mapping[FieldPath, int]) -> QueueConfig:
    data = _mapping(data, (), "the top level")
    _check_keys(data, TOP_KEYS, (), "top level")
    skills = frozenset(_str_list(data.get("skills", []), ("skills",), "skills"))
    raw_queues = _mapping(data.get("queues"), ("queues",), "'queues'")
    if not raw_queues:
        raise _fail(("queues",), "at least one queue is needed")
    names = [str(n) for n in raw_queues]
    queues = {}
    for name, body in raw_queues.items():
        path: FieldPath = ("queues", str(name))
        check_queue_name(name, path)
        try:
            queues[name] = queue_from_data(name, body or {}, skills=skills, queue_names=names)
        except FieldError as exc:
            raise FieldError((*path, *exc.path), exc.message) from None
    check_all(queues.values())
    rules = _rules(data.get("placement", {}) or {}, queues, lines)
    return QueueConfig(tuple(queues.values()), rules, skills, source)


async def load(path: Path | None) -> QueueConfig:
    """The configuration in ``path`` (read off the event loop), or the built-in default."""
    if path is None:
        return DEFAULT
    try:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the queue configuration: {exc.strerror}") from None
    return parse(text, str(path))
