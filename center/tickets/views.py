"""What the REST API shows of a ticket, and who may see it.

Agents see the tickets assigned to them and those holding an interaction that is (or was)
theirs (offered or assigned to them); supervisors and admins see every ticket.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from center.outbox.models import OutboxItem
from center.records.models import Interaction, Message, Ticket, User
from center.tickets import clocks
from center.tickets.attachments import listed
from center.tickets.events import TicketPriority
from center.tickets.service import NOTES, TICKETS, note_json

INTERACTIONS = Interaction.__table__
MESSAGES = Message.__table__
OUTBOX = OutboxItem.__table__


def priority_name(value: int) -> str:
    try:
        return TicketPriority(value).name.lower()
    except ValueError:
        return str(value)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def visible_to(user: User) -> ColumnElement[bool] | None:
    """The WHERE clause of the tickets ``user`` may see (None: all)."""
    if user.role.sees_all:
        return None
    theirs = exists().where(
        INTERACTIONS.c.ticket_id == TICKETS.c.id, INTERACTIONS.c.agent_id == user.id
    )
    return or_(TICKETS.c.assignee_id == user.id, theirs)


async def may_see(conn: AsyncConnection, user: User, ticket_id: int) -> bool:
    clause = visible_to(user)
    stmt = select(TICKETS.c.id).where(TICKETS.c.id == ticket_id)
    if clause is not None:
        stmt = stmt.where(clause)
    return await conn.scalar(stmt) is not None


def sla_json(t: Ticket) -> dict[str, Any]:
    flags = t.sla_flags or {}
    return {
        "state": clocks.summary(flags),
        "policy_id": t.sla_policy_id,
        "first_response_due_at": _iso(t.first_response_due_at),
        "first_responded_at": _iso(t.first_responded_at),
        "next_response_due_at": _iso(t.next_response_due_at),
        "resolution_due_at": _iso(t.resolution_due_at),
        "targets": flags,
    }


def ticket_json(t: Ticket) -> dict[str, Any]:
    return {
        "id": t.id,
        "number": t.number,
        "token": f"[#{t.number}]",
        "customer_id": t.customer_id,
        "subject": t.subject,
        "status": t.status.value,
        "priority": priority_name(t.priority),
        "queue": t.queue,
        "channel": t.channel.value if t.channel else None,
        "assignee_id": t.assignee_id,
        "tags": list(t.tags or []),
        "follow_up_of_id": t.follow_up_of_id,
        "created_at": _iso(t.created_at),
        "updated_at": _iso(t.updated_at),
        "solved_at": _iso(t.solved_at),
        "closed_at": _iso(t.closed_at),
        "sla": sla_json(t),
    }


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, list) else []


def message_json(
    m: Any, channel: str | None, attachments: list[dict[str, Any]], outbox_id: int | None = None
) -> dict[str, Any]:
    """A message as the ticket view shows it; ``meta`` keys a channel fills (see the ready
    brief): from, to, cc, subject, message_id_header, html (sanitised by the channel)."""
    meta = m["meta"] or {}
    return {
        "id": m["id"],
        "interaction_id": m["interaction_id"],
        "channel": channel,
        "direction": str(m["direction"]),
        "author_id": m["author_id"],
        "from": meta.get("from"),
        "to": _strings(meta.get("to")),
        "cc": _strings(meta.get("cc")),
        "subject": meta.get("subject"),
        "message_id": meta.get("message_id_header"),
        "html": meta.get("html"),
        "text": m["body"],
        "attachments": attachments,
        "delivery": meta.get("delivery"),
        "outbox_id": outbox_id,
        "at": _iso(m["created_at"]),
    }


async def ticket_detail(conn: AsyncConnection, t: Ticket) -> dict[str, Any]:
    interactions = (
        await conn.execute(
            select(INTERACTIONS).where(INTERACTIONS.c.ticket_id == t.id).order_by(INTERACTIONS.c.id)
        )
    ).all()
    channels = {i.id: str(i.channel) for i in interactions}
    msgs = (
        await conn.execute(
            select(MESSAGES)
            .where(MESSAGES.c.interaction_id.in_(list(channels) or [0]))
            .order_by(MESSAGES.c.id)
        )
    ).all()
    ids = [m.id for m in msgs]
    files = await listed(conn, ids)
    outbox_rows = (
        await conn.execute(
            select(OUTBOX.c.id, OUTBOX.c.message_id).where(OUTBOX.c.message_id.in_(ids or [0]))
        )
    ).all()
    outbox = {r.message_id: r.id for r in outbox_rows}
    notes = (
        await conn.execute(select(NOTES).where(NOTES.c.ticket_id == t.id).order_by(NOTES.c.id))
    ).all()
    return {
        **ticket_json(t),
        "interactions": [
            {
                "id": i.id,
                "channel": str(i.channel),
                "state": str(i.state),
                "agent_id": i.agent_id,
                "created_at": _iso(i.created_at),
            }
            for i in interactions
        ],
        "messages": [
            message_json(m._mapping, channels.get(m.interaction_id), files[m.id], outbox.get(m.id))
            for m in msgs
        ],
        "notes": [note_json(n._mapping) for n in notes],
    }
