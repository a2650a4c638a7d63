"""Customers and identity resolution: a contact on any channel finds the same customer."""

from __future__ import annotations

import hashlib
from typing import Any

import phonenumbers
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

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
    row = await s.scalar(
        select(Customer).join(Identity).where(Identity.kind == kind, Identity.value == value)
    )
    # A merged customer's identities moved to the survivor; follow the chain defensively.
    while row is not None and row.merged_into_id is not None:
        row = await s.get(Customer, row.merged_into_id)
    return row


async def resolve(
    db: Database,
    identities: dict[IdentityKind, str],
    *,
    display_name: str | None = None,
    via: str,
) -> Customer:
    """Find the customer owning any of these identities, or create one; attach the rest.

    Raises InvalidIdentity for malformed values.
    """
    normalised = {kind: normalise(kind, raw) for kind, raw in identities.items()}
    for _attempt in range(3):
        try:
            async with db.transaction() as s:
                return await _resolve_in(s, normalised, display_name, via)
        except IntegrityError:
            # Another process created the same identity at the same moment: look again.
            continue
    raise RuntimeError("identity resolution kept conflicting")


async def _resolve_in(
    s: AsyncSession, identities: dict[IdentityKind, str], display_name: str | None, via: str
) -> Customer:
    customer = None
    for kind, value in identities.items():
        customer = await find_by_identity(s, kind, value)
        if customer is not None:
            break
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
    rows = await s.execute(
        select(Identity.kind, Identity.value).where(Identity.customer_id == customer.id)
    )
    known = {(kind, value) for kind, value in rows}
    for kind, value in identities.items():
        if (kind, value) not in known:
            s.add(Identity(customer_id=customer.id, kind=kind, value=value))
            shown = value if kind is not IdentityKind.CHAT_VISITOR else "(visitor token)"
            events.append(
                s,
                events.IdentityAdded(kind=kind.value, value=shown),
                customer_id=customer.id,
                actor_kind=ActorKind.CUSTOMER,
            )
    await s.flush()
    return customer


def customer_json(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "display_name": customer.display_name,
        "created_at": customer.created_at.isoformat(),
        "identities": [
            {"kind": i.kind.value, "value": i.value}
            for i in customer.identities
            if i.kind is not IdentityKind.CHAT_VISITOR
        ],
    }
