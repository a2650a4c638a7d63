"""Article service: create/update with a revision per change, publish, categories."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from center.knowledge_base import render, vectors, vocab
from center.knowledge_base.models import DRAFT, Article, Category, Revision
from center.knowledge_base.search import ts_config
from center.payloads import BlankIsNone, Locale, Payload, Text, describe
from center.records.base import utcnow
from center.records.db import Database

EDITABLE = ("title", "body_md", "answer", "tags", "status", "category")
# Slugs are URL path segments (/help/articles/<slug>) and file names on export: lowercase
# words joined by single hyphens, so they need no escaping anywhere.
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


# Article saves committed in this process, counted: a reader that caches an answer about
# the articles (agent assist's "is anything published?") asks again after one. Saves in
# other processes reach such caches when their short lifetime ends.
_saves = 0


def saves() -> int:
    return _saves


class SlugTaken(ValueError):
    """Another article of the same locale has this slug already."""


@dataclass
class Fields:
    """Validated article fields (from JSON or front matter)."""

    slug: str
    title: str
    body_md: str = ""
    locale: str = "en"
    answer: str | None = None
    tags: tuple[str, ...] = ()
    status: str = DRAFT
    category: str | None = None


MAX_BODY_CHARS = 1_000_000  # what a JSON body may carry at all
MAX_TAGS, MAX_TAG_CHARS = 50, 64
Tag = Text(MAX_TAG_CHARS)


class ArticleIn(Payload):
    """An article as the API or a file's front matter gives it: strings are strings (an
    object is refused, never turned into its repr), each within its column."""

    slug: Text(200)
    title: Text(300)
    body_md: Text(MAX_BODY_CHARS, min_chars=0, strip=False) | None = None
    body: Text(MAX_BODY_CHARS, min_chars=0, strip=False) | None = None  # (files' name)
    locale: Annotated[Locale | None, BlankIsNone] = None
    answer: Text(320, min_chars=0, strip=False) | None = None
    tags: Annotated[list[Tag], Field(max_length=MAX_TAGS)] | None = None
    status: Literal["draft", "published"] = DRAFT
    category: Annotated[Text(120) | None, BlankIsNone] = None


def category_slug(name: str) -> str:
    """A category's slug from its name as written: "Billing & Payments" -> billing-payments."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return "-".join(re.findall(r"[a-z0-9]+", plain))[:120]


def fields_from(data: dict[str, Any]) -> Fields:
    """Check a dict of fields; raises ValueError with a message a user can act on."""
    try:
        a = ArticleIn.model_validate(data)
    except ValidationError as exc:
        where, _kind, message = describe(exc)
        raise ValueError(f"{where}: {message}" if where else message) from None
    if not SLUG.fullmatch(a.slug):
        raise ValueError(
            f"slug {a.slug!r} may use only lowercase a-z, 0-9 and single hyphens"
            " between them (e.g. reset-your-password)"
        )
    return Fields(
        slug=a.slug,
        title=a.title,
        body_md=a.body_md or a.body or "",
        locale=a.locale or "en",
        answer=a.answer,
        tags=tuple(a.tags or ()),
        status=a.status,
        category=category_slug(a.category) or None if a.category else None,
    )


def snapshot(article: Article) -> dict[str, Any]:
    return {
        "slug": article.slug,
        "locale": article.locale,
        "title": article.title,
        "body_md": article.body_md,
        "answer": article.answer,
        "tags": list(article.tags or []),
        "status": article.status,
    }


async def _category_id(
    session: AsyncSession, slug: str | None, name: str | None = None
) -> int | None:
    if not slug:
        return None
    found = await session.scalar(select(Category).where(Category.slug == slug))
    if found is None:
        found = Category(slug=slug, name=name or slug.replace("-", " ").capitalize())
        session.add(found)
        await session.flush()
    return found.id


async def save(
    session: AsyncSession,
    fields: Fields,
    author_id: int | None,
    words: Counter[str] | None = None,
    *,
    article_id: int | None = None,
    names: dict[str, str] | None = None,
    embed_later: list[Article] | None = None,
) -> tuple[Article, str]:
    """Insert or update by (slug, locale); returns the article and created/updated/unchanged.

    With ``article_id`` that article is updated, and renamed when ``fields.slug`` differs
    (SlugTaken if another article of its locale has that slug).
    The article's words go to the vocabulary; a bulk caller passes ``words`` to collect
    them and writes them once per batch (vocab.add) instead of once per article, and
    ``embed_later`` to collect the articles whose vectors it writes once per batch
    (vectors.replace) in the same transaction."""
    # The category first: its lookup autoflushes, and a new article flushed half-filled
    # would be written twice (an INSERT, then an UPDATE re-running the search triggers).
    category_id = await _category_id(
        session, fields.category, (names or {}).get(fields.category or "")
    )
    by_slug = select(Article).where(Article.slug == fields.slug, Article.locale == fields.locale)
    if article_id is None:
        article = await session.scalar(by_slug)
    else:
        article = await session.get(Article, article_id)
        if article is None:
            raise LookupError(f"no article {article_id}")
        if article.slug != fields.slug and await session.scalar(by_slug) is not None:
            raise SlugTaken(f"slug {fields.slug!r} is taken by another article")
    action = "created" if article is None else "updated"
    if article is None:
        article = Article(slug=fields.slug, locale=fields.locale, views=0)
        session.add(article)
    before = None if action == "created" else (snapshot(article), article.category_id)
    article.slug = fields.slug
    article.title = fields.title
    article.body_md = fields.body_md
    article.body_text = render.to_text(fields.body_md)
    article.answer = fields.answer
    article.tags = list(fields.tags)
    article.tags_text = " ".join(fields.tags)
    article.status = fields.status
    article.ts_config = ts_config(fields.locale)
    article.category_id = category_id
    if before == (snapshot(article), article.category_id):
        return article, "unchanged"
    article.updated_at = utcnow()
    await session.flush()
    session.add(
        Revision(
            article_id=article.id, author_id=author_id, action=action, snapshot=snapshot(article)
        )
    )
    # The vectors of this revision, in the same transaction: search never sees an article
    # without them, nor vectors of a revision that was rolled back.
    if embed_later is None:
        await vectors.replace(session, [article])
    else:
        embed_later.append(article)
    # Words after the article, as a bulk import does: the same lock order everywhere (and
    # vocab.add sorts), so concurrent saves cannot deadlock on kb_words rows.
    found = Counter(vocab.words_of(article.title, article.tags_text, article.body_text))
    if words is None:
        await vocab.add(session, found)
    else:
        words.update(found)
    return article, action


async def save_one(
    db: Database, fields: Fields, author_id: int | None, *, article_id: int | None = None
) -> tuple[Article, str]:
    global _saves
    try:
        async with db.transaction() as session:
            return await save(session, fields, author_id, article_id=article_id)
    finally:
        _saves += 1


def article_json(article: Article, category: str | None = None) -> dict[str, Any]:
    return {
        "id": article.id,
        **snapshot(article),
        "category": category,
        "html": render.to_html(article.body_md),
        "views": article.views,
        "updated_at": article.updated_at.isoformat(),
    }
