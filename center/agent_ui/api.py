"""REST API for the consoles: customers, their timelines, interactions.

Agents see the customers and interactions they have served; supervisors and admins see all.
"""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import Field
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from center.agent_ui.auth import require_user
from center.appkeys import DB
from center.httpjson import error, int_param, query_as
from center.interactions import interaction_json, message_json
from center.payloads import MAX_ID, Payload
from center.records.customers import customer_json
from center.records.events import event_json
from center.records.models import Customer, Event, Interaction, Message, User

routes = web.RouteTableDef()


class TimelinePage(Payload):
    """?after=<event id>&limit=<1..1000>: a page of a customer's timeline."""

    after: Annotated[int, Field(ge=0, le=MAX_ID)] = 0
    limit: Annotated[int, Field(ge=1, le=1000)] = 500


async def _may_see_customer(s: AsyncSession, user: User, customer_id: int) -> None:
    if user.role.sees_all:
        return
    served = await s.scalar(
        select(
            exists().where(Interaction.customer_id == customer_id, Interaction.agent_id == user.id)
        )
    )
    if not served:
        raise error(web.HTTPForbidden, "you have not served this customer")


@routes.get("/api/customers/{customer_id}")
async def get_customer(request: web.Request) -> web.Response:
    user = await require_user(request)
    customer_id = int_param(request, "customer_id")
    async with request.config_dict[DB].read() as s:
        customer = await s.get(Customer, customer_id)
        if customer is None:
            raise error(web.HTTPNotFound, "no such customer", id=customer_id)
        await _may_see_customer(s, user, customer_id)
    return web.json_response({"customer": customer_json(customer)})


@routes.get("/api/customers/{customer_id}/timeline")
async def timeline(request: web.Request) -> web.Response:
    user = await require_user(request)
    customer_id = int_param(request, "customer_id")
    page = query_as(request, TimelinePage)
    after, limit = page.after, page.limit
    async with request.config_dict[DB].read() as s:
        if await s.get(Customer, customer_id) is None:
            raise error(web.HTTPNotFound, "no such customer", id=customer_id)
        await _may_see_customer(s, user, customer_id)
        rows = await s.scalars(
            select(Event)
            .where(Event.customer_id == customer_id, Event.id > after)
            .order_by(Event.id)
            .limit(limit)
        )
        items = [event_json(e) for e in rows]
    return web.json_response(
        {
            "customer_id": customer_id,
            "events": items,
            "next_after": items[-1]["id"] if len(items) == limit else None,
        }
    )


@routes.get("/api/interactions/{interaction_id}")
async def get_interaction(request: web.Request) -> web.Response:
    user = await require_user(request)
    interaction_id = int_param(request, "interaction_id")
    async with request.config_dict[DB].read() as s:
        i = await s.get(Interaction, interaction_id)
        if i is None:
            raise error(web.HTTPNotFound, "no such interaction", id=interaction_id)
        if not user.role.sees_all and i.agent_id != user.id:
            raise error(web.HTTPForbidden, "this interaction is not yours")
        msgs = await s.scalars(
            select(Message).where(Message.interaction_id == i.id).order_by(Message.id)
        )
        body = {
            **interaction_json(i),
            "messages": [message_json(m) for m in msgs],
            "wrap_up_note": i.wrap_up_note,
            "disposition": i.disposition,
        }
    return web.json_response({"interaction": body})


@routes.get("/api/agents")
async def agents(request: web.Request) -> web.Response:
    """Who a ticket or conversation can be given to: every active account, by name (ids and
    display names only; presence and load are the supervisors' ``/api/supervisor/agents``)."""
    await require_user(request)
    async with request.app[DB].read() as s:
        found = (
            await s.execute(
                select(User.id, User.display_name, User.username)
                .where(User.active.is_(True))
                .order_by(User.display_name, User.id)
            )
        ).all()
    return web.json_response(
        {"agents": [{"id": i, "display_name": n, "username": u} for i, n, u in found]}
    )
