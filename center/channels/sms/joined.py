"""A text joining its sender's open conversation, as one statement on PostgreSQL.

Most texts are the next message of a conversation already queued or with an agent, and
each was a read (replay guard, owner of the number, their open conversation) and then a
transaction (the guard row, the message, its event): seven round trips. Here one
data-modifying statement finds the number's verified owner and their open SMS conversation,
writes the replay guard (``ON CONFLICT DO NOTHING`` on the same unique (sid, status) as
``first_delivery``) and, only if that row is new, the message and its event: all or nothing,
the event in the statement that stores the message (center/interactions/one_statement.py
does the same for chat).

It writes nothing, and returns None, for everything else: an unknown number, no open
conversation, one the knowledge base is answering (state ``new``: deflection decides), a
replay. ``Inbound.receive`` then takes its ordinary path, which stores nothing twice and
names the reason. Keywords (STOP, HELP …) never come here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from center import fastjson
from center.interactions import one_statement
from center.records.enums import Channel, Direction, IdentityKind, InteractionState
from center.records.models import Interaction, Message

# Open, and not the knowledge base's (new): the states a text simply joins.
_JOINABLE = ", ".join(
    f"'{s.value}'" for s in InteractionState if s.is_open and s is not InteractionState.NEW
)
RECEIVED = "received"  # (the guard's status for an inbound text, as ``Inbound`` writes it)

# (The constants below are our enums' values, never input; input goes in as binds.)
_JOIN = text(f"""
WITH who AS (
    SELECT customers.id FROM customers
    JOIN identities ON identities.customer_id = customers.id
    WHERE identities.kind = '{IdentityKind.PHONE.value}' AND identities.value = :phone
      AND identities.verified AND customers.merged_into_id IS NULL
    LIMIT 1
), i AS (
    SELECT interactions.* FROM interactions, who
    WHERE interactions.customer_id = who.id AND interactions.channel = '{Channel.SMS.value}'
      AND interactions.state IN ({_JOINABLE})
    ORDER BY interactions.id DESC LIMIT 1
), g AS (
    INSERT INTO twilio_webhooks (sid, status, received_at)
    SELECT CAST(:sid AS varchar), '{RECEIVED}', CAST(:now AS timestamptz) FROM i
    ON CONFLICT (sid, status) DO NOTHING
    RETURNING id
), {one_statement.inbound_message("CAST(:meta AS json)", "i, g")}
""").columns(*one_statement.RESULT)


async def join_open(
    conn: AsyncConnection, phone: str, sid: str, body: str, meta: dict[str, Any], now: datetime
) -> tuple[Interaction, Message] | None:
    """The text stored in its sender's open conversation, if it simply joins one."""
    params = {"phone": phone, "sid": sid, "body": body, "meta": fastjson.dumps(meta), "now": now}
    row = (await conn.execute(_JOIN, params)).first()
    if row is None:
        return None
    i, m = one_statement.interaction_and_message(row, Direction.INBOUND, body, now, None)
    m.meta = meta
    return i, m
