"""A conversation's start, offer, accept and close as one statement each on PostgreSQL.

After its messages (one_statement.py), these are the rest of every conversation's steps,
and each was five to seven round trips: BEGIN, the row (locked), the update or inserts,
each event, the read the caller needs (an offer's preview, the messages an accepting agent
is shown), COMMIT. Here each is ONE statement on an autocommit connection: an ``UPDATE ...
WHERE`` on the plain case's state (it locks the row and re-checks the condition, as the
locking read did), the events in order (their ids order the timeline), and the read, all or
nothing. The rows are the ones the transaction in customer.py / agent.py writes (the tests
pin them on both backends); SQLite has no data-modifying CTEs and runs that transaction.

Each function returns None when its statement wrote nothing (the row is not in the plain
case's state: an offer the audit recorded first, a lagging accept, work not the agent's),
and the caller then takes the transaction, which handles or refuses the case and names it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, bindparam, column, text
from sqlalchemy.ext.asyncio import AsyncConnection

from center.interactions import one_statement, rows
from center.records import events
from center.records.base import aliased_columns, aliased_result, split_aliased, transient
from center.records.enums import ActorKind, Channel, Direction, InteractionState
from center.records.events import EventType
from center.records.models import Interaction, Message

S = InteractionState
_EVENTS = "customer_id, interaction_id, ticket_id, actor_kind, actor_id, type, data, created_at"


def _one_event(actor_kind: ActorKind, actor_id: str, type_: EventType) -> str:
    """The CTE ``e``: one event about ``i`` (data: the ``:data`` bind)."""
    return f"""e AS (
    INSERT INTO events ({_EVENTS})
    SELECT i.customer_id, i.id, i.ticket_id, '{actor_kind.value}', {actor_id}, '{type_.value}',
           CAST(:data AS json), CAST(:now AS timestamptz)
    FROM i
)"""


# (The constants are our enums' values, never input; input goes in as binds.)
_OFFER = (
    text(f"""
WITH i AS (
    UPDATE interactions SET state = '{S.OFFERED.value}', agent_id = :agent_id
    WHERE id = :interaction_id AND state = '{S.QUEUED.value}'
    RETURNING *
), {_one_event(ActorKind.SYSTEM, "NULL", EventType.OFFERED)}
SELECT i.*, (SELECT body FROM messages WHERE messages.interaction_id = i.id
             ORDER BY messages.id DESC LIMIT 1) AS preview
FROM i
""")
    .bindparams(bindparam("data", type_=JSON))
    .columns(*rows.INTERACTIONS.c, column("preview", rows.MESSAGES.c.body.type))
)

_ACCEPT = (
    text(f"""
WITH i AS (
    UPDATE interactions
    SET state = '{S.ASSIGNED.value}', agent_id = :agent_id, assigned_at = CAST(:now AS timestamptz)
    WHERE id = :interaction_id AND state = '{S.OFFERED.value}' AND agent_id = :agent_id
    RETURNING *
), {_one_event(ActorKind.AGENT, "CAST(:agent_id AS bigint)", EventType.ACCEPTED)}
SELECT {aliased_columns("i", Interaction)}, {aliased_columns("m", Message)}
FROM i LEFT JOIN messages m ON m.interaction_id = i.id
ORDER BY m.id
""")
    .bindparams(bindparam("data", type_=JSON))
    .columns(*aliased_result("im", (Interaction, Message)))
)

# Wrap-up, then closed with the handle time (from the row's assigned_at, rounded to the
# millisecond by PostgreSQL: half away from zero, where Python's round of the float may
# differ by that millisecond on an exact tie; none when never assigned), in that order.
_CLOSE = (
    text(f"""
WITH i AS (
    UPDATE interactions
    SET state = '{S.CLOSED.value}', wrap_up_note = :note, disposition = :disposition,
        ended_at = CAST(:now AS timestamptz)
    WHERE id = :interaction_id AND agent_id = :agent_id AND state = '{S.ASSIGNED.value}'
    RETURNING *
), h AS (
    SELECT round(CAST(extract(epoch FROM CAST(:now AS timestamptz) - i.assigned_at)
                      AS numeric), 3) AS s
    FROM i
), e AS (
    INSERT INTO events ({_EVENTS})
    SELECT i.customer_id, i.id, i.ticket_id, '{ActorKind.AGENT.value}',
           CAST(:agent_id AS bigint), v.type, v.data, CAST(:now AS timestamptz)
    FROM i, (
        SELECT 0 AS ord, '{EventType.WRAP_UP.value}' AS type, CAST(:wrap_up AS json) AS data
        UNION ALL
        SELECT 1, '{EventType.CLOSED.value}',
               json_build_object('handle_s', CASE WHEN h.s = 0 THEN NULL ELSE h.s END)
        FROM h
    ) AS v
    ORDER BY v.ord
)
SELECT i.* FROM i
""")
    .bindparams(bindparam("wrap_up", type_=JSON))
    .columns(*rows.INTERACTIONS.c)
)

# A new conversation with its first message: the interaction (in the state it ends the step
# in), the message, then started, message received and queued (or the articles suggested).
_START = (
    text(f"""
