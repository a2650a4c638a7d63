"""Rows the ticket and outbox tests start from, and a clock the tests move by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from center.records.base import utcnow
from center.records.db import Database
from center.records.enums import Channel, Direction, InteractionState
from center.records.models import Customer, Event, Interaction, Message


class FakeClock:
    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **kw: float) -> datetime:
        self.at += timedelta(**kw)
        return self.at


async def make_customer(db: Database, name: str = "Ada") -> int:
    async with db.step() as c:
        row = (
            await c.execute(
                insert(Customer.__table__)
                .values(display_name=name, created_at=utcnow())
                .returning(Customer.__table__.c.id)
            )
        ).one()
    return int(row[0])


async def make_interaction(
    db: Database, customer_id: int, channel: Channel = Channel.CHAT, agent_id: int | None = None
) -> int:
    async with db.step() as c:
        row = (
            await c.execute(
                insert(Interaction.__table__)
                .values(
                    customer_id=customer_id,
                    channel=channel,
                    state=InteractionState.ASSIGNED if agent_id else InteractionState.QUEUED,
                    queue="default",
                    priority=0,
                    required_skills={},
                    agent_id=agent_id,
                    created_at=utcnow(),
                )
                .returning(Interaction.__table__.c.id)
            )
        ).one()
    return int(row[0])


async def make_message(
    db: Database,
    interaction_id: int,
    direction: Direction = Direction.INBOUND,
    body: str = "hello",
    author_id: int | None = None,
    meta: dict[str, Any] | None = None,
) -> int:
    async with db.step() as c:
        row = (
            await c.execute(
                insert(Message.__table__)
                .values(
                    interaction_id=interaction_id,
                    direction=direction,
                    author_id=author_id,
                    body=body,
                    content_type="text/plain",
                    meta=meta or {},
                    created_at=utcnow(),
                )
                .returning(Message.__table__.c.id)
            )
        ).one()
    return int(row[0])


async def timeline(db: Database, customer_id: int) -> list[tuple[str, dict[str, Any]]]:
    async with db.read_step() as c:
        rows = (
            await c.execute(
                select(Event.type, Event.data)
                .where(Event.customer_id == customer_id)
                .order_by(Event.id)
            )
        ).all()
    return [(r.type, r.data) for r in rows]


async def message_meta(db: Database, message_id: int) -> dict[str, Any]:
    async with db.read_step() as c:
        return await c.scalar(select(Message.meta).where(Message.id == message_id))
