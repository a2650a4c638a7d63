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


def setup(app: web.Application) -> None:
    app.add_routes(api.routes)
    app.router.add_get("/kb/editor", editor)
    app.add_subapp("/help", portal_app())
