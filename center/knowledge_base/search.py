"""Hybrid search: the full-text index (SQLite FTS5 / PostgreSQL tsvector) fused with the
semantic similarity of sentence vectors, ranked the same way on both databases.

1. The question is understood once (query.py, spell.py): contractions written out,
   filler and narrative dropped, words that are not real words corrected into the
   knowledge base's vocabulary.
2. Lexical side: the engine says which articles match each content word (one statement,
   one branch per word, ids in id order). Ranking uses only those sets (an idf weight per
   word, doubled where the word is in the title, x1.5 in the summary or tags), never an engine's own
   score, so bm25 and ts_rank cannot order the results differently.
3. Semantic side: the question's vector against every article part (index.py).
4. fused = semantic + LEXICAL_WEIGHT * lexical (both in [0, 1]); ties go to the lower id.

Snippets are cut in Python from the article text (escaped, matches in <mark>), so article
text can never inject markup into a results page, and both databases show the same.
"""

from __future__ import annotations

import asyncio
import html
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import bindparam, text

from center.knowledge_base import embed, index
from center.knowledge_base.models import SearchLog
from center.knowledge_base.query import MAX_QUERY, BadQuery, Parsed, content_text, parse
from center.records.db import Database

__all__ = ["Answer", "BadQuery", "SearchHit", "answer", "related", "search", "suggest", "ts_config"]

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
LEXICAL_WEIGHT = 0.7
MIN_SEMANTIC = 0.45  # an article with no word in common is listed only above this
RELATED_MIN = 0.35  # "related articles": at least this close in meaning
MAX_TERMS = 12  # content words sent to the engine (the rarest first)
TERM_CAP = 1000  # a word in more articles than this carries no weight
# answer(): shown only when the fused score plus twice its lead over the runner-up reaches
# ANSWER_AT; calibrated on tests/knowledge_base/eval so that a shown answer is the right
# article >= 90% of the time (93% measured; see bench/kb_quality.py).
MARGIN_WEIGHT = 2.0
ANSWER_AT = 0.82


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


@dataclass
class Understood:
    words: list[str]  # content words, corrected
    fixes: dict[str, str]
    prefixes: list[str]
    phrases: list[list[str]]

    @property
    def corrected(self) -> str:
        return " ".join(self.words + self.prefixes + [w for p in self.phrases for w in p])


@dataclass
class Ranked:
    position: int
    score: float
    semantic: float
    lexical: float


def _understand(idx: index.Index, parsed: Parsed) -> Understood:
    speller = idx.speller
    fixes = speller.fixes(parsed.words) if speller else {}
    words = list(dict.fromkeys(fixes.get(w, w) for w in parsed.words))
    if speller and len(words) > MAX_TERMS:
        # Rarest first: a long message's topic words are the ones few articles use.
        docs = speller.docs
        words = sorted(words, key=lambda w: (docs.get(w) is None, docs.get(w, 0)))[:MAX_TERMS]
    return Understood(words, fixes, parsed.prefixes[:4], parsed.phrases[:4])


def _terms(u: Understood, dialect: str) -> list[tuple[str, str]]:
    """(engine expression, the word it credits) per lexical term."""
    if dialect == "sqlite":
        out = [(f'"{w}"', w) for w in u.words]
        out += [(f'"{w}" *', w) for w in u.prefixes]
        out += [('"' + " ".join(p) + '"', p[0]) for p in u.phrases]
    else:
        out = [(w, w) for w in u.words]
        out += [(f"{w}:*", w) for w in u.prefixes]
        out += [("(" + " <-> ".join(p) + ")", p[0]) for p in u.phrases]
    return out


async def _matches(session: Any, dialect: str, exprs: list[str], config: str) -> list[set[int]]:
    if not exprs:
        return []
    if dialect == "sqlite":
        branch = (
            "SELECT {i} AS t, id FROM (SELECT rowid AS id FROM kb_fts WHERE kb_fts MATCH :q{i}"
            " ORDER BY rowid LIMIT :cap)"
        )
    else:
        branch = (
            "SELECT {i} AS t, id FROM (SELECT id FROM kb_search WHERE tsv @@"
            " (SELECT to_tsquery(CAST(:config AS regconfig), :q{i})) ORDER BY id LIMIT :cap) s{i}"
        )
    sql = " UNION ALL ".join(branch.format(i=i) for i in range(len(exprs)))
    params: dict[str, Any] = {f"q{i}": e for i, e in enumerate(exprs)}
    params["cap"] = TERM_CAP
    if dialect != "sqlite":
        params["config"] = config
    found: list[set[int]] = [set() for _ in exprs]
    for t, article_id in await session.execute(text(sql), params):
        found[t].add(article_id)
    return found


