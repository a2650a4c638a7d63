"""Full-text search behind one interface: PostgreSQL tsvector/GIN (+ pg_trgm typo fallback)
or SQLite FTS5 bm25 (+ vocabulary-based typo fallback).

Both engines get the same parsed query (see query.py) and return the same SearchHit rows.
Snippets come back with \x02/\x03 around matches; we HTML-escape and then turn those
into <mark>, so article text can never inject markup into a results page.
"""

from __future__ import annotations

import difflib
import html
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from center.knowledge_base.models import PUBLISHED, SearchLog
from center.knowledge_base.query import MAX_QUERY, BadQuery, Parsed, fts5, key_terms, parse, tsquery
from center.records.db import Database

__all__ = ["Answer", "BadQuery", "SearchHit", "answer", "search", "suggest", "ts_config"]

_CONFIGS = {
    "en": "english",
    "fr": "french",
    "de": "german",
    "es": "spanish",
    "it": "italian",
    "pt": "portuguese",
    "nl": "dutch",
    "sv": "swedish",
    "ru": "russian",
}


def ts_config(locale: str | None) -> str:
    return _CONFIGS.get((locale or "en").split("-")[0].lower(), "simple")


@dataclass
class SearchHit:
    article_id: int
    slug: str
    title: str
    snippet: str
    score: float
    answer: str | None
    url: str


@dataclass
class Answer:
    article_id: int
    title: str
    text: str
    confidence: float
    url: str


def _mark(raw: str | None) -> str:
    return html.escape(raw or "").replace("\x02", "<mark>").replace("\x03", "</mark>")


def _hit(row: Any) -> SearchHit:
    return SearchHit(
        article_id=row.id,
        slug=row.slug,
        title=row.title,
        snippet=_mark(row.snippet),
        score=float(row.score),
        answer=row.answer,
        url=f"/help/articles/{row.slug}",
    )


_FILTER = (
    "(CAST(:drafts AS BOOLEAN) OR a.status = :published)"
    " AND (CAST(:locale AS VARCHAR) IS NULL OR a.locale = :locale)"
)

_SQLITE = f"""
SELECT a.id, a.slug, a.title, a.answer, -bm25(kb_fts, 10.0, 4.0, 1.0) AS score,
       snippet(kb_fts, 2, char(2), char(3), '…', 16) AS snippet
FROM kb_fts JOIN kb_articles a ON a.id = kb_fts.rowid
WHERE kb_fts MATCH :q AND {_FILTER}
ORDER BY bm25(kb_fts, 10.0, 4.0, 1.0) LIMIT :limit"""

# Rank first, headline after: ts_headline re-parses the body, so only run it on the page.
_POSTGRES = f"""
WITH q AS (SELECT to_tsquery(CAST(:config AS regconfig), :q) AS q),
top AS (
  SELECT a.id, a.slug, a.title, a.answer, a.body_text, ts_rank(a.tsv, q.q) AS score
  FROM kb_articles a, q
  WHERE a.tsv @@ q.q AND {_FILTER}
  ORDER BY score DESC, a.id LIMIT :limit)
SELECT top.id, top.slug, top.title, top.answer, top.score,
       ts_headline(CAST(:config AS regconfig), top.body_text, q.q,
         'StartSel=' || chr(2) || ', StopSel=' || chr(3) || ', MaxWords=30, MinWords=12')
         AS snippet
FROM top, q ORDER BY top.score DESC, top.id"""


def _postgres_fuzzy(words: list[str]) -> tuple[str, dict[str, str]]:
    """Typo fallback on PostgreSQL: per-word trigram similarity to titles (GIN trigram
    index via <%); whole-query similarity is too diluted by the correctly spelt words."""
    params = {f"w{i}": w for i, w in enumerate(words[:8])}
    match = " OR ".join(f":{k} <% a.title" for k in params)
    score = " + ".join(f"word_similarity(:{k}, a.title)" for k in params)
    sql = f"""
SELECT a.id, a.slug, a.title, a.answer, {score} AS score, left(a.body_text, 160) AS snippet
FROM kb_articles a
WHERE ({match}) AND {_FILTER}
ORDER BY score DESC, a.id LIMIT :limit"""
    return sql, params


async def _run(db: Database, sql: str, params: dict[str, Any]) -> list[SearchHit]:
    async with db.read() as session:
        if db.dialect == "postgresql":
            await session.execute(text("SET LOCAL pg_trgm.word_similarity_threshold = 0.6"))
        rows = (await session.execute(text(sql), params)).all()
    return [_hit(r) for r in rows]


