"""email: inbound ledger, Message-ID index, threads, participants, addresses, mailboxes

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "email_inbound",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("received_at", When, nullable=False),
        sa.Column("source", sa.String(120), nullable=False),
        sa.Column("source_ref", sa.String(255), nullable=True),
        sa.Column("envelope_from", sa.String(320), nullable=False),
        sa.Column("envelope_to", sa.JSON(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("ticket_id", BigId, sa.ForeignKey("tickets.id"), nullable=True),
        sa.Column("message_row_id", BigId, sa.ForeignKey("messages.id"), nullable=True),
        sa.Column("processed_at", When, nullable=True),
        sa.UniqueConstraint("source_ref", name="uq_email_inbound_source_ref"),
    )
    op.create_index("ix_email_inbound_status", "email_inbound", ["status"])
    op.create_table(
        "email_message_ids",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("ticket_id", BigId, sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("message_row_id", BigId, sa.ForeignKey("messages.id"), nullable=True),
        sa.Column("direction", sa.String(32), nullable=False),
        sa.Column("created_at", When, nullable=False),
    )
    op.create_index("ix_email_message_ids_key", "email_message_ids", ["key"])
    op.create_index("ix_email_message_ids_ticket_id", "email_message_ids", ["ticket_id"])
    op.create_table(
        "email_threads",
        sa.Column("ticket_id", BigId, sa.ForeignKey("tickets.id"), primary_key=True),
        sa.Column("token", sa.String(40), nullable=False),
        sa.Column("support_address", sa.String(320), nullable=False),
        sa.Column("subject", sa.String(998), nullable=False),
        sa.Column("acknowledged_at", When, nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.UniqueConstraint("token", name="uq_email_threads_token"),
    )
    op.create_table(
        "email_participants",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("ticket_id", BigId, sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.UniqueConstraint("ticket_id", "address", name="uq_email_participants_ticket_id"),
    )
    op.create_index("ix_email_participants_ticket_id", "email_participants", ["ticket_id"])
    op.create_table(
        "email_addresses",
        sa.Column("address", sa.String(320), primary_key=True),
        sa.Column("undeliverable", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("flagged_at", When, nullable=True),
        sa.Column("ack_window_start", When, nullable=True),
        sa.Column("ack_count", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_table(
        "email_mailboxes",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("security", sa.String(16), nullable=False),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("password", sa.String(255), nullable=False),
        sa.Column("folder", sa.String(255), nullable=False),
        sa.Column("move_to", sa.String(255), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.UniqueConstraint("name", name="uq_email_mailboxes_name"),
    )


def downgrade() -> None:
    for table in (
        "email_mailboxes",
        "email_addresses",
        "email_participants",
        "email_threads",
        "email_message_ids",
        "email_inbound",
    ):
        op.drop_table(table)
