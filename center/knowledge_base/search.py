"""Full-text search behind one interface: PostgreSQL tsvector/GIN or SQLite FTS5 bm25, with
the same typo correction on both (vocab.py).

Both engines get the same parsed query (see query.py) and return the same SearchHit rows.
Snippets come back with \x02/\x03 around matches; we HTML-escape and then turn those
into <mark>, so article text can never inject markup into a results page.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from center.knowledge_base import vocab
from center.knowledge_base.models import PUBLISHED, SearchLog
from center.knowledge_base.query import (
    MAX_QUERY,
    BadQuery,
    Fixes,
    Parsed,
    fts5,
    key_terms,
    parse,
    tsquery,
)
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


def _filter(t: str) -> str:
    return (
        f"(CAST(:drafts AS BOOLEAN) OR {t}.status = :published)"
        f" AND (CAST(:locale AS VARCHAR) IS NULL OR {t}.locale = :locale)"
    )


# Rank first, snippet after: bm25 needs only the FTS index, but snippet() reads and
# re-tokenises the body, so it runs for the returned page only. The filter joins the
# covering index (id, status, locale): status sits behind the body columns, and reading
# it from the table meant following overflow pages for every match. CROSS JOIN fixes the
# join order: the page drives, else SQLite scans every match again to find the page's rows.
_SQLITE = f"""
WITH top AS (
  SELECT kb_fts.rowid AS id, bm25(kb_fts, 10.0, 4.0, 1.0) AS rank
  FROM kb_fts JOIN kb_articles f INDEXED BY ix_kb_articles_search ON f.id = kb_fts.rowid
  WHERE kb_fts MATCH :q AND {_filter("f")}
  ORDER BY rank LIMIT :limit)
SELECT a.id, a.slug, a.title, a.answer, -top.rank AS score,
       snippet(kb_fts, 2, char(2), char(3), '…', 16) AS snippet
FROM top CROSS JOIN kb_fts CROSS JOIN kb_articles a
WHERE kb_fts MATCH :q AND kb_fts.rowid = top.id AND a.id = top.id
ORDER BY top.rank, top.id"""

# kb_search is narrow (id, status, locale, inline tsvector), so ranking never touches the
# wide article rows. At most CANDIDATES matches are ranked (bounded cost for queries of
# very common words); ts_headline re-parses the body, so it runs on the page only.
# The tsquery is a scalar subquery (an InitPlan, computed once): asyncpg prepares the
# statement, and in PostgreSQL's generic plan a bare to_tsquery($1, $2) is re-parsed for
# every row, 4-10x slower. The InitPlan also keeps the planner on the GIN index: with a
# constant query it prices the bitmap heap scan at random-I/O cost and prefers a seq scan
# that evaluates @@ on every row once a few thousand rows match.
_TSQ = "(SELECT to_tsquery(CAST(:config AS regconfig), :q))"
_POSTGRES = f"""
SELECT a.id, a.slug, a.title, a.answer, top.score,
       ts_headline(CAST(:config AS regconfig), a.body_text, {_TSQ},
         'StartSel=' || chr(2) || ', StopSel=' || chr(3) || ', MaxWords=30, MinWords=12')
         AS snippet
FROM (
  SELECT c.id, ts_rank(c.tsv, {_TSQ}) AS score
  FROM (SELECT s.id, s.tsv FROM kb_search s
        WHERE s.tsv @@ {_TSQ} AND {_filter("s")} LIMIT :candidates) c
  ORDER BY score DESC, c.id LIMIT :limit) top
JOIN kb_articles a ON a.id = top.id
ORDER BY top.score DESC, top.id"""
CANDIDATES = 5000


def _queries(parsed: Parsed, fixes: Fixes, dialect: str) -> list[str]:
    """The engine queries to try in turn: all words required (cheap: a small candidate
    set, and the best matches anyway), then any word when that finds too few."""
    build = fts5 if dialect == "sqlite" else tsquery
    every, required = build(parsed, fixes, "OR"), build(parsed, fixes, "AND")
    return [every] if not required or required == every else [required, every]


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
        sql = _SQLITE
    else:
        sql = _POSTGRES
        params.update(config=ts_config(locale), candidates=CANDIDATES)
    async with db.read() as session:
        fixes = await vocab.corrections(session, db.dialect, parsed.words, params.get("config", ""))
        rows: list[Any] = []
        for q in _queries(parsed, fixes, db.dialect):
            rows = list(await session.execute(text(sql), {**params, "q": q}))
            if len(rows) >= params["limit"]:
                break
    return [_hit(r) for r in rows]


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
