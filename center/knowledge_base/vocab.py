"""The vocabulary of the knowledge base, for typo tolerance.

Every word of every saved article (title, tags, body; unstemmed, lower case) is kept in
kb_words with a rough document count. A query word that neither the vocabulary nor the
search index knows is corrected to the closest known word: candidates come from a trigram
index (pg_trgm on PostgreSQL, an FTS5 trigram table on SQLite), then the same edit-distance
rule picks one on both engines, so both correct a typo the same way. The correction is
searched alongside the word as typed, never instead of it.

The counts only ever grow (an edited article counts again); they only break ties between
equally close candidates, where "more common" is all that matters.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

WORD = re.compile(r"[^\W_]+")
MIN_WORD, MAX_WORD = 3, 40
MIN_TYPO = 4  # shorter words have too many neighbours at distance 1 to guess safely
CANDIDATES = 40
MAX_CHECKED = 8  # words per query checked for typos (each adds to the lookup statements)

_UPSERT = text(
    "INSERT INTO kb_words (word, docs) VALUES (:word, :docs)"
    " ON CONFLICT (word) DO UPDATE SET docs = kb_words.docs + excluded.docs"
)


def words_of(*texts: str) -> set[str]:
    return {
        w
        for t in texts
        for w in WORD.findall((t or "").lower())
        if MIN_WORD <= len(w) <= MAX_WORD and not w.isdigit()
    }


async def add(session: AsyncSession, counts: Counter[str]) -> None:
    """Upsert words with how many of the saved articles contain them (one batch)."""
    if counts:
        await session.execute(_UPSERT, [{"word": w, "docs": n} for w, n in sorted(counts.items())])


def distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment edit distance (a swap of two letters counts as one edit);
    returns limit + 1 as soon as the distance is known to exceed limit."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], prev2[j - 2] + 1)
        if min(row) > limit:
            return limit + 1
        prev2, prev = prev, row
    return prev[-1]


def max_edits(word: str) -> int:
    return 0 if len(word) < MIN_TYPO else 1 if len(word) < 8 else 2


def closest(word: str, candidates: Iterable[tuple[str, int]]) -> str | None:
    """The nearest candidate within the allowed edits; ties go to the more common word."""
    limit = max_edits(word)
    best: tuple[int, int, str] | None = None
    for cand, docs in candidates:
        d = distance(word, cand, limit)
        if d <= limit and cand != word and (best is None or (d, -docs, cand) < best):
            best = (d, -docs, cand)
    return best[2] if best else None


# One statement per step, one branch per word (UNION ALL): a search makes at most two
# extra round trips for typo handling, however many words it has.


async def _unmatched(
    session: AsyncSession, dialect: str, words: list[str], config: str
) -> list[str]:
    """The words neither the vocabulary nor the search index knows. The index is asked
    too, as the engine sees words (stemmed): the vocabulary is unstemmed, so "crashing"
    may be missing from it while the index matches it through "crashes"."""
    if dialect == "postgresql":
        probe = (
            "SELECT 1 FROM kb_search WHERE tsv @@"
            " (SELECT to_tsquery(CAST(:config AS regconfig), :w{i})) LIMIT 1"
        )
    else:
        probe = "SELECT 1 FROM kb_fts WHERE kb_fts MATCH :m{i} LIMIT 1"
    branch = (
        "SELECT CAST(:w{i} AS VARCHAR) AS word"
        " WHERE NOT EXISTS (SELECT 1 FROM kb_words WHERE word = :w{i})"
        f" AND NOT EXISTS ({probe})"
    )
    sql = " UNION ALL ".join(branch.format(i=i) for i in range(len(words)))
    params: dict[str, object] = {f"w{i}": w for i, w in enumerate(words)}
    if dialect == "postgresql":
        params["config"] = config
    else:
        params.update({f"m{i}": f'"{w}"' for i, w in enumerate(words)})
    return [r[0] for r in await session.execute(text(sql), params)]


async def _candidates(
    session: AsyncSession, dialect: str, words: list[str]
) -> dict[str, list[tuple[str, int]]]:
    """Up to CANDIDATES indexed words sharing the most trigrams with each word."""
    if dialect == "postgresql":
        # % uses pg_trgm's default similarity threshold, 0.3: low, because short words
        # share few trigrams with their typos ("refnd"/"refund" share 4 of 9); the
        # edit-distance rule does the real filtering.
        branch = (
            "SELECT CAST(:w{i} AS VARCHAR) AS q, c.word, c.docs FROM (SELECT word, docs"
            " FROM kb_words WHERE word % :w{i}"
            " ORDER BY similarity(word, :w{i}) DESC, docs DESC LIMIT :n) c"
        )
    else:
        branch = (
            "SELECT :w{i} AS q, c.word, c.docs FROM (SELECT w.word, w.docs"
            " FROM kb_words_tri t JOIN kb_words w ON w.rowid = t.rowid"
            " WHERE kb_words_tri MATCH :g{i} ORDER BY t.rank LIMIT :n) c"
        )
    sql = " UNION ALL ".join(branch.format(i=i) for i in range(len(words)))
    params: dict[str, object] = {"n": CANDIDATES}
    for i, word in enumerate(words):
        params[f"w{i}"] = word
        grams = sorted({word[j : j + 3] for j in range(len(word) - 2)})
        params[f"g{i}"] = " OR ".join(f'"{g}"' for g in grams)
    found: dict[str, list[tuple[str, int]]] = {w: [] for w in words}
    for q, word, docs in await session.execute(text(sql), params):
        found[q].append((word, docs))
    return found


async def corrections(
    session: AsyncSession, dialect: str, words: list[str], config: str = "english"
) -> dict[str, str | None]:
    """For each query word the search index cannot match: its correction, or None.

    Words the index matches are left out of the result (they need no correction, and
    correcting "change" to "charge" because only "changes" was indexed would add noise).
    Words with digits are left to the engine (order numbers); words shorter than MIN_TYPO
    are never corrected (abbreviations); at most MAX_CHECKED words per query are looked at."""
    todo = [
        w for w in dict.fromkeys(words) if len(w) <= MAX_WORD and not any(c.isdigit() for c in w)
    ]
    unknown = await _unmatched(session, dialect, todo[:MAX_CHECKED], config) if todo else []
    # Short unknown words are reported too (uncorrected): the AND pass then leaves them out
    # instead of running a query that cannot match.
    fixable = [w for w in unknown if max_edits(w)]
    candidates = await _candidates(session, dialect, fixable) if fixable else {}
    return {w: closest(w, candidates[w]) if w in candidates else None for w in unknown}