WITH i AS (
    INSERT INTO interactions (customer_id, channel, state, queue, priority, required_skills,
                              created_at, queued_at)
    VALUES (:customer_id, :channel, :state, :queue, :priority, CAST('{{}}' AS json),
            CAST(:now AS timestamptz), :queued_at)
    RETURNING *
), m AS (
    INSERT INTO messages (interaction_id, direction, author_id, body, content_type, meta,
                          created_at)
    SELECT i.id, '{Direction.INBOUND.value}', NULL, CAST(:body AS text), 'text/plain', :meta,
           CAST(:now AS timestamptz)
    FROM i
    RETURNING id
), e AS (
    INSERT INTO events ({_EVENTS})
    SELECT i.customer_id, i.id, i.ticket_id, v.actor_kind, NULL, v.type, v.data,
           CAST(:now AS timestamptz)
    FROM i, (
        SELECT 0 AS ord, '{ActorKind.CUSTOMER.value}' AS actor_kind,
               '{EventType.INTERACTION_STARTED.value}' AS type, CAST(:started AS json) AS data
        UNION ALL
        SELECT 1, '{ActorKind.CUSTOMER.value}', '{EventType.MESSAGE_RECEIVED.value}',
               json_build_object('message_id', m.id, 'body', CAST(:body AS text))
        FROM m
        UNION ALL
        SELECT 2, '{ActorKind.SYSTEM.value}', CAST(:then_type AS varchar), CAST(:then AS json)
    ) AS v
    ORDER BY v.ord
)
SELECT i.*, m.id AS message_id FROM i, m
""")
    .bindparams(
        bindparam("started", type_=JSON),
        bindparam("then", type_=JSON),
        bindparam("meta", type_=JSON),
        bindparam("queued_at", type_=rows.INTERACTIONS.c.queued_at.type),
        bindparam("channel", type_=rows.INTERACTIONS.c.channel.type),
        bindparam("state", type_=rows.INTERACTIONS.c.state.type),
    )
    .columns(*rows.INTERACTIONS.c, column("message_id", BigInteger))
)


async def offered(
    conn: AsyncConnection, interaction_id: int, agent_id: int, timeout_s: float, now: datetime
) -> tuple[Interaction, str | None] | None:
    """A queued interaction recorded as offered to ``agent_id``, and its preview."""
    data = events.Offered(agent_id=agent_id, timeout_s=timeout_s).data()
    params = {"interaction_id": interaction_id, "agent_id": agent_id, "data": data, "now": now}
    row = (await conn.execute(_OFFER, params)).first()
    if row is None:
        return None
    values = dict(row._mapping)
    preview = values.pop("preview")
    return transient(Interaction, values), preview


async def accepted(
    conn: AsyncConnection, interaction_id: int, agent_id: int, wait_s: float, now: datetime
) -> tuple[Interaction, list[Message]] | None:
    """An interaction offered to ``agent_id`` recorded as theirs, and its messages."""
    data = events.Accepted(agent_id=agent_id, wait_s=wait_s).data()
    params = {"interaction_id": interaction_id, "agent_id": agent_id, "data": data, "now": now}
    found = (await conn.execute(_ACCEPT, params)).all()
    if not found:
        return None
    pairs = [split_aliased(r, "im", (Interaction, Message)) for r in found]
    return pairs[0][0], [m for _, m in pairs if m.id is not None]


async def closed(
    conn: AsyncConnection,
    interaction_id: int,
    agent_id: int,
    note: str,
    disposition: str | None,
    now: datetime,
) -> Interaction | None:
    """The agent's assigned interaction through wrap-up to closed."""
    wrap_up = events.WrapUp(agent_id=agent_id, note=note, disposition=disposition).data()
    params = {
        "interaction_id": interaction_id,
        "agent_id": agent_id,
        "note": note,
        "disposition": disposition,
        "wrap_up": wrap_up,
        "now": now,
    }
    row = (await conn.execute(_CLOSE, params)).first()
    return None if row is None else rows.as_interaction(row)


async def started(
    conn: AsyncConnection,
    *,
    customer_id: int,
    channel: Channel,
    body: str,
    queue: str,
    priority: int,
    suggested: list[int] | None,
    meta: dict[str, Any] | None,
    now: datetime,
) -> tuple[Interaction, Message]:
    """A new conversation and its first message (always written: nothing to refuse)."""
    then: events.Payload = (
        events.ArticlesSuggested(article_ids=suggested)
        if suggested
        else events.Queued(queue=queue, priority=priority)
    )
    params = {
        "customer_id": customer_id,
        "channel": channel,
        "state": S.NEW if suggested else S.QUEUED,
        "queue": queue,
        "priority": priority,
        "queued_at": None if suggested else now,
        "body": body,
        "meta": meta or {},
        "started": events.InteractionStarted(channel=channel.value).data(),
        "then_type": then.type.value,
        "then": then.data(),
        "now": now,
    }
    row = (await conn.execute(_START, params)).one()
    return one_statement.interaction_and_message(row, Direction.INBOUND, body, now, None, meta)