async def _sqlite_corrected(db: Database, parsed: Parsed) -> Parsed | None:
    """Replace words the index has never seen by their closest indexed term.

    Candidates share the word's first letter (typos rarely hit it), which keeps the
    vocabulary scan a small range query on fts5vocab instead of the whole index."""
    changed = False
    words = []
    async with db.read() as session:
        for word in parsed.words:
            if len(word) > 3 and not word.isdigit():
                rows = await session.execute(
                    text(
                        "SELECT term FROM kb_fts_vocab WHERE term >= :lo AND term < :hi"
                        " AND length(term) BETWEEN :short AND :long"
                    ),
                    {
                        "lo": word[0],
                        "hi": chr(ord(word[0]) + 1),
                        "short": len(word) - 3,
                        "long": len(word) + 2,
                    },
                )
                vocab = [r[0] for r in rows]
                if word not in vocab:
                    close = difflib.get_close_matches(word, vocab, n=1, cutoff=0.75)
                    if close:
                        word, changed = close[0], True
            words.append(word)
    return Parsed(words, parsed.prefixes, parsed.phrases) if changed else None


async def _search(
    db: Database, parsed: Parsed, locale: str | None, limit: int, drafts: bool
) -> list[SearchHit]:
    params: dict[str, Any] = {
        "limit": max(1, min(limit, 100)),
        "locale": locale,
        "drafts": drafts,
        "published": PUBLISHED,
    }
    if db.dialect == "sqlite":
        hits = await _run(db, _SQLITE, {**params, "q": fts5(parsed)})
        if not hits and (fixed := await _sqlite_corrected(db, parsed)):
            hits = await _run(db, _SQLITE, {**params, "q": fts5(fixed)})
        return hits
    config = ts_config(locale)
    hits = await _run(db, _POSTGRES, {**params, "q": tsquery(parsed), "config": config})
    if not hits and (words := [w for w in parsed.words if len(w) > 3]):
        sql, fuzzy = _postgres_fuzzy(words)
        hits = await _run(db, sql, {**params, **fuzzy})
    return hits


async def _log(db: Database, query: str, hits: int, source: str) -> None:
    # One tiny insert in its own short transaction (never held open across other awaits).
    async with db.transaction() as session:
        session.add(SearchLog(query=query[:MAX_QUERY], hits=hits, source=source))


async def search(
    db: Database,
    query: str,
    *,
    locale: str | None = None,
    limit: int = 10,
    include_drafts: bool = False,
    log: bool = True,
) -> list[SearchHit]:
    """Ranked articles for a user query; raises BadQuery for empty/too long/no words."""
    parsed = parse(query)
    hits = await _search(db, parsed, locale, limit, include_drafts)
    if log:
        await _log(db, query.strip(), len(hits), "search")
    return hits


async def suggest(
    db: Database, text: str, *, locale: str | None = None, limit: int = 3
) -> list[SearchHit]:
    """Top articles for free conversation text (chat deflection, agent suggestions)."""
    terms = key_terms(text or "")
    if not terms:
        return []
    try:
        return await _search(db, parse(terms), locale, limit, False)
    except BadQuery:
        return []


def _confidence(parsed: Parsed, hit_text: str, top: float, second: float) -> float:
    words = set(parsed.terms)
    if not words:
        return 0.0
    haystack = hit_text.lower()
    # Share of the question's words the article covers (prefix match ≈ stemming) ...
    covered = sum(1 for w in words if w[: max(4, len(w) - 3)] in haystack) / len(words)
    # ... discounted when the runner-up scores almost as well (an ambiguous question).
    margin = 1.0 if top <= 0 else min(1.0, 0.6 + (top - second) / top)
    return round(max(0.0, min(1.0, covered * margin)), 3)


async def answer(db: Database, question: str, *, locale: str | None = None) -> Answer | None:
    """A short plain-text answer (TTS/SMS) with a confidence, or None if not confident."""
    try:
        parsed = parse(question[:MAX_QUERY])
        hits = await search(db, question[:MAX_QUERY], locale=locale, limit=2)
    except BadQuery:
        return None
    if not hits:
        return None
    top = hits[0]
    async with db.read() as session:
        row = (
            await session.execute(
                text("SELECT title, tags_text, body_text FROM kb_articles WHERE id = :id"),
                {"id": top.article_id},
            )
        ).one()
    confidence = _confidence(
        parsed, " ".join(row), top.score, hits[1].score if len(hits) > 1 else 0.0
    )
    if confidence < 0.5:
        return None
    short = top.answer or row.body_text
    if len(short) > 320:
        short = short[:317].rsplit(" ", 1)[0] + "…"
    return Answer(top.article_id, top.title, short, confidence, top.url)
