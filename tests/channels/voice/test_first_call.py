"""A number's first call makes its caller a customer, once, with the call on their timeline.

On PostgreSQL the customer, their verified number and the call are one statement; these
hold it to what the general path (``customers.resolve``, then the call) writes.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

from sqlalchemy import func, select, update

from center.records.customers import resolve
from center.records.enums import IdentityKind
from center.records.models import Customer, Event, Identity, Interaction
from tests.support import Server
from tests.twilio_support import Webhooks, sid, voice_call

NEW_NUMBER = "+14155550177"


def _gathers(text: str) -> bool:
    return ET.fromstring(text).find("Gather") is not None


async def _timeline(server: Server, customer_id: int) -> list[tuple[str, int | None, str]]:
    async with server.db.read() as s:
        rows = await s.scalars(
            select(Event).where(Event.customer_id == customer_id).order_by(Event.id)
        )
        return [(e.type, e.interaction_id, e.actor_kind.value) for e in rows]


async def test_a_first_call_makes_the_caller_a_customer_before_their_call(
    server: Server, hooks: Webhooks
) -> None:
    r = await hooks.post("/twilio/voice", voice_call(sid("CA"), from_=NEW_NUMBER))
    assert r.status == 200 and _gathers(r.text)
    async with server.db.read() as s:
        identity = (await s.scalars(select(Identity))).one()
        interaction = (await s.scalars(select(Interaction))).one()
        added = await s.scalar(select(Event).where(Event.type == "customer.identity_added"))
        created = await s.scalar(select(Event).where(Event.type == "customer.created"))
    assert (identity.kind, identity.value, identity.verified) == (
        IdentityKind.PHONE,
        NEW_NUMBER,
        True,
    )
    assert interaction.customer_id == identity.customer_id
    assert created is not None and created.data == {"via": "voice"}
    assert added is not None and added.data == {
        "kind": "phone",
        "value": NEW_NUMBER,
        "verified": True,
    }
    # The customer's two events first, then the call's, in that order on the timeline.
    assert await _timeline(server, identity.customer_id) == [
        ("customer.created", None, "customer"),
        ("customer.identity_added", None, "customer"),
        ("interaction.started", interaction.id, "customer"),
        ("call.status", interaction.id, "system"),
    ]

    # Their next call is theirs: no second customer.
    again = await hooks.post("/twilio/voice", voice_call(sid("CA"), from_=NEW_NUMBER))
    assert _gathers(again.text)
    async with server.db.read() as s:
        assert await s.scalar(select(func.count()).select_from(Customer)) == 1
        owners = (await s.scalars(select(Interaction.customer_id))).all()
    assert owners == [identity.customer_id] * 2


async def test_first_calls_from_one_number_at_once_make_one_customer(
    server: Server, hooks: Webhooks
) -> None:
    """Five calls from a new number together: each is answered with the menu (none is taken
    for a replay), and they share one customer."""
    answers = await asyncio.gather(
        *(hooks.post("/twilio/voice", voice_call(sid("CA"), from_=NEW_NUMBER)) for _ in range(5))
    )
    assert all(r.status == 200 and _gathers(r.text) for r in answers)
    async with server.db.read() as s:
        customers = (await s.scalars(select(Customer.id))).all()
        owners = (await s.scalars(select(Interaction.customer_id))).all()
        made = await s.scalar(
            select(func.count()).where(
                Event.type.in_(["customer.created", "customer.identity_added"])
            )
        )
    assert len(customers) == 1 and owners == customers * 5
    assert made == 2


async def test_a_merged_customers_number_reaches_the_customer_they_became(
    server: Server, hooks: Webhooks
) -> None:
    """The number is still on the customer merged away (a merge moves identities to the one
    kept; lookups follow the chain in case one did not): the call is the kept one's."""
    old = await resolve(server.db, {IdentityKind.PHONE: NEW_NUMBER}, via="test")
    kept = await resolve(server.db, {IdentityKind.EMAIL: "ada@example.com"}, via="test")
    async with server.db.transaction() as s:
        await s.execute(
            update(Customer).where(Customer.id == old.id).values(merged_into_id=kept.id)
        )
    call = sid("CA")
    r = await hooks.post("/twilio/voice", voice_call(call, from_=NEW_NUMBER))
    assert r.status == 200 and _gathers(r.text)
    async with server.db.read() as s:
        i = await s.scalar(select(Interaction).where(Interaction.external_ref == call))
        assert await s.scalar(select(func.count()).select_from(Customer)) == 2
    assert i is not None and i.customer_id == kept.id


async def test_a_replayed_first_call_is_answered_from_the_call_stored(
    server: Server, hooks: Webhooks
) -> None:
    """Twilio retrying a first call's webhook: the same menu, one customer, one call."""
    call = sid("CA")
    first = await hooks.post("/twilio/voice", voice_call(call, from_=NEW_NUMBER))
    again = await hooks.post("/twilio/voice", voice_call(call, from_=NEW_NUMBER))
    assert first.status == again.status == 200
    assert _gathers(first.text) and _gathers(again.text)
    async with server.db.read() as s:
        assert await s.scalar(select(func.count()).select_from(Customer)) == 1
        assert await s.scalar(select(func.count()).select_from(Interaction)) == 1
        started = await s.scalar(select(func.count()).where(Event.type == "interaction.started"))
    assert started == 1
