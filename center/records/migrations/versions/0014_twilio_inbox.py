"""SMS: a durable inbox for Twilio webhooks

Revision ID: 0014
Revises: 0013

``twilio_inbox``: ``POST /twilio/sms`` stores the parsed form here in one statement and
answers; a processor acts on the rows afterwards (center/channels/sms/drain.py). The
unique (kind, sid, status) makes a replay no second row.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import center.records.base

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = center.records.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "twilio_inbox",
        sa.Column("id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=256), nullable=False),
        sa.Column("form", sa.JSON(), nullable=False),
        sa.Column("received_at", WHEN, nullable=False),
        sa.Column("processed_at", WHEN, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "sid", "status", name="uq_twilio_inbox_kind_sid_status"),
    )
    op.create_index("ix_twilio_inbox_pending", "twilio_inbox", ["processed_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_twilio_inbox_pending", table_name="twilio_inbox")
    op.drop_table("twilio_inbox")
