"""The in-memory side of hybrid search: every article's vectors in one numpy matrix, with
what ranking needs to know of each article (status, locale, head words, speller).

One index per Database in this process. Before each search one cheap statement asks for
kb_vectors' highest id, row count and sum of ids; when any moved, the rows past the last id
read are fetched (a save writes its article's vectors anew, with new ids, so they are the
changed articles), and a sum that still disagrees (a transaction that committed out of id
order) reloads everything. Ids only grow (a sequence; AUTOINCREMENT on SQLite, which would
otherwise reuse the ids of the rows a save just deleted), so any change moves the sum.
At 10,000 articles the matrix is ~20,000 x 256 float32 (20 MB); ranking them
all against a query is one matrix-vector product, ~2 ms.
"""

from __future__ import annotations

import asyncio
import re
import time
import weakref
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from threadpoolctl import threadpool_limits

from center.knowledge_base import embed
from center.knowledge_base.models import PUBLISHED
from center.knowledge_base.spell import Speller
from center.records.db import Database

_WORD = re.compile(r"[^\W_]+")
_ENDINGS = ("ing", "ed", "es", "ly", "s")


def stem(word: str) -> str:
    """A crude, engine-independent stem, only to compare query words with titles."""
    for end in _ENDINGS:
        if word.endswith(end) and len(word) - len(end) >= 3:
            word = word[: -len(end)]
            # resetting -> resett -> reset, stopped -> stopp -> stop
            if end in ("ing", "ed") and len(word) > 3 and word[-1] == word[-2]:
                word = word[:-1]
            return word
    return word


def stems(*texts: str | None) -> frozenset[str]:
    return frozenset(stem(w) for t in texts for w in _WORD.findall((t or "").lower()))


@dataclass
class Doc:
    article_id: int
    slug: str
    title: str
    answer: str | None
    status: str
    locale: str
    head: frozenset[str]  # stems of the summary and tags
    named: frozenset[str]  # stems of the title
    body: str  # the start of the plain text, for a snippet when no word matched
    vectors: np.ndarray
    ids: int  # the sum of its kb_vectors ids


@dataclass
class Index:
    docs: dict[int, Doc] = field(default_factory=dict)
    max_id: int = 0
    count: int = 0
    total: int = 0
    checked_at: float = -1e9
    checked_saves: int = -1
    words: int = -1
    speller: Speller | None = None
    # Built from docs after each change:
    order: list[Doc] = field(default_factory=list)
    position: dict[int, int] = field(default_factory=dict)
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, embed.DIM), np.float32))
    row_doc: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    starts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # first row
    masks: dict[tuple[str | None, bool], np.ndarray] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def rebuild(self) -> None:
        self.order = sorted(self.docs.values(), key=lambda d: d.article_id)
        self.position = {d.article_id: i for i, d in enumerate(self.order)}
        if self.order:
            self.matrix = np.ascontiguousarray(np.concatenate([d.vectors for d in self.order]))
            sizes = [len(d.vectors) for d in self.order]
            self.row_doc = np.repeat(np.arange(len(self.order)), sizes)
            self.starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        else:
            self.matrix = np.zeros((0, embed.DIM), np.float32)
            self.row_doc = np.zeros(0, np.int64)
            self.starts = np.zeros(0, np.int64)
        self.masks = {}

    def mask(self, locale: str | None, drafts: bool) -> np.ndarray:
        key = (locale, drafts)
        if key not in self.masks:
            self.masks[key] = np.array(
                [
                    (drafts or d.status == PUBLISHED) and (locale is None or d.locale == locale)
                    for d in self.order
                ],
                dtype=bool,
            )
        return self.masks[key]

    def semantic(self, query: np.ndarray) -> np.ndarray:
        """Each article's best cosine over its parts (head, body or sections)."""
        if not len(self.starts):
            return np.zeros(0, dtype=np.float32)
        # Rows are grouped by article, so one reduceat takes each article's maximum.
        return np.maximum.reduceat(self.matrix @ query, self.starts)

    @property
    def nbytes(self) -> int:
        return int(self.matrix.nbytes + self.row_doc.nbytes)


