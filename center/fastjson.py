"""JSON through orjson where it can, the standard library where orjson refuses.

A module with ``dumps`` returning ``str`` and ``loads``: the shape python-socketio's
``AsyncServer(json=...)`` and SQLAlchemy's ``json_serializer`` take. orjson refuses some of
what json accepts (integers past 64 bits, non-string keys, lone surrogates in and out):
those fall back to json, so nothing that worked before fails or changes meaning now.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

COMPACT = (",", ":")  # what socket.io asks for; orjson writes no spaces anyway


def dumps(obj: Any, **kwargs: Any) -> str:
    if not kwargs or kwargs == {"separators": COMPACT}:
        try:
            return orjson.dumps(obj).decode()
        except TypeError:
            pass
    return json.dumps(obj, **kwargs)


def loads(s: str | bytes | bytearray, **kwargs: Any) -> Any:
    if not kwargs:
        try:
            return orjson.loads(s)
        except orjson.JSONDecodeError:
            pass  # json decides: it accepts lone surrogates, and words its own errors
    return json.loads(s, **kwargs)
