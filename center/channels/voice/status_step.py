"""A leg's status callback, as one statement on PostgreSQL.

Status callbacks are most of a call's webhooks (initiated, ringing, answered, completed for
every leg), and each was a transaction of five round trips: BEGIN, the leg's call and
interaction read and locked, the replay guard, the leg's update (and the call's, when a
customer's leg ends) with its event, COMMIT. Here one data-modifying statement locks the
same rows, writes the guard (``ON CONFLICT DO NOTHING`` on the unique (sid, status) that
``first_delivery`` uses) and, only if that row is new, the updates and the
``call.status`` event, all or nothing, in one round trip (as
center/interactions/one_statement.py does for chat messages).

It returns nothing for a CallSid no leg has yet (a callback that beat Twilio's answer,
found by the ``?leg=`` id, or an unknown call): ``Lifecycle.status`` then takes its
transaction, which handles both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Boolean, column, text
from sqlalchemy.ext.asyncio import AsyncConnection

from center.channels.twilio.idempotency import guard_cte
from center.channels.voice import events as ve
from center.channels.voice import store
from center.records.base import aliased_columns, aliased_result, split_aliased
from center.records.enums import ActorKind
from center.records.models import Interaction, VoiceCall, VoiceLeg

_MODELS = (VoiceLeg, VoiceCall, Interaction)
_CUSTOMER_ROLES = ", ".join(f"'{r.value}'" for r in store.Role if r.is_customer)


# (The constants below are our enums' values, never input; input goes in as binds.)
_STATUS = text(f"""
WITH l AS (
    SELECT voice_legs.* FROM voice_legs WHERE call_sid = :sid
), ci AS (
    -- (Locked, as the transaction's read was: a locking read returns the rows' newest
    -- versions, after a concurrent step that held them committed.)
    SELECT {aliased_columns("c", VoiceCall)}, {aliased_columns("i", Interaction)}
    FROM l JOIN voice_calls c ON c.id = l.voice_call_id
    JOIN interactions i ON i.id = c.interaction_id
    FOR UPDATE OF c, i
), {guard_cte("ci")}, ul AS (
    UPDATE voice_legs SET status = CAST(:status AS varchar),
        duration_s = CAST(:duration AS integer), ended_at = CAST(:ended_at AS timestamptz)
    FROM g, l WHERE voice_legs.id = l.id
    RETURNING voice_legs.id
), uc AS (
    UPDATE voice_calls SET duration_s = CAST(:duration AS integer),
        ended_at = CAST(:now AS timestamptz)
    FROM g, l WHERE voice_calls.id = l.voice_call_id AND CAST(:final AS boolean)
      AND l.role IN ({_CUSTOMER_ROLES})
    RETURNING voice_calls.id
), e AS (
    INSERT INTO events (customer_id, interaction_id, ticket_id, actor_kind, actor_id, type,
                        data, created_at)
    SELECT ci.i_customer_id, ci.i_id, ci.i_ticket_id, '{ActorKind.SYSTEM.value}', NULL,
           '{ve.VoiceEventType.STATUS.value}',
           json_build_object('call_sid', CAST(:sid AS varchar), 'role', l.role,
                             'status', CAST(:status AS varchar),
                             'duration_s', CAST(:duration AS integer)),
           CAST(:now AS timestamptz)
    FROM g, l, ci
)
SELECT {aliased_columns("l", VoiceLeg)}, ci.*, EXISTS (SELECT 1 FROM g) AS fresh FROM l, ci
""").columns(
    *aliased_result("lci", _MODELS),
    column("fresh", Boolean),
)


@dataclass(frozen=True, slots=True)
class Recorded:
    leg: VoiceLeg
    call: VoiceCall
    interaction: Interaction
    fresh: bool  # False: a replay (nothing written)


async def record(
    conn: AsyncConnection,
    call_sid: str,
    status: str,
    duration: int | None,
    now: datetime,
    *,
    final: bool,
) -> Recorded | None:
    """The status recorded on its leg (and the call, when a customer's leg ends), with its
    event; the rows as they are now. None when no leg has this CallSid."""
    params = {
        "sid": call_sid,
        "status": status[:64],
        "duration": duration,
        "ended_at": now if final else None,
        "final": final,
        "now": now,
    }
    row = (await conn.execute(_STATUS, params)).first()
    if row is None:
        return None
    m = row._mapping
    leg, call, i = split_aliased(row, "lci", _MODELS)
    if m["fresh"]:  # (what the statement wrote, on the objects read before it)
        leg.__dict__.update(status=status, duration_s=duration, ended_at=now if final else None)
        if final and store.Role(leg.role).is_customer:
            call.__dict__.update(duration_s=duration, ended_at=now)
    return Recorded(leg, call, i, bool(m["fresh"]))
