"""JSON at the REST boundary: strict bodies, typed query strings, errors with a body.

Every 4xx carries a JSON body naming the problem. Bodies are read whole (up to a limit) and
parsed strictly: ``NaN`` and ``Infinity`` are not JSON and are refused, as are documents
nested deeper than any of ours, and strings no store takes (NUL, unpaired surrogates).
"""

from __future__ import annotations

import json
import math
from typing import Any, NoReturn, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from center.payloads import MAX_ID, clean, describe

MAX_DEPTH = 32  # our deepest body (a queue's escalation step's skill list) is 4 levels
M = TypeVar("M", bound=BaseModel)


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


def _not_json(constant: str) -> NoReturn:
    raise ValueError(f"{constant} is not JSON")


def _finite(literal: str) -> float:
    # 1e400 is valid JSON that float() makes infinite: refused like Infinity itself.
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"{literal} is out of range")
    return value


async def _read(request: web.Request, max_bytes: int) -> bytes:
    """The whole body: ``content.read(n)`` returns what is buffered so far, not n bytes."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large(max_bytes, request.content_length)
    raw = bytearray()
    while chunk := await request.content.readany():
        raw += chunk
        if len(raw) > max_bytes:
            raise too_large(max_bytes, len(raw))
    return bytes(raw)


def _check_tree(data: Any) -> None:
    """Depth and strings of a parsed document, without recursion (its depth is the input's)."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise error(web.HTTPBadRequest, f"body is nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            stack.extend((k, depth + 1) for k in node)
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
        elif isinstance(node, str):
            try:
                clean(node)
            except PydanticCustomError as exc:
                raise error(web.HTTPBadRequest, f"body text {exc.message()}") from None


async def json_body(request: web.Request, max_bytes: int = 1_000_000) -> dict[str, Any]:
    """Parse a JSON object body or raise 400/413 with a message."""
    raw = await _read(request, max_bytes)
    try:
        data = json.loads(raw or b"null", parse_constant=_not_json, parse_float=_finite)
    except RecursionError:
        raise error(web.HTTPBadRequest, f"body is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:  # (UnicodeDecodeError and JSONDecodeError among them)
        raise error(web.HTTPBadRequest, "body is not valid JSON") from None
    if not isinstance(data, dict):
        raise error(web.HTTPBadRequest, "body must be a JSON object")
    _check_tree(data)
    return data


def _refused(exc: ValidationError, key: str) -> web.HTTPException:
    where, _kind, message = describe(exc)
    text = f"{where}: {message}" if where else message
    return error(web.HTTPBadRequest, text, **{key: where or None})


def validated(model: type[M], data: Any, *, key: str = "field") -> M:
    """``data`` as ``model``, or a 400 naming the field (under ``key``)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _refused(exc, key) from None


async def body_as(request: web.Request, model: type[M], max_bytes: int = 1_000_000) -> M:
    """A JSON object body as ``model``, or a 400 whose ``field`` names the problem."""
    return validated(model, await json_body(request, max_bytes))


def query_as(request: web.Request, model: type[M]) -> M:
    """The query string as ``model`` (a key given twice: the first), or a 400 naming the
    parameter (``param``)."""
    return validated(model, {k: request.query[k] for k in request.query}, key="param")


def int_param(request: web.Request, name: str) -> int:
    """A path id: anything that is not an id a row can have cannot exist, so 404."""
    raw = request.match_info[name]
    # (isascii: int() takes some of what isdigit() accepts, such as "٣", and refuses "²")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and 1 <= int(raw) <= MAX_ID):
        raise error(web.HTTPNotFound, f"no such {name.removesuffix('_id')}", id=raw)
    return int(raw)
