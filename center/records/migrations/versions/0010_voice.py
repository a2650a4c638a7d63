"""voice: calls (IVR, conference, callback, voicemail, recording, CSAT) and their legs

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from center.records.base import BigId, UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "voice_calls",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("interaction_id", BigId, sa.ForeignKey("interactions.id"), nullable=False),
        sa.Column("customer_id", BigId, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("from_number", sa.String(40), nullable=False),
        sa.Column("to_number", sa.String(40), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("menu", sa.String(40)),
        sa.Column("conference", sa.String(80), nullable=False),
        sa.Column("conference_sid", sa.String(64)),
        sa.Column("callback_number", sa.String(40)),
        sa.Column("recording_sid", sa.String(64)),
        sa.Column("recording_url", sa.Text()),
        sa.Column("recording_duration_s", sa.Integer()),
        sa.Column("duration_s", sa.Integer()),
        sa.Column("csat", sa.Integer()),
        sa.Column("ticket_id", BigId, sa.ForeignKey("tickets.id")),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("answered_at", UTCDateTime()),
        sa.Column("ended_at", UTCDateTime()),
        sa.UniqueConstraint("interaction_id", name="uq_voice_calls_interaction_id"),
    )
    op.create_index("ix_voice_calls_customer_id", "voice_calls", ["customer_id"])
    op.create_table(
        "voice_legs",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("voice_call_id", BigId, sa.ForeignKey("voice_calls.id"), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("user_id", BigId, sa.ForeignKey("users.id")),
        sa.Column("mode", sa.String(16)),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("on_hold", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("duration_s", sa.Integer()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime()),
        sa.UniqueConstraint("call_sid", name="uq_voice_legs_call_sid"),
    )
    op.create_index("ix_voice_legs_voice_call_id", "voice_legs", ["voice_call_id"])

    op.create_table(
        "voice_agents",
        sa.Column("user_id", BigId, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("phone", sa.String(40)),
    )


def downgrade() -> None:
    op.drop_table("voice_agents")
    op.drop_table("voice_legs")
    op.drop_table("voice_calls")
