"""indexes for the supervisor's live statistics

Revision ID: 0005
Revises: 0004

Today's queue statistics read interactions by ``queued_at`` (a bounded range scan, not the
whole history); an away agent's reason is its newest presence event (``actor_id``, newest
``id`` first).
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_interactions_queued_at", "interactions", ["queued_at"], unique=False)
    op.create_index("ix_events_actor_id_id", "events", ["actor_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_events_actor_id_id", table_name="events")
    op.drop_index("ix_interactions_queued_at", table_name="interactions")
