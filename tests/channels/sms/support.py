"""SMS test helpers: counting what was stored, a customer texting, the status callback URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select

from center.records.models import Event, Interaction, Message
from tests.support import Server
from tests.twilio_support import PUBLIC_URL, Recorded, Webhooks, sms_inbound, sms_status

PHONE = "+15551230001"


async def counts(server: Server) -> tuple[int, int]:
    async with server.db.read_step() as c:
        interactions = await c.scalar(select(func.count()).select_from(Interaction))
        messages = await c.scalar(select(func.count()).select_from(Message))
    return int(interactions or 0), int(messages or 0)


async def events_of(server: Server, interaction_id: int) -> list[Event]:
    async with server.db.read_step() as c:
        rows = await c.execute(
            select(Event.__table__)
            .where(Event.__table__.c.interaction_id == interaction_id)
            .order_by(Event.__table__.c.id)
        )
        return [Event(**r._mapping) for r in rows]


async def message(server: Server, message_id: int) -> Message:
    async with server.db.read_step() as c:
        row = (
            await c.execute(select(Message.__table__).where(Message.__table__.c.id == message_id))
        ).one()
    return Message(**row._mapping)


async def text(hooks: Webhooks, body: str, phone: str = PHONE, **kw: Any) -> dict[str, str]:
    params = sms_inbound(body, from_=phone, **kw)
    reply = await hooks.post("/twilio/sms", params)
    assert reply.status == 200, reply.text
    assert reply.content_type == "application/xml" and "<Response" in reply.text
    return params


def callback_path(sent: Recorded) -> str:
    """The path (and query) of the StatusCallback the center gave Twilio for a message."""
    url = sent.form["StatusCallback"]
    assert url.startswith(PUBLIC_URL + "/twilio/sms/status?")
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def callback(hooks: Webhooks, sent: Recorded, sid: str, status: str, **kw: Any) -> int:
    params = sms_status(sid, status, to=sent.form["To"], **kw)
    return (await hooks.post(callback_path(sent), params)).status
