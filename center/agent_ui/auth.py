"""Login with an HTTP-only session cookie; helpers that guard REST handlers by role."""

from __future__ import annotations

from datetime import timedelta
from http.cookies import SimpleCookie

from aiohttp import web

from center.appkeys import DB, SETTINGS
from center.httpjson import error, json_body
from center.records import users
from center.records.enums import Role
from center.records.models import User

COOKIE = "center_session"
routes = web.RouteTableDef()


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


@routes.post("/api/login")
async def login(request: web.Request) -> web.Response:
    body = await json_body(request, max_bytes=10_000)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise error(web.HTTPBadRequest, "username and password are required strings")
    db, settings = request.config_dict[DB], request.config_dict[SETTINGS]
    user = await users.authenticate(db, username, password)
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
        await users.close_session(request.config_dict[DB], token)
    resp = web.json_response({"ok": True})
    resp.del_cookie(COOKIE, path="/")
    return resp


@routes.get("/api/me")
async def me(request: web.Request) -> web.Response:
    user = await require_user(request)
    return web.json_response({"user": users.user_json(user)})
