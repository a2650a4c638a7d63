"""SLA clock state kept on a ticket (``tickets.sla_flags``), as pure functions.

One entry per target: ``{"due_at": iso, "warn_at": iso | None, "state": ...}`` with state
``running`` (due, not yet warned), ``warned``, ``breached`` (past due, still open),
``met`` (stopped in time), ``missed`` (stopped after its breach), ``paused`` (resolution
while the ticket is pending: waiting on the customer; the business time left is kept and
the due time is set again on resuming). The SLA loop looks at a
ticket at ``next_check`` and turns running/warned entries whose instants passed into
warnings and breaches.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from center.tickets.events import SlaTarget

RUNNING, WARNED, BREACHED, MET, MISSED = "running", "warned", "breached", "met", "missed"
PAUSED = "paused"
ACTIVE = (RUNNING, WARNED, BREACHED, PAUSED)


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def start(
    flags: dict[str, Any], target: SlaTarget, due_at: datetime, warn_at: datetime | None
) -> dict[str, Any]:
    out = dict(flags)
    out[target.value] = {
        "due_at": due_at.isoformat(),
        "warn_at": warn_at.isoformat() if warn_at and warn_at < due_at else None,
        "state": RUNNING,
    }
    return out


def stop(
    flags: dict[str, Any], target: SlaTarget, now: datetime
) -> tuple[dict[str, Any], bool | None]:
    """Stop a running clock: the new flags and whether it was met in time (None: it was
    not running)."""
    entry = flags.get(target.value)
    if not entry or entry["state"] not in ACTIVE:
        return flags, None
    due = _at(entry["due_at"])
    # (A paused clock had time left when it stopped running.)
    in_time = entry["state"] == PAUSED or (due is not None and now <= due)
    out = dict(flags)
    out[target.value] = {
        **entry,
        "state": MET if in_time else MISSED,
        "stopped_at": now.isoformat(),
    }
    return out, in_time


def restart_allowed(flags: dict[str, Any], target: SlaTarget) -> bool:
    entry = flags.get(target.value)
    return not entry or entry["state"] not in ACTIVE


def evaluate(
    flags: dict[str, Any], now: datetime
) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    """Warnings and breaches due by ``now``: new flags, [(target, "warning"|"breach", due)]."""
    out = dict(flags)
    said: list[tuple[str, str, str]] = []
    for target, entry in flags.items():
        state = entry.get("state")
        due = _at(entry.get("due_at"))
        warn = _at(entry.get("warn_at"))
        if state not in (RUNNING, WARNED) or due is None:
            continue
        if now >= due:
            out[target] = {**entry, "state": BREACHED}
            said.append((target, "breach", entry["due_at"]))
        elif state == RUNNING and warn is not None and now >= warn:
            out[target] = {**entry, "state": WARNED}
            said.append((target, "warning", entry["due_at"]))
    return out, said


def next_check(flags: dict[str, Any]) -> datetime | None:
    """The next instant something is due: a warning not yet given or a due time."""
    times: list[datetime] = []
    for entry in flags.values():
        if entry.get("state") == RUNNING and entry.get("warn_at"):
            times.append(_at(entry["warn_at"]))  # type: ignore[arg-type]
        elif entry.get("state") in (RUNNING, WARNED) and entry.get("due_at"):
            times.append(_at(entry["due_at"]))  # type: ignore[arg-type]
    return min(times) if times else None


def summary(flags: dict[str, Any]) -> str:
    """The ticket's worst SLA state: "breached", "warning", "ok" or "none"."""
    states = {e.get("state") for e in flags.values()}
    if BREACHED in states:
        return "breached"
    if WARNED in states:
        return "warning"
    return "ok" if states & {RUNNING} else "none"


def pause(flags: dict[str, Any], target: SlaTarget, left_s: float) -> dict[str, Any]:
    """Stop a running (or warned) clock with ``left_s`` business seconds to go."""
    entry = flags.get(target.value)
    if not entry or entry["state"] not in (RUNNING, WARNED):
        return flags
    return {
        **flags,
        target.value: {**entry, "state": PAUSED, "left_s": left_s, "was": entry["state"]},
    }


def paused_left(flags: dict[str, Any], target: SlaTarget) -> float | None:
    entry = flags.get(target.value)
    return float(entry["left_s"]) if entry and entry.get("state") == PAUSED else None


def resume(
    flags: dict[str, Any], target: SlaTarget, due_at: datetime, warn_at: datetime | None
) -> dict[str, Any]:
    entry = flags[target.value]
    was = entry.get("was", RUNNING)
    out = {k: v for k, v in entry.items() if k not in ("left_s", "was")}
    out.update(
        due_at=due_at.isoformat(),
        warn_at=warn_at.isoformat() if warn_at and was == RUNNING and warn_at < due_at else None,
        state=was,
    )
    return {**flags, target.value: out}
