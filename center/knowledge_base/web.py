"""Wiring: REST routes on the main app, the portal sub-app at /help, the editor page."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from center.knowledge_base import api
from center.knowledge_base.portal import portal_app

STATIC = Path(__file__).with_name("static")


async def editor(request: web.Request) -> web.FileResponse:
    # The page itself is public; every API call it makes is authorised.
    return web.FileResponse(STATIC / "editor.html")


# The editor's script and style are files because the Content-Security-Policy allows no
# inline ones; named here, so nothing else in the folder is ever served.
ASSETS = {"editor.js", "editor.css"}


async def editor_asset(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise web.HTTPNotFound()
    return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})


def setup(app: web.Application) -> None:
    app.add_routes(api.routes)
    app.router.add_get("/kb/editor", editor)
    app.router.add_get("/kb/static/{name}", editor_asset)
    app.add_subapp("/help", portal_app())
