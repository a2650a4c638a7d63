"""The last line of the REST boundary: whatever a handler lets escape becomes a JSON answer.

* an HTTP error with a plain-text body (aiohttp's own 404/405/413, a bare ``raise``): the
  same status with ``{"error": message}``;
* a pydantic ``ValidationError`` nobody turned into a 400 (a model built from input deep in
  a handler): 400 naming the field;
* anything else: 500 ``{"error": "internal error"}``, logged with its stack here and never
  sent to the client (a trace tells an attacker what to try next).
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import ValidationError

from center.payloads import describe

log = logging.getLogger(__name__)
# Headers of an aiohttp error worth keeping on its JSON replacement (e.g. 405's Allow).
_KEEP = ("Allow", "Retry-After", "WWW-Authenticate", "Location")


def _message(exc: web.HTTPException) -> str:
    # aiohttp's default body is "404: Not Found"; a handler's own text says more.
    text = exc.text or ""
    return exc.reason if not text or text.startswith(f"{exc.status}:") else text


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        # (A page of its own, such as the portal's HTML 400, is the handler's answer.)
        if exc.status < 400 or exc.content_type != "text/plain":
            raise
        headers = {k: exc.headers[k] for k in _KEEP if k in exc.headers}
        return web.json_response({"error": _message(exc)}, status=exc.status, headers=headers)
    except ValidationError as exc:
        where, _kind, message = describe(exc)
        log.info("refused %s %s: %s %s", request.method, request.path, where, message)
        text = f"{where}: {message}" if where else message
        return web.json_response({"error": text, "field": where or None}, status=400)
    except Exception:
        # (CancelledError is not an Exception: a client that went away stays cancelled.)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response({"error": "internal error"}, status=500)
