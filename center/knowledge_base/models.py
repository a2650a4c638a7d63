"""Knowledge-base tables: articles (one row per slug and locale), revisions, feedback.

The search structures (FTS5 tables on SQLite; the kb_search table with its tsvector + GIN on
PostgreSQL) are not mapped here: they are dialect-specific and created by migrations 0002
and 0004, used via raw SQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from center.records.base import Base, BigId, utcnow

DRAFT = "draft"
PUBLISHED = "published"


class Category(Base):
    __tablename__ = "kb_categories"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class Article(Base):
    __tablename__ = "kb_articles"
    __table_args__ = (
        UniqueConstraint("slug", "locale", name="uq_kb_articles_slug_locale"),
        Index("ix_kb_articles_status_locale", "status", "locale"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(16), default="en")
    title: Mapped[str] = mapped_column(String(300))
    body_md: Mapped[str] = mapped_column(Text, default="")
    # Plain text of the rendered body: what the search engines index and snippet.
    body_text: Mapped[str] = mapped_column(Text, default="")
    answer: Mapped[str | None] = mapped_column(String(320))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("kb_categories.id"))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags_text: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=DRAFT)
    ts_config: Mapped[str] = mapped_column(String(32), default="english")
    views: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Revision(Base):
    """Who changed what, when: a full snapshot per save (articles are small)."""

    __tablename__ = "kb_revisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(32))
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attachment(Base):
    __tablename__ = "kb_attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Feedback(Base):
    __tablename__ = "kb_feedback"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id"), index=True)
    helpful: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SearchLog(Base):
    __tablename__ = "kb_search_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    query: Mapped[str] = mapped_column(String(500))
    hits: Mapped[int]
    source: Mapped[str] = mapped_column(String(16), default="search")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Word(Base):
    """A word seen in some article (see vocab.py): the vocabulary for typo correction."""

    __tablename__ = "kb_words"

    word: Mapped[str] = mapped_column(String(64), primary_key=True)
    docs: Mapped[int] = mapped_column(default=0)


class Vector(Base):
    """One embedded part of an article (see embed.py): part 0 is the head (title, summary,
    tags, headings), then the body or its sections. Rewritten, with new ids, on every save
    that changes the article, so the in-memory index (index.py) sees changes as ids past
    the last one it read."""

    __tablename__ = "kb_vectors"
    __table_args__ = {"sqlite_autoincrement": True}  # ids never reused (see index.py)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("kb_articles.id", ondelete="CASCADE"), index=True
    )
    part: Mapped[int] = mapped_column(default=0)
    model: Mapped[str] = mapped_column(String(64))
    vector: Mapped[bytes] = mapped_column(LargeBinary)
