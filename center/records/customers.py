"""Customers and identity resolution: a contact on any channel finds the same customer."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import phonenumbers
from sqlalchemy import JSON, bindparam, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from center.records import events
from center.records.base import transient, utcnow
from center.records.db import Database
from center.records.enums import ActorKind, IdentityKind
from center.records.models import Customer, Identity


class InvalidIdentity(ValueError):
    pass


def normalise(kind: IdentityKind, raw: str, *, default_region: str = "US") -> str:
    """The canonical form under which an identity is stored and matched."""
    raw = raw.strip()
    if kind is IdentityKind.PHONE:
        try:
            number = phonenumbers.parse(raw, default_region)
        except phonenumbers.NumberParseException as exc:
            raise InvalidIdentity(f"not a phone number: {raw!r}") from exc
        if not phonenumbers.is_possible_number(number):
            raise InvalidIdentity(f"not a possible phone number: {raw!r}")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if kind is IdentityKind.EMAIL:
        local, sep, domain = raw.rpartition("@")
        if not sep or not local or "." not in domain or " " in raw:
            raise InvalidIdentity(f"not an email address: {raw!r}")
        return f"{local}@{domain}".lower()
    if kind is IdentityKind.CHAT_VISITOR:
        # The visitor token is a bearer secret: store only its hash.
        if len(raw) < 16:
            raise InvalidIdentity("visitor token too short")
        return hashlib.sha256(raw.encode()).hexdigest()
    raise InvalidIdentity(f"unknown identity kind {kind}")


async def find_by_identity(s: AsyncSession, kind: IdentityKind, value: str) -> Customer | None:
    """The customer owning a *verified* identity. A claim is never a key: whoever types an
    address into the widget must not reach its owner's conversations."""
    row = await s.scalar(
        select(Customer)
        .join(Identity)
        .where(Identity.kind == kind, Identity.value == value, Identity.verified)
    )
    # A merged customer's identities moved to the survivor; follow the chain defensively.
    while row is not None and row.merged_into_id is not None:
        row = await s.get(Customer, row.merged_into_id)
    return row


@dataclass(frozen=True, slots=True)
class Owner:
    """A verified identity's customer, as the hot path needs it (no ORM object)."""

    id: int
    display_name: str | None


_CUSTOMERS = Customer.__table__
_IDENTITIES = Identity.__table__
_OWNER = (
    select(_CUSTOMERS.c.id, _CUSTOMERS.c.display_name, _CUSTOMERS.c.merged_into_id)
    .join(_IDENTITIES, _IDENTITIES.c.customer_id == _CUSTOMERS.c.id)
    .where(
        _IDENTITIES.c.kind == bindparam("kind"),
        _IDENTITIES.c.value == bindparam("value"),
        _IDENTITIES.c.verified,
    )
)  # (built once: a webhook per call or text asks it)


async def owner(conn: AsyncConnection, kind: IdentityKind, value: str) -> Owner | None:
    """``find_by_identity`` for the hot path: one Core read of a normalised identity's
    verified owner. None when there is none, and when the owner was merged into another
    customer (rare: ``resolve`` follows the chain in its own transaction)."""
    row = (await conn.execute(_OWNER, {"kind": kind, "value": value})).first()
    if row is None or row.merged_into_id is not None:
        return None
    return Owner(int(row.id), row.display_name)


