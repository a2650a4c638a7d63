"""``POST /api/outbox/{id}/resend``: a failed send back to the queue (the consoles' Resend).

Allowed on an outbox row of a ticket the agent may see, or of the conversation they hold
(an SMS reply, which is on no ticket); supervisors and admins on any.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from center.agent_ui.auth import require_user
from center.appkeys import DB
from center.httpjson import error, int_param
from center.outbox import requeue
from center.records.models import User
from center.tickets.views import INTERACTIONS, OUTBOX, may_see
from center.tickets.web import OUTBOX_WORKER

routes = web.RouteTableDef()


@routes.post("/api/outbox/{outbox_id}/resend")
async def resend(request: web.Request) -> web.Response:
    """A failed send back to the queue (the console's "resend")."""
    user = await require_user(request)
    outbox_id = int_param(request, "outbox_id")
    db = request.config_dict[DB]
    async with db.read_step() as c:
        row = (await c.execute(select(OUTBOX).where(OUTBOX.c.id == outbox_id))).first()
    if row is None:
        raise error(web.HTTPNotFound, "no such outbox item", id=outbox_id)
    if not user.role.sees_all and not await _owns_item(db, user, row):
        raise error(web.HTTPForbidden, "this outbox item is not yours")
    async with db.step() as c:
        if not await requeue(c, outbox_id, actor_id=user.id):
            raise error(web.HTTPConflict, "only a failed item can be resent", state=row.status)
    request.app[OUTBOX_WORKER].wake()
    return web.json_response({"id": outbox_id, "status": "queued"}, status=202)


async def _owns_item(db: Any, user: User, row: Any) -> bool:
    """An agent's own outbox row: on a ticket they may see, or of the conversation they hold
    (an SMS reply, which is on no ticket)."""
    if row.ticket_id is not None and await _sees(db, user, row.ticket_id):
        return True
    if row.interaction_id is None:
        return False
    async with db.read_step() as c:
        holder = await c.scalar(
            select(INTERACTIONS.c.agent_id).where(INTERACTIONS.c.id == row.interaction_id)
        )
    return holder == user.id


async def _sees(db: Any, user: User, ticket_id: int) -> bool:
    async with db.read_step() as c:
        return await may_see(c, user, ticket_id)
