"""knowledge base: articles, revisions, feedback, search log, full-text structures

Revision ID: 0002
Revises: 0003

Chained after 0003 (which also revises 0001) so the history keeps a single head.
"""

from __future__ import annotations

from alembic import op

from center.knowledge_base.models import (
    Article,
    Attachment,
    Category,
    Feedback,
    Revision,
    SearchLog,
)

revision = "0002"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = [Category, Article, Revision, Attachment, Feedback, SearchLog]

SQLITE = [
    # External-content FTS5: the text lives once, in kb_articles; triggers keep it in step.
    """CREATE VIRTUAL TABLE kb_fts USING fts5(title, tags_text, body_text,
        content='kb_articles', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2')""",
    "CREATE VIRTUAL TABLE kb_fts_vocab USING fts5vocab(kb_fts, 'row')",
    """CREATE TRIGGER kb_articles_ai AFTER INSERT ON kb_articles BEGIN
        INSERT INTO kb_fts(rowid, title, tags_text, body_text)
        VALUES (new.id, new.title, new.tags_text, new.body_text); END""",
    """CREATE TRIGGER kb_articles_ad AFTER DELETE ON kb_articles BEGIN
        INSERT INTO kb_fts(kb_fts, rowid, title, tags_text, body_text)
        VALUES ('delete', old.id, old.title, old.tags_text, old.body_text); END""",
    """CREATE TRIGGER kb_articles_au AFTER UPDATE OF title, tags_text, body_text ON kb_articles
        BEGIN
        INSERT INTO kb_fts(kb_fts, rowid, title, tags_text, body_text)
        VALUES ('delete', old.id, old.title, old.tags_text, old.body_text);
        INSERT INTO kb_fts(rowid, title, tags_text, body_text)
        VALUES (new.id, new.title, new.tags_text, new.body_text); END""",
]

POSTGRES = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public",
    "ALTER TABLE kb_articles ADD COLUMN tsv tsvector",
    # A trigger rather than a generated column: the text-search configuration is per row
    # (the article's language) and a text->regconfig cast is not immutable.
    """CREATE FUNCTION kb_articles_tsv() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      NEW.tsv := setweight(to_tsvector(NEW.ts_config::regconfig, coalesce(NEW.title, '')), 'A')
        || setweight(to_tsvector(NEW.ts_config::regconfig, coalesce(NEW.tags_text, '')), 'B')
        || setweight(to_tsvector(NEW.ts_config::regconfig, coalesce(NEW.body_text, '')), 'C');
      RETURN NEW;
    END $$""",
    """CREATE TRIGGER kb_articles_tsv BEFORE INSERT OR UPDATE ON kb_articles
        FOR EACH ROW EXECUTE FUNCTION kb_articles_tsv()""",
    "CREATE INDEX ix_kb_articles_tsv ON kb_articles USING gin (tsv)",
    "CREATE INDEX ix_kb_articles_title_trgm ON kb_articles USING gin (title public.gin_trgm_ops)",
]


def upgrade() -> None:
    bind = op.get_bind()
    for model in TABLES:
        model.__table__.create(bind)  # type: ignore[attr-defined]
    for statement in SQLITE if bind.dialect.name == "sqlite" else POSTGRES:
        op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS kb_fts_vocab")
        op.execute("DROP TABLE IF EXISTS kb_fts")
    else:
        op.execute("DROP TRIGGER IF EXISTS kb_articles_tsv ON kb_articles")
        op.execute("DROP FUNCTION IF EXISTS kb_articles_tsv()")
    for model in reversed(TABLES):
        model.__table__.drop(bind)  # type: ignore[attr-defined]
