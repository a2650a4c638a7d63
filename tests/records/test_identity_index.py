"""Every lookup of a verified identity's owner reads the partial unique index.

The index is ``(kind, value) WHERE verified``. A query must say ``verified`` as the index
does: PostgreSQL cannot prove that ``verified IS true`` implies it, and scanned the whole
table on every call, text and e-mail, so a first-time caller's webhook slowed as the
customer base grew (from 120 new callers/s to 31/s after a few thousand customers).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Executable, select, text

from center.channels.email import store as email_store
from center.channels.voice import new_call
from center.records import customers
from center.records.db import Database
from center.records.enums import IdentityKind
from center.records.models import Customer, Identity

INDEX = "uq_identities_verified_kind_value"
PHONE = {"kind": "phone", "value": "+14155550100", "phone": "+14155550100"}

LOOKUPS: dict[str, tuple[Executable, dict[str, Any]]] = {
    "customers.owner": (customers._OWNER, PHONE),
    "customers.resolve (its known-owner read)": (customers._OWNER_ROW, PHONE),
    "customers.find_by_identity": (
        select(Customer)
        .join(Identity)
        .where(Identity.kind == IdentityKind.PHONE, Identity.value == "+1", Identity.verified),
        {},
    ),
    "a new call's caller": (new_call._BY_PHONE, PHONE),
    "an e-mail's sender": (email_store._SENDER, {"b_addr": "a@b.example", "b_key": "k"}),
    "an e-mail's participants": (email_store._OWNERS, {"b_addrs": ["a@b.example"]}),
}


@pytest.mark.parametrize("name", list(LOOKUPS))
async def test_the_owner_of_an_identity_is_found_through_the_index(db: Database, name: str) -> None:
    statement, params = LOOKUPS[name]
    params = {"b_direction": "inbound", **params}
    async with db.engine.connect() as conn:
        sql = str(
            statement.compile(  # type: ignore[attr-defined]
                dialect=conn.dialect, compile_kwargs={"literal_binds": True}
            )
            if not params
            else statement.params(**params).compile(  # type: ignore[attr-defined]
                dialect=conn.dialect, compile_kwargs={"literal_binds": True}
            )
        )
        if conn.dialect.name == "postgresql":
            # (A table this small would be scanned anyway: forbid that, so the plan shows
            # whether the index can be used at all.)
            await conn.execute(text("SET enable_seqscan = off"))
            plan = "\n".join(r[0] for r in await conn.execute(text(f"EXPLAIN {sql}")))
        else:
            plan = "\n".join(
                str(r[-1]) for r in await conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))
            )
    assert INDEX in plan, plan
