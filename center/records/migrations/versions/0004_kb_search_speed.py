"""knowledge base: fast search (narrow search table / covering index) and a word vocabulary

Revision ID: 0004
Revises: 0002

PostgreSQL: the tsvector moves from kb_articles to a narrow kb_search table (id, status,
locale, tsv kept inline). In kb_articles every row is wide (Markdown + plain text), so the
tsvector was TOASTed and ranking 2,000 matches meant 8,000 buffer reads; in kb_search a
page holds ~10 rows and nothing is out of line. The trigger also stops firing on view-count
updates.

SQLite: a covering index (id, status, locale) so the published/locale filter of a search
does not read each matching article row (status sits behind the body columns, on overflow
pages). kb_words_tri: an FTS5 trigram index over kb_words for typo candidates.

Both: kb_words, the vocabulary (see center/knowledge_base/vocab.py), filled from the
existing articles.
"""

from __future__ import annotations

from collections import Counter

from alembic import op
from sqlalchemy import text

from center.knowledge_base.models import Word
from center.knowledge_base.vocab import words_of

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None

_TSV = """setweight(to_tsvector({r}.ts_config::regconfig, coalesce({r}.title, '')), 'A')
        || setweight(to_tsvector({r}.ts_config::regconfig, coalesce({r}.tags_text, '')), 'B')
        || setweight(to_tsvector({r}.ts_config::regconfig, coalesce({r}.body_text, '')), 'C')"""

POSTGRES = [
    """CREATE TABLE kb_search (
        id BIGINT PRIMARY KEY REFERENCES kb_articles (id) ON DELETE CASCADE,
        status VARCHAR(16) NOT NULL,
        locale VARCHAR(16) NOT NULL,
        tsv tsvector NOT NULL)""",
    # MAIN: compressed but kept in the row, so ranking never follows a TOAST pointer.
    "ALTER TABLE kb_search ALTER COLUMN tsv SET STORAGE MAIN",
    "DROP TRIGGER kb_articles_tsv ON kb_articles",
    "DROP FUNCTION kb_articles_tsv()",
    "ALTER TABLE kb_articles DROP COLUMN tsv",
    f"""CREATE FUNCTION kb_articles_search() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO kb_search (id, status, locale, tsv)
      VALUES (NEW.id, NEW.status, NEW.locale, {_TSV.format(r="NEW")})
      ON CONFLICT (id) DO UPDATE
        SET status = excluded.status, locale = excluded.locale, tsv = excluded.tsv;
      RETURN NULL;
    END $$""",
    """CREATE TRIGGER kb_articles_search
        AFTER INSERT OR UPDATE OF title, tags_text, body_text, status, locale, ts_config
        ON kb_articles FOR EACH ROW EXECUTE FUNCTION kb_articles_search()""",
    f"""INSERT INTO kb_search (id, status, locale, tsv)
        SELECT a.id, a.status, a.locale, {_TSV.format(r="a")} FROM kb_articles a""",
    "CREATE INDEX ix_kb_search_tsv ON kb_search USING gin (tsv)",
    "CREATE INDEX ix_kb_words_trgm ON kb_words USING gin (word public.gin_trgm_ops)",
]

SQLITE = [
    "CREATE INDEX ix_kb_articles_search ON kb_articles (id, status, locale)",
    "CREATE VIRTUAL TABLE kb_words_tri USING fts5(word, tokenize='trigram')",
    """CREATE TRIGGER kb_words_ai AFTER INSERT ON kb_words BEGIN
        INSERT INTO kb_words_tri(rowid, word) VALUES (new.rowid, new.word); END""",
    """CREATE TRIGGER kb_words_ad AFTER DELETE ON kb_words BEGIN
        DELETE FROM kb_words_tri WHERE rowid = old.rowid; END""",
]


def upgrade() -> None:
    bind = op.get_bind()
    Word.__table__.create(bind)  # type: ignore[attr-defined]
    for statement in SQLITE if bind.dialect.name == "sqlite" else POSTGRES:
        op.execute(statement)
    counts: Counter[str] = Counter()
    for row in bind.execute(text("SELECT title, tags_text, body_text FROM kb_articles")):
        counts.update(words_of(*row))
    if counts:
        bind.execute(
            text("INSERT INTO kb_words (word, docs) VALUES (:word, :docs)"),
            [{"word": w, "docs": n} for w, n in sorted(counts.items())],
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP INDEX IF EXISTS ix_kb_articles_search")
        op.execute("DROP TABLE IF EXISTS kb_words_tri")
    else:
        op.execute("DROP TRIGGER kb_articles_search ON kb_articles")
        op.execute("DROP FUNCTION kb_articles_search()")
        op.execute("DROP TABLE kb_search")
        op.execute("ALTER TABLE kb_articles ADD COLUMN tsv tsvector")
        op.execute(
            f"""CREATE FUNCTION kb_articles_tsv() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN NEW.tsv := {_TSV.format(r="NEW")}; RETURN NEW; END $$"""
        )
        op.execute(
            """CREATE TRIGGER kb_articles_tsv BEFORE INSERT OR UPDATE ON kb_articles
            FOR EACH ROW EXECUTE FUNCTION kb_articles_tsv()"""
        )
        op.execute(f"UPDATE kb_articles SET tsv = {_TSV.format(r='kb_articles')}")
        op.execute("CREATE INDEX ix_kb_articles_tsv ON kb_articles USING gin (tsv)")
    Word.__table__.drop(bind)  # type: ignore[attr-defined]
