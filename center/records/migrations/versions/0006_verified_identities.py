"""identities: verified or merely claimed

Revision ID: 0006
Revises: 0005

Until now any identity found a customer, so an e-mail typed into the chat widget opened
the conversations of whoever owned that address. Now only a verified identity is a
resolution key, with one verified owner per value; a claim may sit on any number of
customers (one row per customer and value).

Existing rows: a phone number came from the carrier and a chat visitor token is the bearer
secret issued to that browser, so both are verified. Every e-mail address so far came from
the chat widget (no other channel wrote one), where it was typed, never proved: all of them
become claims. That may split a real customer's next verified contact from their old
record, which an agent can see and link; the opposite choice would keep every address an
attacker ever claimed as a key to its victim's chats.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

VERIFIED_KINDS = ("phone", "chat_visitor")


def upgrade() -> None:
    # (SQLite rebuilds the table for the constraint change: batch mode.)
    with op.batch_alter_table("identities") as batch:
        batch.add_column(
            sa.Column("verified", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.drop_constraint("uq_identities_kind_value", type_="unique")
        batch.create_unique_constraint(
            "uq_identities_customer_kind_value", ["customer_id", "kind", "value"]
        )
    identities = sa.table("identities", sa.column("kind", sa.String), sa.column("verified"))
    op.execute(
        identities.update().where(identities.c.kind.in_(VERIFIED_KINDS)).values(verified=sa.true())
    )
    op.create_index(
        "uq_identities_verified_kind_value",
        "identities",
        ["kind", "value"],
        unique=True,
        sqlite_where=sa.text("verified"),
        postgresql_where=sa.text("verified"),
    )


def downgrade() -> None:
    # One row per (kind, value) again: a claim goes where another row holds the same value.
    op.execute(
        "DELETE FROM identities WHERE NOT verified AND EXISTS (SELECT 1 FROM identities other"
        " WHERE other.kind = identities.kind AND other.value = identities.value"
        " AND other.id <> identities.id AND (other.verified OR other.id < identities.id))"
    )
    op.drop_index("uq_identities_verified_kind_value", table_name="identities")
    with op.batch_alter_table("identities") as batch:
        batch.drop_constraint("uq_identities_customer_kind_value", type_="unique")
        batch.create_unique_constraint("uq_identities_kind_value", ["kind", "value"])
        batch.drop_column("verified")
