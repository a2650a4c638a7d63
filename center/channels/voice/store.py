"""Core statements on the voice tables (one round trip each, inside the caller's step)."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from center.records.base import split_row, transient, utcnow
from center.records.enums import Channel, InteractionState
from center.records.models import Interaction, VoiceAgent, VoiceCall, VoiceLeg

CALLS = VoiceCall.__table__
LEGS = VoiceLeg.__table__
AGENTS = VoiceAgent.__table__
INTERACTIONS = Interaction.__table__


class Stage(StrEnum):
    IVR = "ivr"  # walking the menus (or hearing a KB answer)
    WAITING = "waiting"  # in a queue, on the hold loop
    CALLBACK = "callback"  # hung up keeping the place; to be called back
    BRIDGED = "bridged"  # in the conference with an agent
    VOICEMAIL = "voicemail"  # leaving a message
    SURVEY = "survey"  # answering the post-call CSAT question
    ENDED = "ended"


class Role(StrEnum):
    CALLER = "caller"
    CALLBACK = "callback"  # the outbound call that reaches the customer again
    AGENT = "agent"
    SUPERVISOR = "supervisor"

    @property
    def is_customer(self) -> bool:
        return self in (Role.CALLER, Role.CALLBACK)


# An owed agent leg's status until Twilio knows it: the caller is to be moved into the
# conference first ("moving"), or only the agent is to be dialled ("pending").
MOVING, PENDING_DIAL = "moving", "pending"
PENDING = (MOVING, PENDING_DIAL)
# The stages in which an assigned call is bridged to its agent.
BRIDGEABLE = (Stage.WAITING.value, Stage.CALLBACK.value, Stage.BRIDGED.value)


CONFERENCE_PREFIX = "center-call-"


def conference_name(interaction_id: int) -> str:
    return f"{CONFERENCE_PREFIX}{interaction_id}"


# Statements built once and executed with parameters (as center/interactions/rows.py does):
# building one per webhook was about half of each statement's client CPU.
_INSERT_CALL = insert(CALLS).returning(*CALLS.c)
_INSERT_LEG = insert(LEGS).returning(*LEGS.c)
_UPDATE_CALL = update(CALLS).where(CALLS.c.id == bindparam("b_id"))
_UPDATE_LEG = update(LEGS).where(LEGS.c.id == bindparam("b_id"))
_LEG_CALL_INTERACTION = (
    select(LEGS, CALLS, INTERACTIONS)
    .join(CALLS, CALLS.c.id == LEGS.c.voice_call_id)
    .join(INTERACTIONS, INTERACTIONS.c.id == CALLS.c.interaction_id)
    .where(LEGS.c.call_sid == bindparam("b_sid"))
)
# (The call and interaction rows locked: what a step decides on.)
_LEG_CALL_INTERACTION_LOCKED = _LEG_CALL_INTERACTION.with_for_update(of=[CALLS, INTERACTIONS])


def _call(row: Any) -> VoiceCall:
    return transient(VoiceCall, row._mapping)


def _leg(row: Any) -> VoiceLeg:
    return transient(VoiceLeg, row._mapping)


async def insert_call(conn: AsyncConnection, **values: Any) -> VoiceCall:
    values.setdefault("created_at", utcnow())
    return _call((await conn.execute(_INSERT_CALL, values)).one())


async def insert_leg(
    conn: AsyncConnection,
    call: VoiceCall,
    call_sid: str | None,
    role: Role,
    *,
    status: str,
    user_id: int | None = None,
    mode: str | None = None,
    assigned_at: datetime | None = None,
) -> VoiceLeg:
    """``call_sid`` None: a leg we are about to dial (its row first, so a status callback
    that beats Twilio's answer finds it by id; see ``fill_sid``)."""
    values = {
        "call_sid": call_sid,
        "voice_call_id": call.id,
        "role": role.value,
        "user_id": user_id,
        "mode": mode,
        "status": status,
        "on_hold": False,
        "created_at": utcnow(),
        "assigned_at": assigned_at,
        "attempts": 0,
    }
    return _leg((await conn.execute(_INSERT_LEG, values)).one())


async def fill_sid(conn: AsyncConnection, leg_id: int, call_sid: str) -> bool:
    """The CallSid of a leg written before it was dialled: from Twilio's answer or from the
    leg's first status callback, whichever comes first (True for that one). A leg still
    "pending"/"moving" becomes "queued"; a status callback's status is kept."""
    done = await conn.execute(
        update(LEGS)
        .where(LEGS.c.id == leg_id, LEGS.c.call_sid.is_(None))
        .values(
            call_sid=call_sid,
            lease_until=None,
            status=case((LEGS.c.status.in_(PENDING), "queued"), else_=LEGS.c.status),
        )
    )
    return bool(done.rowcount)


async def leg_by_id(conn: AsyncConnection, leg_id: int) -> VoiceLeg | None:
    row = (await conn.execute(select(LEGS).where(LEGS.c.id == leg_id))).first()
    return None if row is None else _leg(row)


async def agent_leg_for(
    conn: AsyncConnection, call_id: int, user_id: int, assigned_at: datetime | None
) -> VoiceLeg | None:
    """The agent's leg dialled for this assignment (one per assignment)."""
    row = (
        await conn.execute(
            select(LEGS).where(
                LEGS.c.voice_call_id == call_id,
                LEGS.c.role == Role.AGENT.value,
                LEGS.c.user_id == user_id,
                LEGS.c.assigned_at == assigned_at,
            )
        )
    ).first()
    return None if row is None else _leg(row)


async def claim_leg(
    conn: AsyncConnection, leg_id: int, now: datetime, lease_s: float
) -> VoiceLeg | None:
    """An owed leg for this process to dial (one statement: one process at a time holds
    it until ``lease_s`` from now); None if it is dialled, ended or held elsewhere."""
    row = (
        await conn.execute(
            update(LEGS)
            .where(
                LEGS.c.id == leg_id,
                LEGS.c.call_sid.is_(None),
                LEGS.c.ended_at.is_(None),
                or_(LEGS.c.lease_until.is_(None), LEGS.c.lease_until <= now),
            )
            .values(lease_until=now + timedelta(seconds=lease_s), attempts=LEGS.c.attempts + 1)
            .returning(*LEGS.c)
        )
    ).first()
    return None if row is None else _leg(row)


async def owed_legs(conn: AsyncConnection, now: datetime, limit: int) -> list[int]:
    """Agents' legs owed a dial (no CallSid, not ended) that nobody holds now."""
    rows = await conn.execute(
        select(LEGS.c.id)
        .where(
            LEGS.c.call_sid.is_(None),
            LEGS.c.role == Role.AGENT.value,
            LEGS.c.ended_at.is_(None),
            or_(LEGS.c.lease_until.is_(None), LEGS.c.lease_until <= now),
        )
        .order_by(LEGS.c.id)
        .limit(limit)
    )
    return [r[0] for r in rows]


async def unbridged(conn: AsyncConnection, limit: int) -> list[int]:
    """Assigned calls whose agent has no leg for this assignment: the accept committed and
    its process stopped before writing the leg it owes. (Legs from before assignments were
    recorded on them, ``assigned_at`` NULL, count as done.)"""
    leg = LEGS.alias("leg")
    has_leg = exists().where(
        leg.c.voice_call_id == CALLS.c.id,
        leg.c.role == Role.AGENT.value,
        leg.c.user_id == INTERACTIONS.c.agent_id,
        or_(leg.c.assigned_at == INTERACTIONS.c.assigned_at, leg.c.assigned_at.is_(None)),
    )
    rows = await conn.execute(
        select(INTERACTIONS.c.id)
        .join(CALLS, CALLS.c.interaction_id == INTERACTIONS.c.id)
        .where(
            and_(
                INTERACTIONS.c.state == InteractionState.ASSIGNED,
                INTERACTIONS.c.channel == Channel.VOICE,
                INTERACTIONS.c.agent_id.is_not(None),
                CALLS.c.stage.in_(BRIDGEABLE),
                ~has_leg,
            )
        )
        .order_by(INTERACTIONS.c.id)
        .limit(limit)
    )
    return [r[0] for r in rows]


async def leg_call_interaction(
    conn: AsyncConnection, call_sid: str, *, lock: bool = False
) -> tuple[VoiceLeg, VoiceCall, Interaction] | None:
    """A leg with its call and interaction: one statement (every webhook starts here)."""
    stmt = _LEG_CALL_INTERACTION_LOCKED if lock else _LEG_CALL_INTERACTION
    row = (await conn.execute(stmt, {"b_sid": call_sid})).first()
    if row is None:
        return None
    leg, call, interaction = split_row(row, VoiceLeg, VoiceCall, Interaction)
    return leg, call, interaction


async def leg_by_sid(
    conn: AsyncConnection, call_sid: str, *, lock: bool = False
) -> tuple[VoiceLeg, VoiceCall] | None:
    stmt = select(LEGS).where(LEGS.c.call_sid == call_sid)
    row = (await conn.execute(stmt)).first()
    if row is None:
        return None
    leg = _leg(row)
    call = await call_by_id(conn, leg.voice_call_id, lock=lock)
    return (leg, call) if call is not None else None


async def call_by_id(
    conn: AsyncConnection, call_id: int, *, lock: bool = False
) -> VoiceCall | None:
    stmt = select(CALLS).where(CALLS.c.id == call_id)
    if lock:
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).first()
    return None if row is None else _call(row)


