"""REST API of the ticket desk (issue 11's contract).

Agents see and act on what is theirs (assigned to them, or holding an interaction offered
or assigned to them); supervisors and admins on every ticket. Bodies and query strings are
pydantic models with limits; lists page with an opaque cursor (the last id seen).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AfterValidator, Field, model_validator
from sqlalchemy import Text as SqlText
from sqlalchemy import cast, or_, select

from center.agent_ui import queues_api
from center.agent_ui.auth import require_user
from center.appkeys import DB, QUEUE_CONFIG
from center.httpjson import body_as, error, int_param, query_as
from center.payloads import Id, Payload, QueueName, Text
from center.records import customers
from center.records.enums import Channel, IdentityKind, Role, TicketStatus
from center.records.models import Message, User
from center.tickets.events import TicketPriority
from center.tickets.replies import ReplyError, repliers
from center.tickets.service import TICKETS, Actor, TicketChanges, TicketError, as_ticket
from center.tickets.views import (
    INTERACTIONS,
    MESSAGES,
    OUTBOX,
    may_see,
    message_json,
    ticket_detail,
    ticket_json,
    visible_to,
)
from center.tickets.web import OUTBOX_WORKER
from center.tickets.web import TICKETS as TICKET_SERVICE

routes = web.RouteTableDef()
PAGE = 50
# An address a reply may be copied to: no whitespace or CR/LF (header injection), one @.
_ADDRESS = re.compile(r"^[^\s@<>,;\"]{1,64}@[^\s@<>,;\"]{1,190}$")


def _address(value: str) -> str:
    if not _ADDRESS.fullmatch(value):
        raise ValueError("not an e-mail address")
    return value.lower()


Address = Annotated[Text(254), AfterValidator(_address)]
PriorityName = Literal["low", "normal", "high", "urgent"]
Tag = Text(40)


def _priority(name: str | None) -> TicketPriority | None:
    return None if name is None else TicketPriority[name.upper()]


class NewTicket(Payload):
    customer_id: Id | None = None
    customer_email: Address | None = None
    subject: Text(255)
    note: Text(10_000) | None = None
    channel: Channel | None = None
    queue: QueueName | None = None
    priority: PriorityName | None = None
    interaction_id: Id | None = None

    @model_validator(mode="after")
    def _one_customer(self) -> NewTicket:
        if (self.customer_id is None) == (self.customer_email is None):
            raise ValueError("give exactly one of customer_id or customer_email")
        return self


class TicketQuery(Payload):
    status: TicketStatus | None = None
    queue: QueueName | None = None
    assignee: (
        Literal["me", "none"] | Annotated[str, Field(pattern=r"^[1-9][0-9]{0,17}$")] | None
    ) = None
    customer_id: Annotated[str, Field(pattern=r"^[1-9][0-9]{0,17}$")] | None = None
    sla: Literal["breached", "warning", "ok", "none"] | None = None
    q: Text(200) | None = None
    cursor: Annotated[str, Field(pattern=r"^[1-9][0-9]{0,17}$")] | None = None
    interaction_id: Annotated[str, Field(pattern=r"^[1-9][0-9]{0,17}$")] | None = None
    limit: Annotated[str, Field(pattern=r"^[1-9][0-9]{0,2}$")] | None = None


class TicketPatch(Payload):
    status: TicketStatus | None = None
    priority: PriorityName | None = None
    assignee_id: Id | None = None  # null: unassign (when given)
    queue: QueueName | None = None
    tags: Annotated[list[Tag], Field(max_length=20)] | None = None
    subject: Text(255) | None = None


class ReplyBody(Payload):
    body: Text(50_000)
    cc: Annotated[list[Address], Field(max_length=10)] = []


class NoteBody(Payload):
    body: Text(10_000)


class AttachBody(Payload):
    interaction_id: Id


class OpenBody(Payload):
    subject: Text(255)
    priority: PriorityName | None = None


def _refused(exc: TicketError | ReplyError) -> web.HTTPException:
    status = {"not_found": web.HTTPNotFound, "invalid": web.HTTPUnprocessableEntity}.get(
        exc.code, web.HTTPConflict
    )
    return error(status, str(exc), code=exc.code)


async def _visible_ticket(request: web.Request, user: User, ticket_id: int) -> Any:
    async with request.config_dict[DB].read_step() as c:
        row = (await c.execute(select(TICKETS).where(TICKETS.c.id == ticket_id))).first()
        if row is None:
            raise error(web.HTTPNotFound, "no such ticket", id=ticket_id)
        if not await may_see(c, user, ticket_id):
            raise error(web.HTTPForbidden, "this ticket is not yours")
    return as_ticket(row)


async def _known_queue(request: web.Request, name: str | None) -> None:
    if name is None:
        return
    queues = await queues_api.effective(request.config_dict[DB], request.config_dict[QUEUE_CONFIG])
    if name not in queues:
        raise error(web.HTTPUnprocessableEntity, "no such queue", field="queue", queue=name)


def _agent(user: User) -> Actor:
    return Actor.agent(user.id)


@routes.post("/api/tickets")
async def create_ticket(request: web.Request) -> web.Response:
    user = await require_user(request)
    body = await body_as(request, NewTicket, 64_000)
    await _known_queue(request, body.queue)
    db = request.config_dict[DB]
    service = request.config_dict[TICKET_SERVICE]
    customer_id = body.customer_id
    if body.customer_email is not None:
        # An agent vouches for the address the ticket is for (replies go to it).
        customer = await customers.resolve(
            db, {IdentityKind.EMAIL: body.customer_email}, via="agent"
        )
        customer_id = customer.id
    async with db.step() as c:
        if body.customer_id is not None and not user.role.sees_all:
            # An agent opens tickets for customers they served (or by e-mail address):
            # an id alone must not reach anyone's record.
            served = await c.scalar(
                select(INTERACTIONS.c.id)
                .where(
                    INTERACTIONS.c.customer_id == customer_id, INTERACTIONS.c.agent_id == user.id
                )
                .limit(1)
            )
            if served is None:
                raise error(web.HTTPForbidden, "you have not served this customer")
        exists = select(customers.Customer.id).where(customers.Customer.id == customer_id)
        if await c.scalar(exists) is None:
            raise error(web.HTTPNotFound, "no such customer", id=customer_id)
        if body.interaction_id is not None:
            await _own_interaction(c, user, body.interaction_id)
        try:
            t = await service.create(
                c,
                customer_id=customer_id,
                subject=body.subject,
                channel=body.channel or (Channel.EMAIL if body.customer_email else None),
                queue=body.queue or "default",
                priority=_priority(body.priority) or TicketPriority.NORMAL,
                assignee_id=user.id if user.role is Role.AGENT else None,
                interaction_id=body.interaction_id,
                actor=_agent(user),
            )
            if body.note:
                await service.add_note(c, t.id, body=body.note, author_id=user.id)
        except TicketError as exc:
            raise _refused(exc) from None
        detail = await ticket_detail(c, t)
    return web.json_response({"ticket": detail}, status=201)


async def _own_interaction(c: Any, user: User, interaction_id: int) -> Any:
    row = (await c.execute(select(INTERACTIONS).where(INTERACTIONS.c.id == interaction_id))).first()
    if row is None:
        raise error(web.HTTPNotFound, "no such interaction", id=interaction_id)
    if not user.role.sees_all and row.agent_id != user.id:
        raise error(web.HTTPForbidden, "this interaction is not yours")
    return row


@routes.get("/api/tickets")
async def list_tickets(request: web.Request) -> web.Response:
    user = await require_user(request)
    query = query_as(request, TicketQuery)
    limit = min(int(query.limit or PAGE), 200)
    stmt = select(TICKETS).order_by(TICKETS.c.id.desc()).limit(limit + 1)
    clause = visible_to(user)
    if clause is not None:
        stmt = stmt.where(clause)
    if query.status:
        stmt = stmt.where(TICKETS.c.status == query.status)
    if query.queue:
        stmt = stmt.where(TICKETS.c.queue == query.queue)
    if query.assignee == "me":
        stmt = stmt.where(TICKETS.c.assignee_id == user.id)
    elif query.assignee == "none":
        stmt = stmt.where(TICKETS.c.assignee_id.is_(None))
    elif query.assignee:
        stmt = stmt.where(TICKETS.c.assignee_id == int(query.assignee))
    if query.customer_id:
        stmt = stmt.where(TICKETS.c.customer_id == int(query.customer_id))
    if query.sla:
        # (The flags are JSON written by orjson, compact: the state appears as below.)
        flags = cast(TICKETS.c.sla_flags, SqlText)
        breached, warned, running = (f'%"state":"{s}"%' for s in ("breached", "warned", "running"))
        stmt = stmt.where(TICKETS.c.status.in_(["open", "pending"]))
        if query.sla == "breached":
            stmt = stmt.where(flags.like(breached))
        elif query.sla == "warning":
            stmt = stmt.where(flags.like(warned), ~flags.like(breached))
        elif query.sla == "ok":
            stmt = stmt.where(flags.like(running), ~flags.like(warned), ~flags.like(breached))
        else:
            stmt = stmt.where(~flags.like(running), ~flags.like(warned), ~flags.like(breached))
    if query.q:
        text = query.q.strip().removeprefix("[").removesuffix("]").removeprefix("#")
        escaped = query.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        match = TICKETS.c.subject.ilike(f"%{escaped}%", escape="\\")
        if text.isascii() and text.isdigit() and len(text) <= 18:
            match = or_(match, TICKETS.c.number == int(text))
        stmt = stmt.where(match)
    if query.interaction_id:  # the ticket an interaction is on (the console's email pane)
        holder = select(INTERACTIONS.c.ticket_id).where(
            INTERACTIONS.c.id == int(query.interaction_id)
        )
        stmt = stmt.where(TICKETS.c.id == holder.scalar_subquery())
    if query.cursor:
        stmt = stmt.where(TICKETS.c.id < int(query.cursor))
    async with request.config_dict[DB].read_step() as c:
        rows = (await c.execute(stmt)).all()
    items = [ticket_json(as_ticket(r)) for r in rows[:limit]]
    more = len(rows) > limit
    return web.json_response(
        {"tickets": items, "next_cursor": str(items[-1]["id"]) if more and items else None}
    )


@routes.get("/api/tickets/{ticket_id}")
async def get_ticket(request: web.Request) -> web.Response:
    user = await require_user(request)
    t = await _visible_ticket(request, user, int_param(request, "ticket_id"))
    async with request.config_dict[DB].read_step() as c:
        detail = await ticket_detail(c, t)
    return web.json_response({"ticket": detail})


@routes.patch("/api/tickets/{ticket_id}")
async def patch_ticket(request: web.Request) -> web.Response:
    user = await require_user(request)
    ticket_id = int_param(request, "ticket_id")
    await _visible_ticket(request, user, ticket_id)
    body = await body_as(request, TicketPatch, 16_000)
    await _known_queue(request, body.queue)
    db = request.config_dict[DB]
    assignee: int | None = None
    if "assignee_id" in body.model_fields_set:
        assignee = body.assignee_id or 0
        if body.assignee_id is not None:
            async with db.read_step() as c:
                active = await c.scalar(select(User.active).where(User.id == body.assignee_id))
            if not active:
                raise error(web.HTTPUnprocessableEntity, "no such active user", field="assignee_id")
    changes = TicketChanges(
        status=body.status,
        priority=_priority(body.priority),
        assignee_id=assignee,
        queue=body.queue,
        tags=tuple(body.tags) if body.tags is not None else None,
        subject=body.subject,
    )
    async with db.step() as c:
        try:
            t = await request.config_dict[TICKET_SERVICE].update(
                c, ticket_id, changes, actor=_agent(user)
            )
        except TicketError as exc:
            raise _refused(exc) from None
    return web.json_response({"ticket": ticket_json(t)})


@routes.post("/api/tickets/{ticket_id}/notes")
async def add_note(request: web.Request) -> web.Response:
    user = await require_user(request)
    ticket_id = int_param(request, "ticket_id")
    await _visible_ticket(request, user, ticket_id)
    body = await body_as(request, NoteBody, 64_000)
    async with request.config_dict[DB].step() as c:
        note = await request.config_dict[TICKET_SERVICE].add_note(
            c, ticket_id, body=body.body, author_id=user.id
        )
    return web.json_response({"note": note}, status=201)


@routes.post("/api/tickets/{ticket_id}/replies")
async def reply(request: web.Request) -> web.Response:
    user = await require_user(request)
    ticket_id = int_param(request, "ticket_id")
    t = await _visible_ticket(request, user, ticket_id)
    body = await body_as(request, ReplyBody, 256_000)
    if t.status is TicketStatus.CLOSED:
        raise error(web.HTTPConflict, "the ticket is closed", code="conflict")
    found = repliers(request.app)
    channel = t.channel if t.channel in found else Channel.EMAIL
    # A chat or phone ticket has no replier of its own: it is answered by email, to the
    # customer's verified address (refused with "no_address" when they have none).
    replier = found.get(channel)
    if replier is None:
        raise error(
            web.HTTPConflict,
            f"replies on {t.channel.value if t.channel else 'this'} ticket cannot be sent here",
            code="no_replier",
        )
    db = request.config_dict[DB]
    async with db.step() as c:
        t = await request.config_dict[TICKET_SERVICE].get(c, ticket_id, lock=True)
        try:
            m: Message = await replier.store_reply(c, t, body.body, list(body.cc), user)
            await request.config_dict[TICKET_SERVICE].agent_replied(
                c, ticket_id, message_id=m.id, agent_id=user.id, interaction_id=m.interaction_id
            )
        except (TicketError, ReplyError) as exc:
            raise _refused(exc) from None
        row = (await c.execute(select(MESSAGES).where(MESSAGES.c.id == m.id))).one()
        outbox_id = await c.scalar(select(OUTBOX.c.id).where(OUTBOX.c.message_id == m.id))
    request.app[OUTBOX_WORKER].wake()
    shown = message_json(row._mapping, channel.value, [], outbox_id)
    return web.json_response({"message": shown}, status=202)


@routes.post("/api/tickets/{ticket_id}/interactions")
async def attach_interaction(request: web.Request) -> web.Response:
    user = await require_user(request)
    ticket_id = int_param(request, "ticket_id")
    await _visible_ticket(request, user, ticket_id)
    body = await body_as(request, AttachBody, 4_000)
    async with request.config_dict[DB].step() as c:
        await _own_interaction(c, user, body.interaction_id)
        try:
            t = await request.config_dict[TICKET_SERVICE].attach(
                c, ticket_id, body.interaction_id, actor=_agent(user)
            )
        except TicketError as exc:
            raise _refused(exc) from None
    return web.json_response({"ticket": ticket_json(t)})


@routes.post("/api/interactions/{interaction_id}/ticket")
async def open_for_interaction(request: web.Request) -> web.Response:
    user = await require_user(request)
    interaction_id = int_param(request, "interaction_id")
    async with request.config_dict[DB].read_step() as c:
        await _own_interaction(c, user, interaction_id)
    body = await body_as(request, OpenBody, 4_000)
    async with request.config_dict[DB].step() as c:
        row = await _own_interaction(c, user, interaction_id)
        if row.ticket_id is not None:
            raise error(web.HTTPConflict, "the interaction is already on a ticket",
                        ticket_id=row.ticket_id)  # fmt: skip
        t = await request.config_dict[TICKET_SERVICE].open_for_interaction(
            c,
            interaction_id,
            subject=body.subject,
            actor=_agent(user),
            priority=_priority(body.priority) or TicketPriority.NORMAL,
        )
    return web.json_response({"ticket": ticket_json(t)}, status=201)
