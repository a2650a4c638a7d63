"""The hot path's statements: SQLAlchemy Core on one connection, one round trip each.

Every step of a conversation (message in, message out, start, offer, accept, close) runs
inside ``Database.step()``: one transaction on a plain connection, no ORM session, no unit
of work, no identity map. Rows come back as transient ORM objects (never attached to a
session) so the callers and the channel adapters keep their types. See docs/hot-path.md.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from center.records.base import utcnow
from center.records.enums import Direction, Presence
from center.records.models import Interaction, Message, User

INTERACTIONS = Interaction.__table__
MESSAGES = Message.__table__
USERS = User.__table__
# Built once (executed with their values): SQLAlchemy then neither rebuilds a statement
# nor recomputes its cache key per call.
_INSERT_INTERACTION = insert(INTERACTIONS).returning(*INTERACTIONS.c, sort_by_parameter_order=True)
_INSERT_MESSAGE = insert(MESSAGES).returning(MESSAGES.c.id, sort_by_parameter_order=True)


class Missing(LookupError):
    """No such row."""


def as_interaction(row: Any) -> Interaction:
    return Interaction(**row._mapping)


async def interaction(
    conn: AsyncConnection, interaction_id: int, *, lock: bool = False
) -> Interaction:
    stmt = select(INTERACTIONS).where(INTERACTIONS.c.id == interaction_id)
    if lock:  # (SQLite ignores FOR UPDATE: its write transactions are serialised anyway)
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).first()
    if row is None:
        raise Missing(interaction_id)
    return as_interaction(row)


async def insert_interaction(conn: AsyncConnection, **values: Any) -> Interaction:
    values.setdefault("created_at", utcnow())
    return as_interaction((await conn.execute(_INSERT_INTERACTION, values)).one())


async def insert_interactions(
    conn: AsyncConnection, values: list[dict[str, Any]]
) -> list[Interaction]:
    """Several in one statement (a multi-row insert), returned in the order given."""
    if not values:
        return []
    now = utcnow()
    rows = await conn.execute(_INSERT_INTERACTION, [{"created_at": now, **v} for v in values])
    return [as_interaction(r) for r in rows.all()]


async def set_interaction(conn: AsyncConnection, i: Interaction, **values: Any) -> None:
    """Update the row and the transient object alike."""
    await conn.execute(update(INTERACTIONS).where(INTERACTIONS.c.id == i.id).values(**values))
    for name, value in values.items():
        setattr(i, name, value)


def message_values(
    interaction_id: int,
    direction: Direction,
    body: str,
    *,
    author_id: int | None = None,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "interaction_id": interaction_id,
        "direction": direction,
        "author_id": author_id,
        "body": body,
        "content_type": "text/plain",
        "meta": meta or {},
        "created_at": utcnow(),
    }


async def insert_message(
    conn: AsyncConnection,
    interaction_id: int,
    direction: Direction,
    body: str,
    *,
    author_id: int | None = None,
    meta: dict[str, Any] | None = None,
) -> Message:
    values = message_values(interaction_id, direction, body, author_id=author_id, meta=meta)
    new_id = (await conn.execute(_INSERT_MESSAGE, values)).one()
    return Message(id=new_id[0], **values)


async def insert_messages(conn: AsyncConnection, values: list[dict[str, Any]]) -> list[Message]:
    """Several (``message_values``) in one statement, returned in the order given."""
    if not values:
        return []
    ids = (await conn.execute(_INSERT_MESSAGE, values)).all()
    return [Message(id=new[0], **v) for new, v in zip(ids, values, strict=True)]


async def messages(conn: AsyncConnection, interaction_id: int) -> list[Message]:
    rows = await conn.execute(
        select(MESSAGES).where(MESSAGES.c.interaction_id == interaction_id).order_by(MESSAGES.c.id)
    )
    return [Message(**r._mapping) for r in rows]


async def user(conn: AsyncConnection, user_id: int) -> User | None:
    row = (await conn.execute(select(USERS).where(USERS.c.id == user_id))).first()
    return None if row is None else User(**row._mapping)


async def last_body(conn: AsyncConnection, interaction_id: int) -> str | None:
    """The newest message's text (an offer's preview)."""
    return await conn.scalar(
        select(MESSAGES.c.body)
        .where(MESSAGES.c.interaction_id == interaction_id)
        .order_by(MESSAGES.c.id.desc())
        .limit(1)
    )


async def presence(conn: AsyncConnection, user_id: int) -> str | None:
    value = await conn.scalar(select(USERS.c.presence).where(USERS.c.id == user_id))
    return None if value is None else Presence(value).value


async def set_presence(conn: AsyncConnection, user_id: int, value: Presence) -> None:
    await conn.execute(update(USERS).where(USERS.c.id == user_id).values(presence=value))


async def set_message_meta(conn: AsyncConnection, message_id: int, meta: dict[str, Any]) -> None:
    await conn.execute(update(MESSAGES).where(MESSAGES.c.id == message_id).values(meta=meta))
