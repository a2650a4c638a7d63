"""identities: SQLite's verified-owner index matches how its queries say "verified"

Revision ID: 0016
Revises: 0015

SQLite uses a partial index only when the query has the index's WHERE term as written.
SQLAlchemy writes a boolean test as ``verified = 1`` there (it has no boolean type), and
the index said ``WHERE verified``: every owner lookup scanned the table. PostgreSQL's
index stays ``WHERE verified`` (its queries say exactly that).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

NAME = "uq_identities_verified_kind_value"


def _recreate(where: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.drop_index(NAME, table_name="identities")
    op.create_index(NAME, "identities", ["kind", "value"], unique=True, sqlite_where=sa.text(where))


def upgrade() -> None:
    _recreate("verified = 1")


def downgrade() -> None:
    _recreate("verified")
