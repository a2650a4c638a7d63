"""voice: a leg's row before its CallSid (owed bridges, early status callbacks)

Revision ID: 0015
Revises: 0014

A leg we dial (an agent's, a supervisor's, the callback) is written before the REST
request that creates it, so ``call_sid`` may be NULL until Twilio's answer or the leg's
first status callback (whose URL names the row) fills it in. ``assigned_at`` ties an
agent's leg to the assignment it was dialled for (the interaction's ``assigned_at``):
one leg per assignment. ``lease_until`` / ``attempts``: the process dialling it now,
and how often it has been tried (center/channels/voice/owed.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import center.records.base

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

WHEN = center.records.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("voice_legs") as batch:
        batch.alter_column("call_sid", existing_type=sa.String(64), nullable=True)
        batch.add_column(sa.Column("assigned_at", WHEN, nullable=True))
        batch.add_column(sa.Column("lease_until", WHEN, nullable=True))
        batch.add_column(
            sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )


def downgrade() -> None:
    op.execute("DELETE FROM voice_legs WHERE call_sid IS NULL")
    with op.batch_alter_table("voice_legs") as batch:
        batch.drop_column("attempts")
        batch.drop_column("lease_until")
        batch.drop_column("assigned_at")
        batch.alter_column("call_sid", existing_type=sa.String(64), nullable=False)
