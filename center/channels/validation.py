"""Checks on socket.io payloads: anything malformed is refused with a message, never a crash."""

from __future__ import annotations

from typing import Any


class PayloadError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def as_dict(data: Any) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PayloadError("malformed", "payload must be an object")
    return data


def text_field(
    data: dict[str, Any],
    name: str,
    *,
    max_chars: int,
    required: bool = True,
    allow_empty: bool = False,
) -> str:
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise PayloadError("malformed", f"'{name}' must be a string")
    value = value.strip()
    if not value and not allow_empty:
        raise PayloadError("empty", f"'{name}' must not be empty")
    if len(value) > max_chars:
        raise PayloadError("too_long", f"'{name}' is longer than {max_chars} characters")
    return value


def id_field(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise PayloadError("malformed", f"'{name}' must be a positive integer")
    return value


def error_payload(event: str, code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "event": event, "code": code, "error": message}
