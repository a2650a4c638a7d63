"""What a reloaded chat widget shows: the same transcript the customer saw live.

Live, the widget shows the messages with their authors' names, "you are number N in the
queue" each time the chat was queued, and "<agent> joined" each time an agent accepted.
The record has all of it but the positions (known only once the router placed the chat,
after the commit): the channel adapter keeps what it told the customer in Redis for a day
(``{p}:chat:told:<id>``, a list of positions), and a reload reads it back.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from center.interactions import message_json
from center.queue.keys import Keys
from center.records.enums import Direction, InteractionState
from center.records.events import EventType
from center.records.models import Event, Interaction, Message, User

log = logging.getLogger(__name__)
TOLD_TTL_S = 24 * 3600
_SHOWN = (
    EventType.MESSAGE_RECEIVED,
    EventType.MESSAGE_SENT,
    EventType.QUEUED,
    EventType.ACCEPTED,
)


def told_key(keys: Keys, interaction_id: int) -> str:
    return f"{keys.base}chat:told:{interaction_id}"


async def remember_position(redis: Redis, keys: Keys, interaction_id: int, position: int) -> None:
    key = told_key(keys, interaction_id)
    try:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, position)
            pipe.expire(key, TOLD_TTL_S)
            await pipe.execute()
    except RedisError:  # only a reload's queue note is lost: never fail the customer for it
        log.warning("could not keep the queue position told for %s", interaction_id)


async def told_positions(redis: Redis, keys: Keys, interaction_id: int) -> list[int]:
    try:
        return [int(p) for p in await redis.lrange(told_key(keys, interaction_id), 0, -1)]
    except RedisError:
        return []


async def build(
    s: AsyncSession, i: Interaction, told: list[int]
) -> tuple[dict[str, Any], list[Message], list[dict[str, Any]]]:
    """The interaction's summary for the widget, its messages, and the transcript entries
    ({kind: message|queued|agent_joined, ...}) in the order the customer saw them."""
    messages = list(
        await s.scalars(select(Message).where(Message.interaction_id == i.id).order_by(Message.id))
    )
    rows = list(
        await s.execute(
            select(Event.type, Event.data)
            .where(Event.interaction_id == i.id, Event.type.in_([t.value for t in _SHOWN]))
            .order_by(Event.id)
        )
    )
    agent_ids = {d["agent_id"] for t, d in rows if t == EventType.ACCEPTED.value}
    agent_ids |= {m.author_id for m in messages if m.author_id is not None}
    if i.agent_id is not None:
        agent_ids.add(i.agent_id)
    names: dict[int, str] = {}
    if agent_ids:
        found = await s.execute(select(User.id, User.display_name).where(User.id.in_(agent_ids)))
        names = {uid: name for uid, name in found}
    by_id = {m.id: m for m in messages}
    entries: list[dict[str, Any]] = []
    queued = 0
    for kind, data in rows:
        if kind == EventType.QUEUED.value:
            entries.append({"kind": "queued", "position": _nth(told, queued)})
            queued += 1
        elif kind == EventType.ACCEPTED.value:
            entries.append({"kind": "agent_joined", "agent": _name(names, data["agent_id"])})
        elif (m := by_id.get(int(data.get("message_id", 0)))) is not None:
            author = _name(names, m.author_id) if m.direction is Direction.OUTBOUND else ""
            entries.append({"kind": "message", **message_json(m), "author": author})
    assigned = i.state is InteractionState.ASSIGNED and i.agent_id is not None
    summary = {
        "id": i.id,
        "state": i.state.value,
        "agent": _name(names, i.agent_id) if assigned else None,
        "position": told[-1] if i.state.is_waiting and told else None,
    }
    return summary, messages, entries


def _nth(told: list[int], n: int) -> int | None:
    return told[n] if n < len(told) else None


def _name(names: dict[int, str], agent_id: int | None) -> str:
    return names.get(agent_id, "An agent") if agent_id is not None else "An agent"
