"""Attachments download, the supervisor's SLA board, and the SLA policies (admin)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from aiohttp import web
from pydantic import Field
from sqlalchemy import Text as SqlText
from sqlalchemy import cast, delete, insert, select

from center.agent_ui.auth import require_user
from center.appkeys import DB
from center.httpjson import body_as, error, int_param
from center.payloads import Payload, QueueName, Text
from center.records.enums import Role, TicketStatus
from center.tickets import clocks
from center.tickets.attachments import ATTACHMENTS
from center.tickets.events import TicketPriority
from center.tickets.models import SlaPolicy
from center.tickets.service import TICKETS, as_ticket
from center.tickets.views import INTERACTIONS, MESSAGES, may_see, priority_name, ticket_json

routes = web.RouteTableDef()
POLICIES = SlaPolicy.__table__
SUPERVISORS = (Role.SUPERVISOR, Role.ADMIN)
# Types a browser may be told as they are: none of them runs script. Anything else is
# served as application/octet-stream (it is a download either way).
SAFE_TYPES = {
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "text/plain",
    "text/csv",
}
Minutes = Annotated[int, Field(ge=1, le=525_600, strict=True)]


@routes.get("/api/attachments/{file_id}")
async def download(request: web.Request) -> web.Response:
    user = await require_user(request)
    attachment_id = int_param(request, "file_id")
    db = request.config_dict[DB]
    async with db.read_step() as c:
        row = (
            await c.execute(
                select(ATTACHMENTS, INTERACTIONS.c.ticket_id, INTERACTIONS.c.agent_id)
                .join(MESSAGES, MESSAGES.c.id == ATTACHMENTS.c.message_id)
                .join(INTERACTIONS, INTERACTIONS.c.id == MESSAGES.c.interaction_id)
                .where(ATTACHMENTS.c.id == attachment_id)
            )
        ).first()
        if row is None:
            raise error(web.HTTPNotFound, "no such attachment", id=attachment_id)
        allowed = user.role.sees_all or row.agent_id == user.id
        if not allowed and row.ticket_id is not None:
            allowed = await may_see(c, user, row.ticket_id)
    if not allowed:
        raise error(web.HTTPForbidden, "this attachment is not yours")
    ctype = row.content_type.split(";")[0].strip().lower()
    fallback = "".join(
        ch if (ch.isascii() and ch.isalnum()) or ch in "._-" else "_" for ch in row.filename
    )
    return web.Response(
        body=row.data,
        content_type=ctype if ctype in SAFE_TYPES else "application/octet-stream",
        headers={
            "Content-Disposition": (
                f'attachment; filename="{fallback or "attachment"}"; '
                f"filename*=UTF-8''{quote(row.filename, safe='')}"
            ),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Cache-Control": "private, no-store",
            "X-Checksum-Sha256": row.sha256,
        },
    )


@routes.get("/api/supervisor/tickets/sla")
async def sla_board(request: web.Request) -> web.Response:
    """Open and pending tickets by SLA state, and the ones at risk or breached."""
    await require_user(request, *SUPERVISORS)
    flags = cast(TICKETS.c.sla_flags, SqlText)
    stmt = (
        select(TICKETS)
        .where(
            TICKETS.c.status.in_([TicketStatus.OPEN.value, TicketStatus.PENDING.value]),
            flags.like('%"state":"breached"%') | flags.like('%"state":"warned"%'),
        )
        .order_by(TICKETS.c.id)
        .limit(500)
    )
    counts_stmt = select(TICKETS.c.sla_flags).where(
        TICKETS.c.status.in_([TicketStatus.OPEN.value, TicketStatus.PENDING.value])
    )
    async with request.config_dict[DB].read_step() as c:
        at_risk = [as_ticket(r) for r in (await c.execute(stmt)).all()]
        counts = {"breached": 0, "warning": 0, "ok": 0, "none": 0}
        for (f,) in (await c.execute(counts_stmt)).all():
            counts[clocks.summary(f or {})] += 1
    order = {"breached": 0, "warning": 1}
    at_risk.sort(key=lambda t: (order.get(clocks.summary(t.sla_flags or {}), 2), t.id))
    return web.json_response(
        {
            "at": datetime.now(UTC).isoformat(),
            "counts": counts,
            "tickets": [ticket_json(t) for t in at_risk[:100]],
        }
    )


class PolicyBody(Payload):
    name: Text(80)
    queue: QueueName | None = None
    priority: str | None = Field(default=None, pattern=r"^(low|normal|high|urgent)$")
    first_response_minutes: Minutes | None = None
    next_response_minutes: Minutes | None = None
    resolution_minutes: Minutes | None = None
    warn_minutes: Annotated[int, Field(ge=0, le=525_600, strict=True)] = 0


class PoliciesBody(Payload):
    policies: Annotated[list[PolicyBody], Field(max_length=200)]


def _policy_json(m: Any) -> dict[str, Any]:
    return {
        "id": m["id"],
        "name": m["name"],
        "queue": m["queue"],
        "priority": None if m["priority"] is None else priority_name(m["priority"]),
        "first_response_minutes": m["first_response_minutes"],
        "next_response_minutes": m["next_response_minutes"],
        "resolution_minutes": m["resolution_minutes"],
        "warn_minutes": m["warn_minutes"],
    }


@routes.get("/api/sla/policies")
async def list_policies(request: web.Request) -> web.Response:
    await require_user(request, *SUPERVISORS)
    async with request.config_dict[DB].read_step() as c:
        rows = (await c.execute(select(POLICIES).order_by(POLICIES.c.id))).all()
    return web.json_response({"policies": [_policy_json(r._mapping) for r in rows]})


@routes.put("/api/sla/policies")
async def put_policies(request: web.Request) -> web.Response:
    """Replace every policy (admins). Tickets keep the due times they have; a ticket's
    clocks are re-timed when its queue or priority changes."""
    await require_user(request, Role.ADMIN)
    body = await body_as(request, PoliciesBody, 200_000)
    seen: set[tuple[str | None, str | None]] = set()
    for p in body.policies:
        if (p.queue, p.priority) in seen:
            raise error(
                web.HTTPBadRequest, "two policies for the same queue and priority", field="policies"
            )
        seen.add((p.queue, p.priority))
    now = datetime.now(UTC)
    async with request.config_dict[DB].step() as c:
        await c.execute(delete(POLICIES))
        for p in body.policies:
            await c.execute(
                insert(POLICIES).values(
                    name=p.name,
                    queue=p.queue,
                    priority=None
                    if p.priority is None
                    else int(TicketPriority[p.priority.upper()]),
                    first_response_minutes=p.first_response_minutes,
                    next_response_minutes=p.next_response_minutes,
                    resolution_minutes=p.resolution_minutes,
                    warn_minutes=p.warn_minutes,
                    created_at=now,
                )
            )
        rows = (await c.execute(select(POLICIES).order_by(POLICIES.c.id))).all()
    return web.json_response({"policies": [_policy_json(r._mapping) for r in rows]})
