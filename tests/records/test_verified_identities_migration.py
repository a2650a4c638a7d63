"""Migration 0006 on a database that has customers: phone numbers and visitor tokens stay
keys (verified), every e-mail so far came from the chat widget and becomes a claim."""

from __future__ import annotations

import asyncio

from alembic import command
from sqlalchemy import text

from center.records import customers
from center.records.db import Database, alembic_config
from center.records.enums import IdentityKind


async def _alembic(db: Database, step: str, revision: str) -> None:
    cfg = alembic_config(db.url, db.schema)
    await asyncio.to_thread(getattr(command, step), cfg, revision)


async def test_existing_identities_are_sorted_into_keys_and_claims(db: Database) -> None:
    await _alembic(db, "downgrade", "0005")
    token_hash = customers.normalise(IdentityKind.CHAT_VISITOR, "t" * 24)
    async with db.transaction() as s:
        dana = (
            await s.execute(
                text("INSERT INTO customers (created_at) VALUES (CURRENT_TIMESTAMP) RETURNING id")
            )
        ).scalar_one()
        await s.execute(
            text(
                "INSERT INTO identities (customer_id, kind, value, created_at) VALUES"
                " (:c, 'phone', '+14155552671', CURRENT_TIMESTAMP),"
                " (:c, 'chat_visitor', :token, CURRENT_TIMESTAMP),"
                " (:c, 'email', 'dana@example.com', CURRENT_TIMESTAMP)"
            ),
            {"c": dana, "token": token_hash},
        )
    await _alembic(db, "upgrade", "head")
    async with db.read() as s:
        rows = await s.execute(text("SELECT kind, verified FROM identities ORDER BY id"))
        assert [(k, bool(v)) for k, v in rows] == [
            ("phone", True),
            ("chat_visitor", True),
            ("email", False),
        ]
    # The keys still find the customer; the old e-mail no longer does.
    phone = await customers.resolve(db, {IdentityKind.PHONE: "(415) 555-2671"}, via="sms")
    token = await customers.resolve(db, {IdentityKind.CHAT_VISITOR: "t" * 24}, via="chat")
    assert phone.id == token.id == dana
    visitor = {IdentityKind.CHAT_VISITOR: "u" * 24}
    other = await customers.resolve(
        db, visitor, claimed={IdentityKind.EMAIL: "dana@example.com"}, via="chat"
    )
    assert other.id != dana
    # Back down (two customers now claim the address): one row per (kind, value) again.
    await _alembic(db, "downgrade", "0005")
    async with db.read() as s:
        emails = await s.execute(
            text("SELECT customer_id FROM identities WHERE value = 'dana@example.com'")
        )
        assert [c for (c,) in emails] == [dana]
    await _alembic(db, "upgrade", "head")
