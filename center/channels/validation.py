"""Refusals of socket.io payloads: the error and the ack shape every namespace answers with.

The payloads themselves are pydantic models (``center.payloads``); this module keeps the
error type and the ``{"ok": false, "event", "code", "error"}`` ack that clients read.
"""

from __future__ import annotations

from typing import Any


class PayloadError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def error_payload(event: str, code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "event": event, "code": code, "error": message}
