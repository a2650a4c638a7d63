"""The hot path's statements: SQLAlchemy Core on one connection, one round trip each.

Every step of a conversation (message in, message out, start, offer, accept, close) runs
inside ``Database.step()``: one transaction on a plain connection, no ORM session, no unit
of work, no identity map. Rows come back as transient ORM objects (never attached to a
session) so the callers and the channel adapters keep their types. See docs/hot-path.md.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from center.records.base import transient, utcnow
from center.records.enums import Channel, Direction, Presence
from center.records.events import EventType
from center.records.models import Event, Interaction, Message, User

INTERACTIONS = Interaction.__table__
MESSAGES = Message.__table__
USERS = User.__table__
# Built once (executed with their values): SQLAlchemy then neither rebuilds a statement
# nor recomputes its cache key per call.
_INSERT_INTERACTION = insert(INTERACTIONS).returning(*INTERACTIONS.c, sort_by_parameter_order=True)
_INSERT_MESSAGE = insert(MESSAGES).returning(MESSAGES.c.id, sort_by_parameter_order=True)


# Statements built once, executed with parameters: building one per call (``.values(...)``,
# ``== value``) made SQLAlchemy coerce every value into a new bind and key the cache anew,
# about half of each statement's client CPU (bench/chat.py). ``b_``-named binds leave the
# column names free for the values.
_BY_ID = select(INTERACTIONS).where(INTERACTIONS.c.id == bindparam("b_id"))
_BY_ID_LOCKED = _BY_ID.with_for_update()  # (SQLite ignores FOR UPDATE: its writes queue anyway)
_UPDATE_INTERACTION = update(INTERACTIONS).where(INTERACTIONS.c.id == bindparam("b_id"))
_MESSAGES = (
    select(MESSAGES).where(MESSAGES.c.interaction_id == bindparam("b_id")).order_by(MESSAGES.c.id)
)
_USER = select(USERS).where(USERS.c.id == bindparam("b_id"))
_LAST_BODY = (
    select(MESSAGES.c.body)
    .where(MESSAGES.c.interaction_id == bindparam("b_id"))
    .order_by(MESSAGES.c.id.desc())
    .limit(1)
)
# A customer's open conversation on a channel (not one they have left: that is not theirs
# any more), newest first.
_OPEN = (
    select(INTERACTIONS)
    .where(
        INTERACTIONS.c.customer_id == bindparam("b_customer"),
        INTERACTIONS.c.channel == bindparam("b_channel"),
        INTERACTIONS.c.ended_at.is_(None),
        ~exists().where(
            Event.interaction_id == INTERACTIONS.c.id,
            Event.type == EventType.CUSTOMER_LEFT.value,
        ),
    )
    .order_by(INTERACTIONS.c.id.desc())
    .limit(1)
)
_PRESENCE = select(USERS.c.presence).where(USERS.c.id == bindparam("b_id"))
_SET_PRESENCE = update(USERS).where(USERS.c.id == bindparam("b_id"))


class Missing(LookupError):
    """No such row."""


def as_interaction(row: Any) -> Interaction:
    return transient(Interaction, row._mapping)


async def interaction(
    conn: AsyncConnection, interaction_id: int, *, lock: bool = False
) -> Interaction:
    row = (await conn.execute(_BY_ID_LOCKED if lock else _BY_ID, {"b_id": interaction_id})).first()
    if row is None:
        raise Missing(interaction_id)
    return as_interaction(row)


async def open_conversation(
    conn: AsyncConnection, customer_id: int, channel: Channel
) -> Interaction | None:
    """The customer's open conversation on ``channel``, if any."""
    params = {"b_customer": customer_id, "b_channel": channel}
    row = (await conn.execute(_OPEN, params)).first()
    i = None if row is None else as_interaction(row)
    return i if i is not None and i.state.is_open else None


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
    await conn.execute(_UPDATE_INTERACTION, {**values, "b_id": i.id})
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
    return transient(Message, {"id": new_id[0], **values})


async def insert_messages(conn: AsyncConnection, values: list[dict[str, Any]]) -> list[Message]:
    """Several (``message_values``) in one statement, returned in the order given."""
    if not values:
        return []
    ids = (await conn.execute(_INSERT_MESSAGE, values)).all()
    return [transient(Message, {"id": new[0], **v}) for new, v in zip(ids, values, strict=True)]


async def messages(conn: AsyncConnection, interaction_id: int) -> list[Message]:
    rows = await conn.execute(_MESSAGES, {"b_id": interaction_id})
    return [transient(Message, r._mapping) for r in rows]


async def user(conn: AsyncConnection, user_id: int) -> User | None:
    row = (await conn.execute(_USER, {"b_id": user_id})).first()
    return None if row is None else transient(User, row._mapping)


async def last_body(conn: AsyncConnection, interaction_id: int) -> str | None:
    """The newest message's text (an offer's preview)."""
    return await conn.scalar(_LAST_BODY, {"b_id": interaction_id})


async def presence(conn: AsyncConnection, user_id: int) -> str | None:
    value = await conn.scalar(_PRESENCE, {"b_id": user_id})
    return None if value is None else Presence(value).value


async def set_presence(conn: AsyncConnection, user_id: int, value: Presence) -> None:
    await conn.execute(_SET_PRESENCE, {"presence": value, "b_id": user_id})


async def set_message_meta(conn: AsyncConnection, message_id: int, meta: dict[str, Any]) -> None:
    await conn.execute(update(MESSAGES).where(MESSAGES.c.id == message_id).values(meta=meta))