def _lexical(idx: index.Index, terms: list[tuple[str, str]], found: list[set[int]]) -> np.ndarray:
    n = len(idx.order)
    scores = np.zeros(n, dtype=np.float32)
    total = 0.0
    for (_expr, word), ids in zip(terms, found, strict=True):
        df = len(ids)
        if df >= TERM_CAP:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        total += 2 * idf
        key = index.stem(word)
        positions = [idx.position[i] for i in ids if i in idx.position]
        weights = [
            2.0 if key in d.named else 1.5 if key in d.head else 1.0
            for d in (idx.order[p] for p in positions)
        ]
        np.add.at(scores, np.asarray(positions, dtype=np.int64), idf * np.asarray(weights))
    return scores / total if total else scores


def _common(idx: index.Index, word: str) -> bool:
    """A word in so many articles that it would carry no weight: not asked of the engine.
    (kb_words' counts: the same on both databases.)"""
    speller = idx.speller
    return bool(speller) and speller.docs.get(word, 0) >= TERM_CAP


async def rank(
    db: Database, query: str, *, locale: str | None, drafts: bool, limit: int
) -> tuple[index.Index, Understood, list[Ranked]]:
    """The ranked articles for a question; raises BadQuery for empty/too long/no words."""
    parsed = parse(query)
    async with db.read() as session:
        return await _rank(db, session, parsed, query, locale, drafts, limit)


async def _rank(
    db: Database,
    session: Any,
    parsed: Parsed,
    query: str,
    locale: str | None,
    drafts: bool,
    limit: int,
) -> tuple[index.Index, Understood, list[Ranked]]:
    idx = await index.current(db, session)
    u = _understand(idx, parsed)
    terms = [t for t in _terms(u, db.dialect) if not _common(idx, t[1])]
    found = await _matches(session, db.dialect, [e for e, _ in terms], ts_config(locale))
    if not idx.order:
        return idx, u, []
    model = embed.loaded() or await asyncio.to_thread(embed.model)  # (first: reads files)
    vector = model.embed([u.corrected or query])[0]
    semantic = idx.semantic(vector)
    lexical = _lexical(idx, terms, found)
    fused = semantic + LEXICAL_WEIGHT * lexical
    keep = idx.mask(locale, drafts) & ((lexical > 0) | (semantic >= MIN_SEMANTIC))
    candidates = np.flatnonzero(keep)
    if not len(candidates):
        return idx, u, []
    # Highest fused score first; ties to the lower article id (positions follow ids).
    order = candidates[np.lexsort((candidates, -fused[candidates]))][:limit]
    return (
        idx,
        u,
        [Ranked(int(p), float(fused[p]), float(semantic[p]), float(lexical[p])) for p in order],
    )


SNIPPET_CHARS = 160


