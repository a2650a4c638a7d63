"""A text's delivery status callback, as one statement on PostgreSQL.

Every outbound text gets three or four of them (queued, sent, delivered …), and each was a
transaction of six round trips: BEGIN, the message (locked) with its interaction, the replay
guard, the message's meta, the event, COMMIT. Here one data-modifying statement locks the
message, writes the guard (``ON CONFLICT DO NOTHING`` on the unique (sid, status) that
``first_delivery`` uses) and, only if that row is new, the message's ``meta.sms`` (the SID,
and the status and error code when the status moves on: ``store.advanced``'s ranks, in SQL)
and the ``sms.status`` event, all or nothing, in one round trip.

Only the plain case comes here: an outbound message with Twilio's state in ``meta.sms``,
naming this SID or none yet, and not error 21610 (the recipient unsubscribed, which also
records the opt-out). For anything else the statement writes nothing and
``SmsOutbound.status`` takes its transaction, which decides and logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, column, text
from sqlalchemy.ext.asyncio import AsyncConnection

from center.channels.sms import store
from center.channels.sms.events import SmsEventType
from center.channels.twilio.idempotency import guard_cte
from center.records.base import aliased_columns, aliased_result, split_aliased, utcnow
from center.records.enums import ActorKind, Direction
from center.records.models import Interaction, Message

_MODELS = (Message, Interaction)
# The rank of the status the message shows now ('' for none), as store.advanced ranks it.
_RANK = (
    "CASE m.meta->'sms'->>'status' "
    + " ".join(f"WHEN '{status}' THEN {rank}" for status, rank in store.RANK.items())
    + " ELSE 0 END"
)


# (The constants below are ours, never input; input goes in as binds.)
_STATUS = text(f"""
WITH mi AS (
    SELECT {aliased_columns("m", Message)}, {aliased_columns("i", Interaction)},
           m.meta->'sms'->>'status' IS NULL OR CAST(:rank AS integer) >= {_RANK} AS advances
    FROM messages m JOIN interactions i ON i.id = m.interaction_id
    WHERE m.id = :message_id AND m.direction = '{Direction.OUTBOUND.value}'
      AND json_typeof(m.meta->'sms') = 'object'
      AND coalesce(m.meta->'sms'->>'sid', CAST(:sid AS varchar)) = CAST(:sid AS varchar)
    FOR UPDATE OF m
), {guard_cte("mi")}, u AS (
    UPDATE messages SET meta = CAST(
        CAST(mi.m_meta AS jsonb) || jsonb_build_object('sms',
            (CAST(mi.m_meta AS jsonb)->'sms') || jsonb_build_object('sid', CAST(:sid AS varchar))
            || CASE WHEN mi.advances
                    THEN jsonb_build_object('status', CAST(:status AS varchar),
                                            'error_code', CAST(:error_code AS integer))
                    ELSE CAST('{{}}' AS jsonb) END)
        AS json)
    FROM mi, g WHERE messages.id = mi.m_id
    RETURNING messages.id
), e AS (
    INSERT INTO events (customer_id, interaction_id, ticket_id, actor_kind, actor_id, type,
                        data, created_at)
    SELECT mi.i_customer_id, mi.i_id, mi.i_ticket_id, '{ActorKind.SYSTEM.value}', NULL,
           '{SmsEventType.STATUS.value}',
           json_build_object('message_id', mi.m_id, 'sid', CAST(:sid AS varchar),
                             'status', CAST(:status AS varchar),
                             'error_code', CAST(:error_code AS integer)),
           CAST(:now AS timestamptz)
    FROM mi, g
)
SELECT mi.*, EXISTS (SELECT 1 FROM g) AS fresh FROM mi
""").columns(
    *aliased_result("mi", _MODELS),
    column("advances", Boolean),
    column("fresh", Boolean),
)


@dataclass(frozen=True, slots=True)
class Recorded:
    message: Message
    interaction: Interaction
    sms: dict[str, Any]  # the message's ``meta.sms`` as it is now
    fresh: bool  # False: a replay (nothing written)


async def record(
    conn: AsyncConnection, message_id: int, sid: str, status: str, error_code: int | None
) -> Recorded | None:
    """The status recorded on its message, with its event; None for anything but the plain
    case (see the module's docstring), with nothing written."""
    params = {
        "message_id": message_id,
        "sid": sid,
        "status": status[:64],
        "rank": store.RANK.get(status, 0),
        "error_code": error_code,
        "now": utcnow(),
    }
    row = (await conn.execute(_STATUS, params)).first()
    if row is None:
        return None
    r = row._mapping
    m, i = split_aliased(row, "mi", _MODELS)
    sms = dict(m.meta["sms"])
    if r["fresh"]:  # (what the statement wrote, on the message read before it)
        sms["sid"] = sid
        if r["advances"]:
            sms.update(status=status, error_code=error_code)
        m.__dict__["meta"] = {**m.meta, "sms": sms}
    return Recorded(m, i, sms, bool(r["fresh"]))
