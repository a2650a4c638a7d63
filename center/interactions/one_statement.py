"""The busiest steps as one statement each on PostgreSQL: a message in, a message out.

A conversation's messages are most of its steps (six of a chat's eleven in bench/chat.py),
and each was five round trips: BEGIN, the interaction's row, the message, its event,
COMMIT. On PostgreSQL one statement is one transaction, and data-modifying CTEs let that
statement read the row, insert the message and insert its event, all or nothing: one round
trip, the same rows, the same order of ids. SQLite has no data-modifying CTEs, so there the
same step runs as the transaction in customer.py / agent.py (docs/hot-path.md); both
backends run the whole suite.

Each function returns None when its statement wrote nothing (no such open conversation, or
not the agent's): the caller then takes the ordinary path, which stores nothing either and
names the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, column, text
from sqlalchemy.ext.asyncio import AsyncConnection

from center.interactions import rows
from center.records.base import transient
from center.records.enums import ActorKind, Channel, Direction, InteractionState
from center.records.events import EventType
from center.records.models import Interaction, Message

_ENDED = ", ".join(f"'{s.value}'" for s in InteractionState if not s.is_open)
RESULT = (*rows.INTERACTIONS.c, column("message_id", BigInteger))


def inbound_message(meta: str, source: str) -> str:
    """The tail of an inbound-message statement: CTEs ``m`` (the message, from the rows of
    ``source``, with ``meta`` as its meta) and ``e`` (its event), then the interaction's
    row and the message's id (``RESULT``). Binds: ``:body``, ``:now``."""
    return f"""m AS (
    INSERT INTO messages (interaction_id, direction, author_id, body, content_type, meta,
                          created_at)
    SELECT i.id, '{Direction.INBOUND.value}', NULL, CAST(:body AS text), 'text/plain',
           {meta}, CAST(:now AS timestamptz)
    FROM {source}
    RETURNING id
), e AS (
    INSERT INTO events (customer_id, interaction_id, ticket_id, actor_kind, actor_id, type,
                        data, created_at)
    SELECT i.customer_id, i.id, i.ticket_id, '{ActorKind.CUSTOMER.value}', NULL,
           '{EventType.MESSAGE_RECEIVED.value}',
           json_build_object('message_id', m.id, 'body', CAST(:body AS text)),
           CAST(:now AS timestamptz)
    FROM i, m
)
SELECT i.*, m.id AS message_id FROM i, m"""


# (The constants below are our enums' values, never input; input goes in as binds.)
_INBOUND_OPEN = text(f"""
WITH i AS (
    SELECT * FROM interactions
    WHERE customer_id = :customer_id AND channel = :channel AND ended_at IS NULL
      AND NOT EXISTS (
          SELECT 1 FROM events
          WHERE events.interaction_id = interactions.id
            AND events.type = '{EventType.CUSTOMER_LEFT.value}')
    ORDER BY id DESC LIMIT 1
), {inbound_message("CAST('{}' AS json)", f"i WHERE i.state NOT IN ({_ENDED})")}
""").columns(*RESULT)

# (``hooked`` is an array, not an expanding IN: SQLAlchemy rewrites an expanding statement's
# text on every call, 7% of this step's CPU.)
_OUTBOUND_OWNED = text(f"""
WITH i AS (
    SELECT * FROM interactions
    WHERE id = :interaction_id AND agent_id = :agent_id
      AND state = '{InteractionState.ASSIGNED.value}'
      AND channel <> ALL(CAST(:hooked AS text[]))
), m AS (
    INSERT INTO messages (interaction_id, direction, author_id, body, content_type, meta,
                          created_at)
    SELECT i.id, '{Direction.OUTBOUND.value}', CAST(:agent_id AS bigint), CAST(:body AS text),
           'text/plain', CAST('{{}}' AS json), CAST(:now AS timestamptz)
    FROM i
    RETURNING id
), e AS (
    INSERT INTO events (customer_id, interaction_id, ticket_id, actor_kind, actor_id, type,
                        data, created_at)
    SELECT i.customer_id, i.id, i.ticket_id, '{ActorKind.AGENT.value}',
           CAST(:agent_id AS bigint), '{EventType.MESSAGE_SENT.value}',
           json_build_object('message_id', m.id, 'body', CAST(:body AS text),
                             'agent_id', CAST(:agent_id AS bigint)),
           CAST(:now AS timestamptz)
    FROM i, m
)
SELECT i.*, m.id AS message_id FROM i, m
""").columns(*RESULT)


def interaction_and_message(
    row: object,
    direction: Direction,
    body: str,
    now: datetime,
    author_id: int | None,
    meta: dict[str, Any] | None = None,
) -> tuple[Interaction, Message]:
    """A statement's row (the interaction's columns and ``message_id``) as the two objects."""
    values = dict(row._mapping)  # type: ignore[attr-defined]
    message_id = values.pop("message_id")
    i = transient(Interaction, values)
    m = transient(
        Message,
        {
            "id": message_id,
            "interaction_id": i.id,
            "direction": direction,
            "author_id": author_id,
            "body": body,
            "content_type": "text/plain",
            "meta": meta or {},
            "created_at": now,
        },
    )
    return i, m


async def inbound_open(
    conn: AsyncConnection, customer_id: int, channel: Channel, body: str, now: datetime
) -> tuple[Interaction, Message] | None:
    """The customer's message stored in their open conversation on ``channel``, if any."""
    params = {"customer_id": customer_id, "channel": channel.value, "body": body, "now": now}
    row = (await conn.execute(_INBOUND_OPEN, params)).first()
    return None if row is None else interaction_and_message(row, Direction.INBOUND, body, now, None)


async def outbound_owned(
    conn: AsyncConnection,
    agent_id: int,
    interaction_id: int,
    body: str,
    now: datetime,
    *,
    hooked: Iterable[Channel],
) -> tuple[Interaction, Message] | None:
    """The agent's message stored in a conversation assigned to them, if it is, and of a
    channel whose outbound step has no hook of its own (``hooked``: those channels write
    more in the step, an outbox row, so they take the transaction)."""
    params = {
        "interaction_id": interaction_id,
        "agent_id": agent_id,
        "body": body,
        "now": now,
        "hooked": [c.value for c in hooked],
    }
    row = (await conn.execute(_OUTBOUND_OWNED, params)).first()
    if row is None:
        return None
    return interaction_and_message(row, Direction.OUTBOUND, body, now, agent_id)
