"""Customers and identity resolution: a contact on any channel finds the same customer."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import phonenumbers
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from center.records import events
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
        .where(Identity.kind == kind, Identity.value == value, Identity.verified.is_(True))
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
        _IDENTITIES.c.verified.is_(True),
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


def _added(
    s: AsyncSession, customer: Customer, kind: IdentityKind, value: str, *, verified: bool
) -> None:
    shown = value if kind is not IdentityKind.CHAT_VISITOR else "(visitor token)"
    events.append(
        s,
        events.IdentityAdded(kind=kind.value, value=shown, verified=verified),
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
