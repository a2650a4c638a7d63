"""Identity resolution: the same person on any channel is the same customer."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from center.records import customers
from center.records.customers import InvalidIdentity, normalise
from center.records.db import Database
from center.records.enums import IdentityKind
from center.records.models import Customer, Event

PHONE, EMAIL, VISITOR = IdentityKind.PHONE, IdentityKind.EMAIL, IdentityKind.CHAT_VISITOR


def test_normalisation() -> None:
    assert normalise(PHONE, "(415) 555-2671") == "+14155552671"
    assert normalise(PHONE, "+44 20 7946 0958") == "+442079460958"
    assert normalise(EMAIL, " Dana@Example.COM ") == "dana@example.com"
    with pytest.raises(InvalidIdentity):
        normalise(PHONE, "call me maybe")
    with pytest.raises(InvalidIdentity):
        normalise(EMAIL, "no-at-sign.example.com")


async def test_same_phone_in_any_format_is_the_same_customer(db: Database) -> None:
    a = await customers.resolve(db, {PHONE: "+1 415-555-2671"}, via="sms")
    b = await customers.resolve(db, {PHONE: "(415) 555 2671"}, via="voice")
    assert a.id == b.id


async def test_email_links_a_chat_visitor_to_an_existing_customer(db: Database) -> None:
    by_mail = await customers.resolve(db, {EMAIL: "dana@example.com"}, via="email")
    chat = await customers.resolve(
        db, {VISITOR: "v" * 24, EMAIL: "DANA@example.com"}, display_name="Dana", via="chat"
    )
    assert chat.id == by_mail.id
    again = await customers.resolve(db, {VISITOR: "v" * 24}, via="chat")
    assert again.id == by_mail.id
    other = await customers.resolve(db, {VISITOR: "w" * 24}, via="chat")
    assert other.id != by_mail.id
    async with db.read() as s:
        types = list(
            await s.scalars(
                select(Event.type).where(Event.customer_id == by_mail.id).order_by(Event.id)
            )
        )
    assert types == ["customer.created", "customer.identity_added", "customer.identity_added"]


async def test_concurrent_first_contacts_make_one_customer(db: Database) -> None:
    results = await asyncio.gather(
        *(customers.resolve(db, {EMAIL: "race@example.com"}, via="email") for _ in range(6))
    )
    assert len({c.id for c in results}) == 1
    async with db.read() as s:
        assert await s.scalar(select(func.count()).select_from(Customer)) == 1


async def test_a_first_contact_writes_the_customer_its_identity_and_both_events(
    db: Database,
) -> None:
    """One verified identity, the common case (a statement on PostgreSQL, a Core
    transaction on SQLite): the rows and events the full resolution writes, in order; a
    name given later fills a nameless record in, and a known owner is found again."""
    made = await customers.resolve(db, {VISITOR: "t" * 24}, display_name="Ivy", via="chat")
    nameless = await customers.resolve(db, {PHONE: "+14155550100"}, via="sms")
    named = await customers.resolve(db, {PHONE: "+14155550100"}, display_name="Jo", via="voice")
    assert named.id == nameless.id and nameless.display_name is None
    again = await customers.resolve(db, {VISITOR: "t" * 24}, display_name="Other", via="chat")
    assert again.id == made.id and again.display_name == "Ivy"
    async with db.read() as s:
        rows = (await s.scalars(select(Customer).order_by(Customer.id))).all()
        timeline = (await s.scalars(select(Event).order_by(Event.id))).all()
        visitor = (await s.scalars(select(customers.Identity))).all()
    assert [(c.id, c.display_name) for c in rows] == [(made.id, "Ivy"), (nameless.id, "Jo")]
    assert made.created_at is not None and made.merged_into_id is None
    assert [(e.customer_id, e.type, e.data, e.actor_kind.value) for e in timeline] == [
        (made.id, "customer.created", {"via": "chat"}, "customer"),
        (
            made.id,
            "customer.identity_added",
            {"kind": "chat_visitor", "value": "(visitor token)", "verified": True},
            "customer",
        ),
        (nameless.id, "customer.created", {"via": "sms"}, "customer"),
        (
            nameless.id,
            "customer.identity_added",
            {"kind": "phone", "value": "+14155550100", "verified": True},
            "customer",
        ),
    ]
    assert {(i.customer_id, i.kind.value, i.verified) for i in visitor} == {
        (made.id, "chat_visitor", True),
        (nameless.id, "phone", True),
    }
    assert next(i.value for i in visitor if i.kind is VISITOR) == normalise(VISITOR, "t" * 24)
