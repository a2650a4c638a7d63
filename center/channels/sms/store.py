"""SMS's statements (Core, on a step's connection): opt-outs, conversations, message status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from center.interactions import rows
from center.records.base import split_row, transient, utcnow
from center.records.enums import Channel, InteractionState
from center.records.models import Customer, Event, Interaction, Message, SmsOptOut

OPT_OUTS = SmsOptOut.__table__
CUSTOMERS = Customer.__table__
INTERACTIONS = Interaction.__table__
MESSAGES = Message.__table__
EVENTS = Event.__table__
S = InteractionState
OPEN = [s for s in InteractionState if s.is_open]

# A message's Twilio status only moves forward (callbacks may arrive out of order).
RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "receiving": 3,
    "received": 4,
    "delivered": 5,
    "read": 6,
    "undelivered": 5,
    "failed": 5,
    "canceled": 5,
    "partially_delivered": 5,
}


async def opted_out(conn: AsyncConnection, phone: str) -> bool:
    found = await conn.scalar(select(OPT_OUTS.c.phone).where(OPT_OUTS.c.phone == phone))
    return found is not None


async def opt_out(conn: AsyncConnection, phone: str, customer_id: int | None) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    await conn.execute(
        dialect.insert(OPT_OUTS)
        .values(phone=phone, customer_id=customer_id, opted_out_at=utcnow())
        .on_conflict_do_nothing(index_elements=["phone"])
    )


async def opt_in(conn: AsyncConnection, phone: str) -> None:
    await conn.execute(delete(OPT_OUTS).where(OPT_OUTS.c.phone == phone))


async def open_conversation(
    conn: AsyncConnection, customer_id: int, *, lock: bool = False
) -> Interaction | None:
    """The customer's newest open SMS interaction."""
    stmt = (
        select(INTERACTIONS)
        .where(
            INTERACTIONS.c.customer_id == customer_id,
            INTERACTIONS.c.channel == Channel.SMS,
            INTERACTIONS.c.state.in_(OPEN),
        )
        .order_by(INTERACTIONS.c.id.desc())
        .limit(1)
    )
    if lock:
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).first()
    return None if row is None else rows.as_interaction(row)


async def lock_customer(conn: AsyncConnection, customer_id: int) -> None:
    """Serialise steps that decide on a customer's conversations (PostgreSQL row lock;
    SQLite's write transactions are serialised already by BEGIN IMMEDIATE)."""
    await conn.execute(
        select(CUSTOMERS.c.id).where(CUSTOMERS.c.id == customer_id).with_for_update()
    )


async def last_closed(conn: AsyncConnection, customer_id: int) -> Interaction | None:
    row = (
        await conn.execute(
            select(INTERACTIONS)
            .where(
                INTERACTIONS.c.customer_id == customer_id,
                INTERACTIONS.c.channel == Channel.SMS,
                INTERACTIONS.c.state == S.CLOSED,
            )
            .order_by(INTERACTIONS.c.id.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else rows.as_interaction(row)


async def has_event(conn: AsyncConnection, interaction_id: int, kind: str) -> datetime | None:
    """When the interaction's newest event of this type was written, or None."""
    return await conn.scalar(
        select(EVENTS.c.created_at)
        .where(and_(EVENTS.c.interaction_id == interaction_id, EVENTS.c.type == kind))
        .order_by(EVENTS.c.id.desc())
        .limit(1)
    )


async def message(conn: AsyncConnection, message_id: int) -> Message | None:
    row = (await conn.execute(select(MESSAGES).where(MESSAGES.c.id == message_id))).first()
    return None if row is None else transient(Message, row._mapping)


# Built once (every status callback runs them): see center/interactions/rows.py.
_MESSAGE_LOCKED = select(MESSAGES).where(MESSAGES.c.id == bindparam("b_id")).with_for_update()
_MESSAGE_AND_INTERACTION_LOCKED = (
    select(MESSAGES, INTERACTIONS)
    .join(INTERACTIONS, INTERACTIONS.c.id == MESSAGES.c.interaction_id)
    .where(MESSAGES.c.id == bindparam("b_id"))
    .with_for_update(of=MESSAGES)
)
_SET_META = update(MESSAGES).where(MESSAGES.c.id == bindparam("b_id"))


async def message_for_update(conn: AsyncConnection, message_id: int) -> Message | None:
    row = (await conn.execute(_MESSAGE_LOCKED, {"b_id": message_id})).first()
    return None if row is None else transient(Message, row._mapping)


async def message_and_interaction(
    conn: AsyncConnection, message_id: int
) -> tuple[Message, Interaction] | None:
    """A message (locked: its status is what the step decides on) and its interaction, in
    one statement."""
    row = (await conn.execute(_MESSAGE_AND_INTERACTION_LOCKED, {"b_id": message_id})).first()
    if row is None:
        return None
    message, interaction = split_row(row, Message, Interaction)
    return message, interaction


async def set_meta(conn: AsyncConnection, message_id: int, meta: dict[str, Any]) -> None:
    await conn.execute(_SET_META, {"meta": meta, "b_id": message_id})


def advanced(current: str | None, new: str) -> bool:
    """Whether ``new`` is at least as far along as ``current`` (shown status moves on)."""
    return current is None or RANK.get(new, 0) >= RANK.get(current, 0)