def snippet(body: str, keys: set[str]) -> str | None:
    """About SNIPPET_CHARS characters of ``body`` around its first match, matches in
    <mark>, everything else escaped; None when nothing matches. Python, not the engines'
    snippet()/ts_headline(): the same on both databases, and a tenth of ts_headline's cost.
    A word matches when it starts with a query word's stem (prefix* queries too)."""
    if not keys:
        return None
    alternatives = "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True))
    pattern = re.compile(rf"\b(?:{alternatives})[^\W_]*", re.IGNORECASE)
    text_ = body[:20_000]
    first = pattern.search(text_)
    if first is None:
        return None
    start = text_.rfind(" ", 0, max(0, first.start() - SNIPPET_CHARS // 4)) + 1
    end = text_.find(" ", min(len(text_), start + SNIPPET_CHARS))
    end = len(text_) if end < 0 else end
    window, out, at = text_[start:end], [], 0
    for m in pattern.finditer(window):
        out += [html.escape(window[at : m.start()]), f"<mark>{html.escape(m.group())}</mark>"]
        at = m.end()
    out.append(html.escape(window[at:]))
    return ("…" if start > 0 else "") + "".join(out) + ("…" if end < len(body) else "")


async def _snippets(session: Any, u: Understood, ids: list[int]) -> dict[int, str]:
    keys = {index.stem(w) for w in u.words + [w for p in u.phrases for w in p]}
    keys |= set(u.prefixes)
    keys = {k for k in keys if len(k) >= 2}
    if not ids or not keys:
        return {}
    sql = text("SELECT id, body_text FROM kb_articles WHERE id IN :ids")
    rows = await session.execute(sql.bindparams(bindparam("ids", expanding=True)), {"ids": ids})
    bodies = {r[0]: r[1] or "" for r in rows}
    out = {}
    for article_id, body in bodies.items():
        found = snippet(body, keys)
        if found:
            out[article_id] = found
    return out


def _plain(doc: index.Doc) -> str:
    start = doc.answer or doc.body
    return html.escape(start[:200] + ("…" if len(start) > 200 else ""))


async def _search(
    db: Database, query: str, locale: str | None, limit: int, drafts: bool
) -> list[SearchHit]:
    parsed = parse(query)
    async with db.read() as session:  # one read for ranking and the page's snippets
        idx, u, ranked = await _rank(
            db, session, parsed, query, locale, drafts, max(1, min(limit, 100))
        )
        docs = [idx.order[r.position] for r in ranked]
        lexical = [d.article_id for d, r in zip(docs, ranked, strict=True) if r.lexical > 0]
        snippets = await _snippets(session, u, lexical)
    return [
        SearchHit(
            article_id=d.article_id,
            slug=d.slug,
            title=d.title,
            snippet=snippets.get(d.article_id) or _plain(d),
            score=round(r.score, 4),
            answer=d.answer,
            url=f"/help/articles/{d.slug}",
        )
        for d, r in zip(docs, ranked, strict=True)
    ]


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
    hits = await _search(db, query, locale, limit, include_drafts)
    if log:
        await _log(db, query.strip(), len(hits), "search")
    return hits


async def suggest(
    db: Database, text: str, *, locale: str | None = None, limit: int = 3
) -> list[SearchHit]:
    """Top articles for free conversation text (chat deflection, agent suggestions): the
    same retrieval as search, on the message's content words."""
    terms = content_text(text or "")
    if not terms:
        return []
    try:
        return await _search(db, terms, locale, limit, False)
    except BadQuery:
        return []


def confidence(top: float, second: float) -> float:
    """The fused score and its lead over the runner-up as one number in [0, 1], where 0.5
    is the calibrated threshold: an answer is shown from 0.5 up."""
    strength = top + MARGIN_WEIGHT * max(0.0, top - second)
    return round(max(0.0, min(1.0, 0.5 * strength / ANSWER_AT)), 3)


async def answer(db: Database, question: str, *, locale: str | None = None) -> Answer | None:
    """A short plain-text answer (TTS/SMS) with a confidence, or None if not confident."""
    text_in = question if len(question) <= MAX_QUERY else content_text(question)
    try:
        idx, _u, ranked = await rank(db, text_in, locale=locale, drafts=False, limit=2)
    except BadQuery:
        return None
    if not ranked:
        return None
    second = ranked[1].score if len(ranked) > 1 else 0.0
    score = confidence(ranked[0].score, second)
    if score < 0.5:
        return None
    top = idx.order[ranked[0].position]
    async with db.read() as session:
        body = await session.scalar(
            text("SELECT body_text FROM kb_articles WHERE id = :id"), {"id": top.article_id}
        )
    short = top.answer or body or ""
    if len(short) > 320:
        short = short[:317].rsplit(" ", 1)[0] + "…"
    return Answer(top.article_id, top.title, short, score, f"/help/articles/{top.slug}")


async def related(
    db: Database, article_id: int, *, locale: str | None, limit: int = 4
) -> list[SearchHit]:
    """Published articles closest in meaning to this one (its head vector), for "related
    articles" on the help centre."""
    async with db.read() as session:
        idx = await index.current(db, session)
    pos = idx.position.get(article_id)
    if pos is None:
        return []
    similarity = idx.semantic(idx.order[pos].vectors[0])
    similarity[pos] = -1.0
    keep = np.flatnonzero(idx.mask(locale, False) & (similarity >= RELATED_MIN))
    order = keep[np.lexsort((keep, -similarity[keep]))][:limit]
    return [
        SearchHit(
            d.article_id,
            d.slug,
            d.title,
            _plain(d),
            round(float(similarity[p]), 4),
            d.answer,
            f"/help/articles/{d.slug}",
        )
        for p in order
        for d in [idx.order[int(p)]]
    ]