_blas_limited = False


def _one_blas_thread() -> None:
    """A query's product is small (20,000 x 256 at most): OpenBLAS's thread hand-off costs
    more than it saves, 4x more on a busy machine. The server parallelises by requests."""
    global _blas_limited
    if not _blas_limited:
        threadpool_limits(1, user_api="blas")
        _blas_limited = True


_indexes: weakref.WeakKeyDictionary[Database, Index] = weakref.WeakKeyDictionary()
# Saves in this process bump this, so the next search here checks at once; changes made by
# other processes are seen within RECHECK_S (the state query costs ~1 ms at 10,000
# articles, more than the rest of the lexical side).
RECHECK_S = 0.5
saves = 0

_STATE = text(
    "SELECT (SELECT max(id) FROM kb_vectors), (SELECT count(*) FROM kb_vectors),"
    " (SELECT sum(id) FROM kb_vectors), (SELECT count(*) FROM kb_words)"
)
_ROWS = text(
    "SELECT v.id, v.article_id, v.part, v.vector, a.slug, a.title, a.answer, a.tags_text,"
    " a.status, a.locale, substr(a.body_text, 1, 300) AS body"
    " FROM kb_vectors v JOIN kb_articles a ON a.id = v.article_id"
    " WHERE v.id > :after ORDER BY v.article_id, v.part"
)


def _docs(rows: list) -> dict[int, Doc]:
    grouped: dict[int, list] = {}
    for r in rows:
        grouped.setdefault(r.article_id, []).append(r)
    out = {}
    for article_id, parts in grouped.items():
        r = parts[0]
        out[article_id] = Doc(
            article_id=article_id,
            slug=r.slug,
            title=r.title,
            answer=r.answer,
            status=r.status,
            locale=r.locale,
            head=stems(r.answer, r.tags_text),
            named=stems(r.title),
            body=r.body or "",
            vectors=np.stack([embed.from_bytes(p.vector) for p in parts]),
            ids=sum(p.id for p in parts),
        )
    return out


async def current(db: Database, session: AsyncSession) -> Index:
    """The index of ``db``, brought up to date with what ``session`` sees."""
    index = _indexes.get(db)
    if index is None:
        await asyncio.to_thread(_one_blas_thread)  # (reads /proc the first time)
        index = _indexes.setdefault(db, Index())
    now = time.monotonic()
    if index.checked_saves == saves and now - index.checked_at < RECHECK_S:
        return index
    index.checked_at, index.checked_saves = now, saves
    max_id, count, total, words = (await session.execute(_STATE)).one()
    max_id, count, total = max_id or 0, count or 0, int(total or 0)
    if (max_id, count, total, words) == (index.max_id, index.count, index.total, index.words):
        return index
    async with index.lock:
        if (max_id, count, total) != (index.max_id, index.count, index.total):
            after = index.max_id if max_id >= index.max_id else 0
            rows = list(await session.execute(_ROWS, {"after": after}))
            changed = await asyncio.to_thread(_docs, rows)
            if after == 0:
                index.docs = changed
            else:
                index.docs.update(changed)
            if sum(d.ids for d in index.docs.values()) != total:
                rows = list(await session.execute(_ROWS, {"after": 0}))
                index.docs = await asyncio.to_thread(_docs, rows)
            index.max_id, index.count, index.total = max_id, count, total
            await asyncio.to_thread(index.rebuild)
        if words != index.words or index.speller is None:
            vocabulary = list(await session.execute(text("SELECT word, docs FROM kb_words")))
            index.speller = await asyncio.to_thread(Speller, vocabulary)
            index.words = words
    return index


def forget(db: Database) -> None:
    _indexes.pop(db, None)
