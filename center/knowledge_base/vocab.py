"""The vocabulary of the knowledge base, for typo tolerance.

Every word of every saved article (title, tags, body; unstemmed, lower case) is kept in
kb_words with a rough document count. spell.py corrects query words into it, in Python, so
both databases correct a typo the same way (the trigram indexes of migration 0004 are no
longer read).

The counts only ever grow (an edited article counts again); they only break ties between
equally close candidates, where "more common" is all that matters.
"""

from __future__ import annotations

import re
from collections import Counter

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

WORD = re.compile(r"[^\W_]+")
MIN_WORD, MAX_WORD = 3, 40

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
