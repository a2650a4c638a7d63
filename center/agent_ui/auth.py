"""Login with an HTTP-only session cookie; helpers that guard REST handlers by role.

``POST /api/login`` is limited per client address and account (login_limits.py: 429 with
Retry-After, decided before any password is hashed). ``POST /api/logout`` ends the session
and disconnects the console sockets opened with it, on every process (console_sockets.py).
"""

from __future__ import annotations

from datetime import timedelta
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Annotated, Any

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from center.agent_ui.login_limits import LOGIN_LIMITS
from center.appkeys import DB, SETTINGS
from center.httpjson import error, json_body
from center.records import users
from center.records.enums import Role
from center.records.models import User
from center.security import client_address, trusted_networks

if TYPE_CHECKING:
    from center.agent_ui.console_sockets import ConsoleSockets

COOKIE = "center_session"
# (Set by create_app; an app without Redis, such as the knowledge base's own test app, has
# neither: no shared counter to limit with and no sockets to end.)
CONSOLE_SOCKETS = web.AppKey("console_sockets", "ConsoleSockets")
routes = web.RouteTableDef()


def _storable(value: str) -> str:
    # A NUL or a lone surrogate can name no user; PostgreSQL and argon2 would fail on them.
    if "\x00" in value:
        raise ValueError("must not contain NUL")
    value.encode("utf-8")  # UnicodeEncodeError is a ValueError
    return value


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    username: Annotated[str, Field(min_length=1, max_length=80), AfterValidator(_storable)]
    password: Annotated[str, Field(min_length=1, max_length=1024), AfterValidator(_storable)]


def token_from_cookie_header(header: str | None) -> str | None:
    if not header:
        return None
    jar = SimpleCookie()
    try:
        jar.load(header)
    except Exception:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel else None


async def current_user(request: web.Request) -> User | None:
    return await users.user_for_token(request.config_dict[DB], request.cookies.get(COOKIE))


async def require_user(request: web.Request, *roles: Role) -> User:
    """The logged-in user, or 401; with roles given, 403 for any other role."""
    user = await current_user(request)
    if user is None:
        raise error(web.HTTPUnauthorized, "login required")
    if roles and user.role not in roles:
        raise error(web.HTTPForbidden, "not allowed for your role", role=user.role.value)
    return user


def _login_body(raw: dict[str, Any]) -> LoginBody:
    try:
        return LoginBody.model_validate(raw)
    except ValidationError:
        raise error(
            web.HTTPBadRequest, "username and password are required strings (up to 80/1024)"
        ) from None


@routes.post("/api/login")
async def login(request: web.Request) -> web.Response:
    body = _login_body(await json_body(request, max_bytes=10_000))
    db, settings = request.config_dict[DB], request.config_dict[SETTINGS]
    limits = request.config_dict.get(LOGIN_LIMITS)
    address = client_address(request, trusted_networks(settings))
    if limits is not None:
        try:
            wait_s = await limits.reserve(body.username, address)
        except (RedisConnectionError, RedisTimeoutError):
            # Without the counters nothing bounds guessing or the hashing it costs: refuse.
            raise error(web.HTTPServiceUnavailable, "sign-in is unavailable, try again") from None
        if wait_s:
            exc = error(web.HTTPTooManyRequests, "too many attempts", retry_after_s=wait_s)
            exc.headers["Retry-After"] = str(wait_s)
            raise exc
    verdict: bool | None = None
    try:
        user = await users.authenticate(db, body.username, body.password)
        verdict = user is not None
    finally:
        if limits is not None:
            await limits.finish(body.username, address, verdict)
    if user is None:
        # One message for unknown user and wrong password alike.
        raise error(web.HTTPUnauthorized, "invalid username or password")
    ttl = timedelta(hours=settings.session_ttl_hours)
    token = await users.open_session(db, user, ttl)
    resp = web.json_response({"user": users.user_json(user)})
    resp.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=settings.cookie_secure,
        max_age=int(ttl.total_seconds()),
        path="/",
    )
    return resp


@routes.post("/api/logout")
async def logout(request: web.Request) -> web.Response:
    token = request.cookies.get(COOKIE)
    if token:
        user_id = await users.close_session(request.config_dict[DB], token)
        sockets: ConsoleSockets | None = request.config_dict.get(CONSOLE_SOCKETS)
        if user_id is not None and sockets is not None:
            await sockets.end_session(user_id, users.session_key(token))
    resp = web.json_response({"ok": True})
    resp.del_cookie(COOKIE, path="/")
    return resp


@routes.get("/api/me")
async def me(request: web.Request) -> web.Response:
    user = await require_user(request)
    return web.json_response({"user": users.user_json(user)})
