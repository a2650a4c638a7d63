"""A call coming in, stored as one step: the caller's interaction, the call, the caller's leg
and their events.

Every call starts here, so it is the voice channel's busiest write. On PostgreSQL it is one
statement (data-modifying CTEs, as center/interactions/one_statement.py does for messages)
that also finds the caller by their number, or makes them a customer when the number has
no verified owner (the customer, their number as a verified identity and its two events):
every call is one round trip, without BEGIN and COMMIT, all or nothing. Should the number
gain an owner at the same moment (a unique-index failure), the caller is resolved as
everywhere else and the call stored by their id. SQLite has no data-modifying CTEs: there
the same rows are written in one transaction. Events are inserted in the order given (their ids
order the timeline), in the statement that writes what they record.

A replay of the webhook (the same CallSid) fails on the leg's unique CallSid, so nothing is
written twice: ``IntegrityError`` reaches the caller, which answers from the stored call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    String,
    bindparam,
    case,
    cast,
    exists,
    false,
    insert,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from center.channels.voice import store
from center.interactions import rows as irows
from center.records import customers, events
from center.records.base import transient
from center.records.db import Database
from center.records.enums import ActorKind, IdentityKind
from center.records.models import Customer, Event, Identity, Interaction, VoiceCall, VoiceLeg

CUSTOMERS = Customer.__table__
IDENTITIES = Identity.__table__
EVENTS = Event.__table__
# Columns each step fills from the rows it inserts before them (the rest are binds).
_LINKED = {
    "interactions": {"id", "customer_id"},
    "voice_calls": {"id", "interaction_id", "customer_id", "conference"},
    "voice_legs": {"id", "voice_call_id"},
}
_EVENT_COLUMNS = ("actor_kind", "type", "data")
_MODELS = (Interaction, VoiceCall, VoiceLeg)  # (the statement's columns, in this order)
MAX_EVENTS = 4  # started, the leg's status, after hours or queued (the most a call starts with)


@dataclass
class NewCall:
    """What an incoming call writes; ``store`` fills the ids in."""

    interaction: dict[str, Any]
    call: dict[str, Any]
    leg: dict[str, Any]
    events: list[tuple[events.Payload, ActorKind]] = field(default_factory=list)
    now: datetime | None = None


@dataclass(frozen=True, slots=True)
class Stored:
    interaction: Interaction
    call: VoiceCall
    leg: VoiceLeg
    caller_name: str | None


def _binds(table: Any, prefix: str) -> list[Any]:
    linked = _LINKED[table.name]
    return [bindparam(f"{prefix}{c.name}", type_=c.type) for c in table.c if c.name not in linked]


def _names(table: Any) -> list[str]:
    linked = _LINKED[table.name] - {"id"}
    return [*(c.name for c in table.c if c.name in linked), *_other(table)]


def _other(table: Any) -> list[str]:
    return [c.name for c in table.c if c.name not in _LINKED[table.name]]


def _inserted(table: Any, name: str, prefix: str, *linked: Any) -> Any:
    """``INSERT INTO table SELECT <linked columns>, <binds> RETURNING *`` as a CTE."""
    rows = select(*linked, *_binds(table, prefix))
    return insert(table).from_select(_names(table), rows).returning(*table.c).cte(name)


def _found_or_made(found: Any) -> tuple[Any, Any]:
    """The caller, and the CTE inserting their identity: the number's owner (``found``), or
    else a customer the statement makes (``made`` is true) with the number as their
    verified identity."""
    now = bindparam("now", type_=CUSTOMERS.c.created_at.type)
    made = (
        insert(CUSTOMERS)
        .from_select(
            ["display_name", "created_at", "merged_into_id"],
            select(literal(None, CUSTOMERS.c.display_name.type), now, literal(None, Integer)).where(
                ~exists(select(found.c.id))
            ),
        )
        .returning(CUSTOMERS.c.id, CUSTOMERS.c.display_name)
        .cte("made")
    )
    identity = insert(IDENTITIES).from_select(
        ["customer_id", "kind", "value", "verified", "created_at"],
        select(
            made.c.id,
            bindparam("kind", type_=IDENTITIES.c.kind.type),
            bindparam("phone", type_=IDENTITIES.c.value.type),
            true(),
            bindparam("now", type_=IDENTITIES.c.created_at.type),
        ),
    )
    who = union_all(
        select(found.c.id, found.c.display_name, false().label("made")),
        select(made.c.id, made.c.display_name, true().label("made")),
    ).cte("owner")
    return who, identity.cte("made_identity")


def _statement(owner: Select, n_events: int, *, make: bool) -> Select:
    """The call's rows for the ``owner`` lookup's customer. ``make``: when the lookup finds
    nobody, for a customer the statement makes, with their identity and its two events
    before the call's."""
    identity = None
    if make:
        who, identity = _found_or_made(owner.cte("found"))
    else:
        who = owner.cte("owner")
    i = _inserted(irows.INTERACTIONS, "i", "i_", who.c.id)
    conference = literal(store.CONFERENCE_PREFIX) + cast(i.c.id, String)
    call = _inserted(store.CALLS, "c", "c_", i.c.id, i.c.customer_id, conference)
    leg = _inserted(store.LEGS, "l", "l_", call.c.id)
    kinds = {c: EVENTS.c[c].type for c in _EVENT_COLUMNS}

    def event(ord_: int, prefix: str, of_call: bool) -> Select:
        return select(
            literal(ord_).label("ord"),
            (true() if of_call else false()).label("of_call"),
            *(bindparam(f"{prefix}_{c}", type_=t).label(c) for c, t in kinds.items()),
        )

    made = [event(-2, "m0", False), event(-1, "m1", False)] if make else []
    rows = union_all(*made, *(event(n, f"e{n}", True) for n in range(n_events))).subquery("ev")
    mine = rows.c.of_call
    chosen = i.join(rows, true())
    if make:  # (the made customer's events only when the statement made them)
        chosen = chosen.join(who, or_(mine, who.c.made))
    # (Every event in one INSERT ordered by ``ord``: their ids order the timeline, and
    # PostgreSQL runs a statement's data-modifying CTEs in no promised order.)
    written = insert(EVENTS).from_select(
        ["customer_id", "interaction_id", "ticket_id", "actor_id", "created_at", *_EVENT_COLUMNS],
        select(
            i.c.customer_id,
            case((mine, i.c.id), else_=literal(None, Integer)),
            case((mine, i.c.ticket_id), else_=literal(None, Integer)),
            literal(None, EVENTS.c.actor_id.type),
            bindparam("now", type_=EVENTS.c.created_at.type),
            *(rows.c[c] for c in _EVENT_COLUMNS),
        )
        .select_from(chosen)
        .order_by(rows.c.ord),
    )
    statement = (
        select(i, call, leg, who.c.display_name.label("caller_name"))
        .select_from(i.join(call, true()).join(leg, true()).join(who, true()))
        .add_cte(written.cte("e"))
    )
    return statement if identity is None else statement.add_cte(identity)


