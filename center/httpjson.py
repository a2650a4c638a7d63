"""JSON error responses: every 4xx carries a body naming the problem."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


def error(status: type[web.HTTPException], message: str, **extra: Any) -> web.HTTPException:
    body = json.dumps({"error": message, **extra})
    return status(text=body, content_type="application/json")


def too_large(
    max_bytes: int, actual: int | None, message: str = "body too large"
) -> web.HTTPException:
    # aiohttp's 413 takes the sizes, so error() cannot build it.
    body = json.dumps({"error": message, "max_bytes": max_bytes})
    return web.HTTPRequestEntityTooLarge(
        max_size=max_bytes,
        actual_size=actual or max_bytes + 1,
        text=body,
        content_type="application/json",
    )


async def json_body(request: web.Request, max_bytes: int = 1_000_000) -> dict[str, Any]:
    """Parse a JSON object body or raise 400/413 with a message."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large(max_bytes, request.content_length)
    raw = await request.content.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise too_large(max_bytes, len(raw))
    try:
        data = json.loads(raw or b"null")
    except ValueError:
        raise error(web.HTTPBadRequest, "body is not valid JSON") from None
    if not isinstance(data, dict):
        raise error(web.HTTPBadRequest, "body must be a JSON object")
    return data


def int_param(request: web.Request, name: str) -> int:
    """A path id: anything that is not a positive integer cannot exist, so 404."""
    raw = request.match_info[name]
    if not raw.isdigit():
        raise error(web.HTTPNotFound, f"no such {name.removesuffix('_id')}", id=raw)
    return int(raw)
