"""Twilio webhooks seen (idempotency) and SMS opt-outs

Revision ID: 0009
Revises: 0007

``twilio_webhooks``: one row per (Sid, status) a webhook carried, so a replay (Twilio
retries, an attacker re-posting a signed request) is recognised in the same transaction
as the change it would make. ``sms_opt_outs``: numbers that texted STOP.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import center.records.base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "twilio_webhooks",
        sa.Column("id", ID, nullable=False),
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("received_at", center.records.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sid", "status", name="uq_twilio_webhooks_sid_status"),
    )
    op.create_table(
        "sms_opt_outs",
        sa.Column("phone", sa.String(length=64), nullable=False),
        sa.Column("customer_id", ID, nullable=True),
        sa.Column("opted_out_at", center.records.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("phone"),
    )
    op.create_index("ix_sms_opt_outs_customer_id", "sms_opt_outs", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_sms_opt_outs_customer_id", table_name="sms_opt_outs")
    op.drop_table("sms_opt_outs")
    op.drop_table("twilio_webhooks")
