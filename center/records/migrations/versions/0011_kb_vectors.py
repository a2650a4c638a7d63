"""knowledge base: stored sentence vectors for hybrid search

Revision ID: 0011
Revises: 0006

kb_vectors holds each article's embedded parts (center/knowledge_base/embed.py): its head
(title, summary, tags, headings) and its body, or its sections when long. Existing
articles are embedded here, with the model that ships in the wordllama wheel (no download).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kb_vectors",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column(
            "article_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.ForeignKey("kb_articles.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("part", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        # Ids are never reused: the search index spots a re-saved article by its new ids.
        sqlite_autoincrement=True,
    )
    op.create_index("ix_kb_vectors_article_id", "kb_vectors", ["article_id"])
    bind = op.get_bind()
    rows = list(
        bind.execute(
            sa.text("SELECT id, title, answer, tags_text, body_md, body_text FROM kb_articles")
        )
    )
    if rows:
        from center.knowledge_base.vectors import rows_for

        bind.execute(
            sa.text(
                "INSERT INTO kb_vectors (article_id, part, model, vector)"
                " VALUES (:article_id, :part, :model, :vector)"
            ),
            [
                v
                for r in rows
                for v in rows_for(r.id, r.title, r.answer, r.tags_text, r.body_md, r.body_text)
            ],
        )


def downgrade() -> None:
    op.drop_table("kb_vectors")