# One verified identity and no claims, the common case, without the ORM's unit of work: a
# known owner is one read; a new customer (with the identity and both events, in order) is
# one statement on PostgreSQL and a Core transaction on SQLite. Anything else (a merged
# owner, a name to fill in, the same identity made elsewhere at the same moment) returns
# None and takes ``_resolve_in``'s transaction, which handles every case.
_OWNER_ROW = (
    select(_CUSTOMERS)
    .join(_IDENTITIES, _IDENTITIES.c.customer_id == _CUSTOMERS.c.id)
    .where(
        _IDENTITIES.c.kind == bindparam("kind"),
        _IDENTITIES.c.value == bindparam("value"),
        _IDENTITIES.c.verified,
    )
)
_EVENT_COLUMNS = (
    "customer_id, interaction_id, ticket_id, actor_kind, actor_id, type, data, created_at"
)
_NEW_CUSTOMER = (
    text(f"""
WITH c AS (
    INSERT INTO customers (display_name, created_at, merged_into_id)
    VALUES (CAST(:display_name AS varchar), CAST(:now AS timestamptz), NULL)
    RETURNING *
), d AS (
    INSERT INTO identities (customer_id, kind, value, verified, created_at)
    SELECT c.id, :kind, CAST(:value AS varchar), true, CAST(:now AS timestamptz) FROM c
    RETURNING id
), e AS (
    INSERT INTO events ({_EVENT_COLUMNS})
    SELECT c.id, NULL, NULL, '{ActorKind.CUSTOMER.value}', NULL, v.type, v.data,
           CAST(:now AS timestamptz)
    FROM c, (
        SELECT 0 AS ord, '{events.EventType.CUSTOMER_CREATED.value}' AS type,
               CAST(:created AS json) AS data
        UNION ALL
        SELECT 1, '{events.EventType.IDENTITY_ADDED.value}', CAST(:added AS json)
    ) AS v
    ORDER BY v.ord
)
SELECT c.* FROM c, d
""")
    .bindparams(
        bindparam("kind", type_=_IDENTITIES.c.kind.type),
        bindparam("created", type_=JSON),
        bindparam("added", type_=JSON),
    )
    .columns(*_CUSTOMERS.c)
)
_INSERT_CUSTOMER = insert(_CUSTOMERS).returning(*_CUSTOMERS.c)
_INSERT_IDENTITY = insert(_IDENTITIES)


async def _resolve_one(
    db: Database, kind: IdentityKind, value: str, display_name: str | None, via: str
) -> Customer | None:
    async with db.read_step() as c:
        row = (await c.execute(_OWNER_ROW, {"kind": kind, "value": value})).first()
    if row is not None:
        if row.merged_into_id is None and (not display_name or row.display_name):
            return transient(Customer, row._mapping)
        return None
    return await make(db, kind, value, display_name=display_name, via=via)


async def make(
    db: Database, kind: IdentityKind, value: str, *, display_name: str | None = None, via: str
) -> Customer | None:
    """A new customer for a normalised verified identity that had no owner a moment ago
    (the caller has just looked), with its events; one statement on PostgreSQL. None when
    it has one now (made at the same moment elsewhere): ``resolve`` then finds them."""
    now = utcnow()
    made = [
        events.row(e, actor_kind=ActorKind.CUSTOMER) for e in first_contact(kind, value, via=via)
    ]
    try:
        if db.single_statement_steps:
            params = {
                "display_name": display_name, "kind": kind, "value": value, "now": now,
                "created": made[0]["data"], "added": made[1]["data"],
            }  # fmt: skip
            async with db.statement() as c:
                row = (await c.execute(_NEW_CUSTOMER, params)).one()
            return transient(Customer, row._mapping)
        return await db.run_step(_make_body, kind, value, display_name, now, made)
    except IntegrityError:  # (made elsewhere at the same moment: the transaction looks again)
        return None


async def _make_body(
    c: AsyncConnection,
    kind: IdentityKind,
    value: str,
    display_name: str | None,
    now: datetime,
    made: list[dict[str, Any]],
) -> Customer:
    values = {"display_name": display_name, "created_at": now, "merged_into_id": None}
    row = (await c.execute(_INSERT_CUSTOMER, values)).one()
    await c.execute(
        _INSERT_IDENTITY,
        {"customer_id": row.id, "kind": kind, "value": value, "verified": True,
         "created_at": now},
    )  # fmt: skip
    await events.write(c, *({**e, "customer_id": row.id, "created_at": now} for e in made))
    return transient(Customer, row._mapping)


async def make_or_resolve(
    db: Database, kind: IdentityKind, value: str, *, via: str
) -> tuple[Customer, bool]:
    """For a normalised verified identity the caller has just found without an owner: a
    customer made for it, or (made elsewhere at the same moment) its owner through
    ``resolve``; and whether it was made here, so that nothing else of theirs exists yet."""
    made = await make(db, kind, value, via=via)
    if made is not None:
        return made, True
    return await resolve(db, {kind: value}, via=via), False


@dataclass(frozen=True, slots=True)
class Resolved:
    customer: Customer
    # Verified identities given that another customer owns: left with their owner.
    conflicts: frozenset[IdentityKind] = frozenset()


