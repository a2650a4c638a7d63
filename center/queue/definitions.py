"""Queue definitions as the Lua steps read them: validated, then one JSON object per queue.

Stored in the hash ``{p}:qdefs`` (queue name -> JSON) so every process routes by the same
rules. The JSON is what offerNext/escalate decode with cjson::

    {"skills": {name: min level}, "priority": 0..9, "aging_ms": 0 (no aging),
     "strategy": "longest_idle" | "least_occupied", "channels": [...],
     "esc": [{"after_ms": ..., "lower": n, "drop": [...], "overflow": "" | queue}, ...]}

A queue's language is the required skill ``lang:<code>`` at level 1 (see model.py).

An interaction may also require skills of its own (``interaction_skills``: an IVR option's
``skills:``), kept as JSON in the field ``skills`` of its live hash ``{p}:i:<id>`` and in
``interactions.required_skills``; offerNext requires them on top of its queue's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from center.queue.model import QueueDef

MIN_LEVEL, MAX_LEVEL = 1, 10
# The longest wait any queue setting speaks of (aging, escalation): a week. Beyond that a
# number is a typo, and an unbounded one overflows the milliseconds the scripts compare.
MAX_WAIT_S = 7 * 24 * 3600
LANGUAGE_PREFIX = "lang:"
# An interaction's own skills travel in every enqueue and are decoded per offer candidate:
# a handful is what a menu choice means; more is a configuration mistake.
MAX_OWN_SKILLS = 8
MAX_SKILL_NAME = 80  # characters of a skill's name, everywhere


class DefinitionError(ValueError):
    """A queue definition the router cannot route by; the message says which and why."""


def language_skill(language: str) -> str:
    return LANGUAGE_PREFIX + language.strip().lower()


def required_skills(q: QueueDef) -> dict[str, int]:
    skills = {str(name): int(level) for name, level in q.skills.items()}
    if q.language:
        skills.setdefault(language_skill(q.language), MIN_LEVEL)
    return skills


def check_skills(skills: Mapping[str, Any], *, what: str) -> dict[str, int]:
    """Validate a {skill: level} map (an agent's or a queue's); levels are ints 1..10."""
    out: dict[str, int] = {}
    for name, level in skills.items():
        if not isinstance(name, str) or not name.strip():
            raise DefinitionError(f"{what}: skill names must be non-empty strings")
        if isinstance(level, bool) or not isinstance(level, int):
            raise DefinitionError(f"{what}: level of {name!r} must be an integer")
        if not MIN_LEVEL <= level <= MAX_LEVEL:
            raise DefinitionError(
                f"{what}: level of {name!r} must be {MIN_LEVEL}..{MAX_LEVEL}, got {level}"
            )
        out[name] = level
    return out


def interaction_skills(skills: Mapping[str, Any] | None, *, what: str) -> str:
    """An interaction's own required skills as the JSON offerNext reads ('' for none, so
    an interaction without skills of its own costs the router no decoding)."""
    if not skills:
        return ""
    if len(skills) > MAX_OWN_SKILLS:
        raise DefinitionError(f"{what}: at most {MAX_OWN_SKILLS} skills")
    for name in skills:
        if isinstance(name, str) and len(name) > MAX_SKILL_NAME:
            raise DefinitionError(f"{what}: skill names are at most {MAX_SKILL_NAME} characters")
    return _dumps(check_skills(skills, what=what))


def encode(queues: Iterable[QueueDef]) -> dict[str, str]:
    """Validate a whole configuration and return queue name -> JSON for {p}:qdefs."""
    defs = list(queues)
    names = [q.name for q in defs]
    if len(set(names)) != len(names):
        raise DefinitionError("queue names must be unique")
    out: dict[str, str] = {}
    for q in defs:
        if not q.name or ":" in q.name:
            raise DefinitionError(f"queue name {q.name!r} must be non-empty without ':'")
        what = f"queue {q.name!r}"
        if not 0 <= q.priority <= 9:
            raise DefinitionError(f"{what}: priority must be 0..9")
        if q.aging_s is not None and not _within(q.aging_s, 0.001, MAX_WAIT_S):
            raise DefinitionError(f"{what}: aging_s must be 0.001..{MAX_WAIT_S} s (or None)")
        if not q.channels:
            raise DefinitionError(f"{what}: needs at least one channel")
        skills = check_skills(required_skills(q), what=what)
        steps = []
        last = 0.0
        for step in q.escalation:
            if not _within(step.after_s, 0, MAX_WAIT_S):
                raise DefinitionError(f"{what}: after_s must be 0..{MAX_WAIT_S} s")
            if steps and step.after_s <= last:
                raise DefinitionError(f"{what}: escalation steps must have increasing after_s")
            if step.overflow_queue is not None and step.overflow_queue not in names:
                raise DefinitionError(
                    f"{what}: overflow queue {step.overflow_queue!r} is not defined"
                )
            if not 0 <= step.lower_levels_by <= MAX_LEVEL:
                raise DefinitionError(f"{what}: lower_levels_by must be 0..{MAX_LEVEL}")
            last = step.after_s
            steps.append(
                {
                    "after_ms": int(step.after_s * 1000),
                    "lower": step.lower_levels_by,
                    "drop": list(step.drop_skills),
                    "overflow": step.overflow_queue or "",
                }
            )
        doc = {
            "skills": skills,
            "priority": q.priority,
            "aging_ms": int(q.aging_s * 1000) if q.aging_s else 0,
            "strategy": q.strategy.value,
            "channels": sorted(c.value for c in q.channels),
            "esc": steps,
        }
        out[q.name] = _dumps(doc)
    return out


def _within(value: float, lo: float, hi: float) -> bool:
    # (NaN compares false with everything: a bare ``value < lo`` would let it through.)
    return math.isfinite(value) and lo <= value <= hi


def _dumps(doc: dict[str, Any]) -> str:
    # cjson decodes "{}" and "[]" both as an empty table, which is what the scripts expect.
    return json.dumps(doc, separators=(",", ":"), sort_keys=True)