_BY_PHONE = (
    select(CUSTOMERS.c.id, CUSTOMERS.c.display_name)
    .join(IDENTITIES, IDENTITIES.c.customer_id == CUSTOMERS.c.id)
    .where(
        IDENTITIES.c.kind == bindparam("kind"),
        IDENTITIES.c.value == bindparam("phone"),
        IDENTITIES.c.verified,
        CUSTOMERS.c.merged_into_id.is_(None),
    )
    .limit(1)
)
_BY_ID = select(CUSTOMERS.c.id, CUSTOMERS.c.display_name).where(
    CUSTOMERS.c.id == bindparam("customer_id")
)

# Built once per shape (they are long; building one per call would cost what it saves):
# by the number (its owner, or a customer made for it), or by a customer resolved before.
_STATEMENTS = {
    (by_phone, n): _statement(_BY_PHONE if by_phone else _BY_ID, n, make=by_phone)
    for by_phone in (True, False)
    for n in range(1, MAX_EVENTS + 1)
}


def _params(new: NewCall, now: datetime) -> dict[str, Any]:
    params: dict[str, Any] = {"now": now}
    for prefix, table, values in (
        ("i_", irows.INTERACTIONS, new.interaction),
        ("c_", store.CALLS, new.call),
        ("l_", store.LEGS, new.leg),
    ):
        defaults = _DEFAULTS[table.name]
        unknown = values.keys() - defaults.keys()
        if unknown:
            raise ValueError(f"{table.name}: not columns a new call sets: {sorted(unknown)}")
        for name, default in defaults.items():
            if name in values:
                params[prefix + name] = values[name]
            elif default is _REQUIRED:  # (a callable default: the step must say it)
                raise ValueError(f"{table.name}.{name} needs a value")
            else:
                params[prefix + name] = default
    _event_params(params, "e", new.events)
    return params