async def call_for_interaction(
    conn: AsyncConnection, interaction_id: int, *, lock: bool = False
) -> VoiceCall | None:
    stmt = select(CALLS).where(CALLS.c.interaction_id == interaction_id)
    if lock:
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).first()
    return None if row is None else _call(row)


async def call_by_conference(conn: AsyncConnection, name: str) -> VoiceCall | None:
    row = (await conn.execute(select(CALLS).where(CALLS.c.conference == name))).first()
    return None if row is None else _call(row)


async def call_by_conference_sid(conn: AsyncConnection, sid: str) -> VoiceCall | None:
    row = (await conn.execute(select(CALLS).where(CALLS.c.conference_sid == sid))).first()
    return None if row is None else _call(row)


async def legs(conn: AsyncConnection, call_id: int) -> list[VoiceLeg]:
    rows = await conn.execute(
        select(LEGS).where(LEGS.c.voice_call_id == call_id).order_by(LEGS.c.id)
    )
    return [_leg(r) for r in rows]


def live_customer_leg(call_legs: list[VoiceLeg]) -> VoiceLeg | None:
    """The customer's leg still on a line (the callback's before the caller's), if any: a
    callback waiting for its turn has none, its caller having hung up."""
    for role in (Role.CALLBACK, Role.CALLER):
        found = [
            leg for leg in call_legs
            if leg.role == role.value and leg.call_sid and leg.ended_at is None
        ]  # fmt: skip
        if found:
            return found[-1]
    return None


