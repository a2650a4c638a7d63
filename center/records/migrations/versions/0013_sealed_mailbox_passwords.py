"""email: room for sealed IMAP mailbox passwords

Revision ID: 0013
Revises: 0012

A mailbox's password is now stored sealed (center/secret_box.py: a Fernet token, about
1.7 times the password's length plus 100 characters), not as typed. Passwords stored before
this are sealed by the server the first time it reads them (the key is not the
migration's to know).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("email_mailboxes") as batch:
        batch.alter_column(
            "password", existing_type=sa.String(255), type_=sa.String(1024), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("email_mailboxes") as batch:
        batch.alter_column(
            "password", existing_type=sa.String(1024), type_=sa.String(255), existing_nullable=False
        )