async def resolve(
    db: Database,
    identities: dict[IdentityKind, str],
    *,
    claimed: dict[IdentityKind, str] | None = None,
    display_name: str | None = None,
    via: str,
) -> Customer:
    """Find the customer owning one of these verified identities, or create one; see
    ``resolve_detailed``. Raises InvalidIdentity for malformed values."""
    found = await resolve_detailed(
        db, identities, claimed=claimed, display_name=display_name, via=via
    )
    return found.customer


async def resolve_detailed(
    db: Database,
    identities: dict[IdentityKind, str],
    *,
    claimed: dict[IdentityKind, str] | None = None,
    display_name: str | None = None,
    via: str,
) -> Resolved:
    """``identities`` are verified (the channel proved them), strongest first: the first one
    with an owner decides the customer, and the others are attached to it as verified
    unless another customer owns them (``conflicts``). ``claimed`` are merely claimed: they
    never decide, and are attached as unverified.

    Raises InvalidIdentity for malformed values.
    """
    verified = {kind: normalise(kind, raw) for kind, raw in identities.items()}
    claims = {kind: normalise(kind, raw) for kind, raw in (claimed or {}).items()}
    if len(verified) == 1 and not claims:  # (every channel's contact, and every new visitor)
        ((kind, value),) = verified.items()
        quick = await _resolve_one(db, kind, value, display_name, via)
        if quick is not None:
            return Resolved(quick)
    for _attempt in range(3):
        try:
            async with db.transaction() as s:
                return await _resolve_in(s, verified, claims, display_name, via)
        except IntegrityError:
            # Another process created the same identity at the same moment: look again.
            continue
    raise RuntimeError("identity resolution kept conflicting")


async def _resolve_in(
    s: AsyncSession,
    verified: dict[IdentityKind, str],
    claims: dict[IdentityKind, str],
    display_name: str | None,
    via: str,
) -> Resolved:
    owners = {kind: await find_by_identity(s, kind, value) for kind, value in verified.items()}
    customer = next((c for c in owners.values() if c is not None), None)
    if customer is None:
        customer = Customer(display_name=display_name)
        s.add(customer)
        await s.flush()
        events.append(
            s,
            events.CustomerCreated(via=via),
            customer_id=customer.id,
            actor_kind=ActorKind.CUSTOMER,
        )
    elif display_name and not customer.display_name:
        customer.display_name = display_name
    rows = await s.scalars(select(Identity).where(Identity.customer_id == customer.id))
    known = {(row.kind, row.value): row for row in rows}
    conflicts = set()
    for kind, value in verified.items():
        owner = owners[kind]
        if owner is not None and owner.id != customer.id:
            conflicts.add(kind)
            continue
        row = known.get((kind, value))
        if row is None and owner is not None:
            continue  # (still on a customer merged into this one: found through the chain)
        if row is None:
            s.add(Identity(customer_id=customer.id, kind=kind, value=value, verified=True))
        elif not row.verified:
            row.verified = True  # the customer's own claim, proved now
        else:
            continue
        _added(s, customer, kind, value, verified=True)
    for kind, value in claims.items():
        if (kind, value) not in known and verified.get(kind) != value:
            s.add(Identity(customer_id=customer.id, kind=kind, value=value, verified=False))
            _added(s, customer, kind, value, verified=False)
    await s.flush()
    return Resolved(customer, frozenset(conflicts))


def first_contact(kind: IdentityKind, value: str, *, via: str) -> list[events.Payload]:
    """The events of a customer made for a verified identity, in order (their actor is the
    customer): for a step that makes the customer in its own statement."""
    return [events.CustomerCreated(via=via), _identity_added(kind, value, verified=True)]


def _identity_added(kind: IdentityKind, value: str, *, verified: bool) -> events.IdentityAdded:
    shown = value if kind is not IdentityKind.CHAT_VISITOR else "(visitor token)"
    return events.IdentityAdded(kind=kind.value, value=shown, verified=verified)


def _added(
    s: AsyncSession, customer: Customer, kind: IdentityKind, value: str, *, verified: bool
) -> None:
    events.append(
        s,
        _identity_added(kind, value, verified=verified),
        customer_id=customer.id,
        actor_kind=ActorKind.CUSTOMER,
    )


def customer_json(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "display_name": customer.display_name,
        "created_at": customer.created_at.isoformat(),
        "identities": [
            {"kind": i.kind.value, "value": i.value, "verified": i.verified}
            for i in customer.identities
            if i.kind is not IdentityKind.CHAT_VISITOR
        ],
    }