async def set_call(conn: AsyncConnection, call: VoiceCall, **values: Any) -> None:
    await conn.execute(_UPDATE_CALL, {**values, "b_id": call.id})
    for k, v in values.items():
        setattr(call, k, v)


async def set_leg(conn: AsyncConnection, leg: VoiceLeg, **values: Any) -> None:
    await conn.execute(_UPDATE_LEG, {**values, "b_id": leg.id})
    for k, v in values.items():
        setattr(leg, k, v)


async def agent_phone(conn: AsyncConnection, user_id: int) -> str | None:
    return await conn.scalar(select(AGENTS.c.phone).where(AGENTS.c.user_id == user_id))


async def set_agent_phone(conn: AsyncConnection, user_id: int, phone: str | None) -> None:
    done = await conn.execute(update(AGENTS).where(AGENTS.c.user_id == user_id).values(phone=phone))
    if not done.rowcount:
        await conn.execute(insert(AGENTS).values(user_id=user_id, phone=phone))


async def live_calls(conn: AsyncConnection, limit: int) -> list[tuple[VoiceCall, list[VoiceLeg]]]:
    """Calls connected to an agent now (the supervisors' board), oldest first, with their
    legs: two statements; the interactions' state index finds the assigned ones."""
    rows = await conn.execute(
        select(CALLS)
        .join(INTERACTIONS, INTERACTIONS.c.id == CALLS.c.interaction_id)
        .where(
            INTERACTIONS.c.state == InteractionState.ASSIGNED,
            INTERACTIONS.c.channel == Channel.VOICE,
            CALLS.c.stage == Stage.BRIDGED.value,
        )
        .order_by(CALLS.c.id)
        .limit(limit)
    )
    calls = [_call(r) for r in rows]
    by_call: dict[int, list[VoiceLeg]] = {c.id: [] for c in calls}
    if calls:
        leg_rows = await conn.execute(
            select(LEGS).where(LEGS.c.voice_call_id.in_(list(by_call))).order_by(LEGS.c.id)
        )
        for r in leg_rows:
            by_call[r.voice_call_id].append(_leg(r))
    return [(c, by_call[c.id]) for c in calls]


def call_json(call: VoiceCall, call_legs: list[VoiceLeg] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "interaction_id": call.interaction_id,
        "from": call.from_number,
        "to": call.to_number,
        "stage": call.stage,
        "language": call.language,
        "conference": call.conference,
        "callback_number": call.callback_number,
        "recording_url": call.recording_url,
        "recording_duration_s": call.recording_duration_s,
        "duration_s": call.duration_s,
        "csat": call.csat,
        "ticket_id": call.ticket_id,
    }
    if call_legs is not None:
        out["legs"] = [
            {
                "call_sid": leg.call_sid,
                "role": leg.role,
                "user_id": leg.user_id,
                "mode": leg.mode,
                "status": leg.status,
                "on_hold": leg.on_hold,
                "duration_s": leg.duration_s,
            }
            for leg in call_legs
        ]
    return out
