"""tickets (issue 11) and the durable outbox

Revision ID: 0007
Revises: 0006

Tickets get a number, queue, channel, SLA clocks and solved/closed times; new tables for
private notes, attachments (bytes kept in the database, sha256 beside them), SLA policies
and the one outbox every channel sends through.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from center.records.base import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("number", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("queue", sa.String(80), nullable=False, server_default="default")
        )
        batch.add_column(sa.Column("channel", sa.String(32), nullable=True))
        batch.add_column(sa.Column("sla_policy_id", sa.Integer(), nullable=True))
        for name in (
            "first_response_due_at",
            "first_responded_at",
            "next_response_due_at",
            "resolution_due_at",
            "sla_check_at",
            "solved_at",
            "closed_at",
        ):
            batch.add_column(sa.Column(name, UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("sla_flags", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch.add_column(sa.Column("follow_up_of_id", sa.Integer(), nullable=True))
        batch.create_unique_constraint("uq_tickets_number", ["number"])
        batch.create_foreign_key(
            "fk_tickets_follow_up_of_id_tickets", "tickets", ["follow_up_of_id"], ["id"]
        )
    op.execute("UPDATE tickets SET number = id WHERE number IS NULL")
    op.create_index("ix_tickets_sla_check_at", "tickets", ["sla_check_at"])
    op.create_index("ix_tickets_status_queue", "tickets", ["status", "queue"])
    op.create_index("ix_tickets_assignee_id", "tickets", ["assignee_id"])

    op.create_table(
        "ticket_notes",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("ticket_id", BigId, sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("author_id", BigId, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_ticket_notes_ticket_id", "ticket_notes", ["ticket_id"])

    op.create_table(
        "attachments",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("message_id", BigId, sa.ForeignKey("messages.id"), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_attachments_message_id", "attachments", ["message_id"])

    op.create_table(
        "sla_policies",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("queue", sa.String(80), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=True),
        sa.Column("first_response_minutes", sa.Integer(), nullable=True),
        sa.Column("next_response_minutes", sa.Integer(), nullable=True),
        sa.Column("resolution_minutes", sa.Integer(), nullable=True),
        sa.Column("warn_minutes", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "uq_sla_policies_queue_priority", "sla_policies", ["queue", "priority"], unique=True
    )

    op.create_table(
        "outbox",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("customer_id", BigId, sa.ForeignKey("customers.id"), nullable=True),
        sa.Column("interaction_id", BigId, sa.ForeignKey("interactions.id"), nullable=True),
        sa.Column("ticket_id", BigId, sa.ForeignKey("tickets.id"), nullable=True),
        sa.Column("message_id", BigId, sa.ForeignKey("messages.id"), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("key", name="uq_outbox_key"),
    )
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_message_id", "outbox", ["message_id"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("sla_policies")
    op.drop_table("attachments")
    op.drop_table("ticket_notes")
    op.drop_index("ix_tickets_assignee_id", table_name="tickets")
    op.drop_index("ix_tickets_status_queue", table_name="tickets")
    op.drop_index("ix_tickets_sla_check_at", table_name="tickets")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_constraint("fk_tickets_follow_up_of_id_tickets", type_="foreignkey")
        batch.drop_constraint("uq_tickets_number", type_="unique")
        for name in (
            "follow_up_of_id",
            "sla_flags",
            "closed_at",
            "solved_at",
            "sla_check_at",
            "resolution_due_at",
            "next_response_due_at",
            "first_responded_at",
            "first_response_due_at",
            "sla_policy_id",
            "channel",
            "queue",
            "number",
        ):
            batch.drop_column(name)