def _event_params(
    params: dict[str, Any], prefix: str, written: list[tuple[events.Payload, ActorKind]]
) -> None:
    for n, (payload, actor_kind) in enumerate(written):
        params[f"{prefix}{n}_actor_kind"] = actor_kind
        params[f"{prefix}{n}_type"] = payload.type.value
        params[f"{prefix}{n}_data"] = payload.data()


_REQUIRED = object()  # (a column with a callable default, e.g. created_at)


def _default(column: Any) -> Any:
    d = column.default
    if d is not None and d.is_scalar:
        return d.arg
    return _REQUIRED if not column.nullable else None


# The columns each table's binds fill, with what a column a new call leaves out gets.
_DEFAULTS = {
    t.name: {name: _default(t.c[name]) for name in _other(t)}
    for t in (irows.INTERACTIONS, store.CALLS, store.LEGS)
}


def _split(row: Any) -> Stored:
    # (The three tables' columns share names, id first: read them by position.)
    values = tuple(row)
    parts, at = [], 0
    for model in _MODELS:
        names = [c.name for c in model.__table__.c]
        parts.append(dict(zip(names, values[at : at + len(names)], strict=True)))
        at += len(names)
    i, call, leg = (transient(m, p) for m, p in zip(_MODELS, parts, strict=True))
    return Stored(i, call, leg, values[at])


async def _one_statement(
    c: AsyncConnection, new: NewCall, now: datetime, **who: Any
) -> Stored | None:
    params = _params(new, now)
    by_phone = "phone" in who
    if by_phone:  # (the events of a customer made for the number, if it has no owner)
        made = customers.first_contact(IdentityKind.PHONE, who["phone"], via="voice")
        _event_params(params, "m", [(e, ActorKind.CUSTOMER) for e in made])
    row = (await c.execute(_STATEMENTS[(by_phone, len(new.events))], {**params, **who})).first()
    return None if row is None else _split(row)


async def write_call(db: Database, phone: str | None, new: NewCall) -> Stored:
    """Store the call; the caller is the verified owner of ``phone`` (a normalised number),
    or a new customer made for it (None: a withheld number, always a new customer)."""
    if not 1 <= len(new.events) <= MAX_EVENTS:
        raise ValueError(f"a new call starts with 1..{MAX_EVENTS} events")
    now = new.now or new.interaction["created_at"]
    one_statement = db.single_statement_steps
    known: customers.Owner | None = None
    if one_statement and phone is not None:
        try:
            async with db.statement() as c:
                stored = await _one_statement(c, new, now, kind=IdentityKind.PHONE, phone=phone)
            if stored is not None:
                return stored
        except IntegrityError:
            # The number was given an owner at the same moment (another call or text), or
            # its owner was merged into another customer: the general path below finds
            # them. A replay of this CallSid fails there too, and that reaches the caller.
            pass
    elif phone is not None:
        async with db.read_step() as c:
            known = await customers.owner(c, IdentityKind.PHONE, phone)
    if known is None:
        if phone is not None and not one_statement:  # (SQLite: looked for just now, none)
            made, _ = await customers.make_or_resolve(db, IdentityKind.PHONE, phone, via="voice")
        else:  # (a withheld number, or the statement refused: the owner is looked for)
            made = await customers.resolve(
                db, {IdentityKind.PHONE: phone} if phone is not None else {}, via="voice"
            )
        known = customers.Owner(made.id, made.display_name)
    if one_statement:
        async with db.statement() as c:
            stored = await _one_statement(c, new, now, customer_id=known.id)
        if stored is None:  # (the customer was made a moment ago: only a delete since)
            raise LookupError(f"customer {known.id} vanished while their call was stored")
        return stored
    async with db.step() as c:
        i = await irows.insert_interaction(c, customer_id=known.id, **new.interaction)
        call = await store.insert_call(
            c,
            interaction_id=i.id,
            customer_id=known.id,
            conference=store.conference_name(i.id),
            **new.call,
        )
        leg = await store.insert_leg(
            c,
            call,
            new.leg["call_sid"],
            store.Role(new.leg["role"]),
            status=new.leg["status"],
        )
        await events.write(
            c,
            *(
                {**events.row(payload, interaction=i, actor_kind=kind), "created_at": now}
                for payload, kind in new.events
            ),
        )
    return Stored(i, call, leg, known.display_name)
