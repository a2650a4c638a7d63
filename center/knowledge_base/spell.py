"""Typo correction that is the same on every database: pure Python over the same words.

A query word is corrected only when it is not a real word: not in the general English word
list that ships with symspellpy (82,765 words with their frequencies) and not in the
knowledge base's own vocabulary (kb_words). So "night" is never turned into "right", nor
"train" into "drain". A word that is neither is looked up with SymSpell among the
knowledge base's words (corrections that cannot match an article would not help a search):
the closest by Damerau (optimal string alignment) distance, ties to the word more articles
use, then to the more common English word, then alphabetically, so the answer never
depends on an engine's candidate order.
"""

from __future__ import annotations

import importlib.resources
import threading
from collections.abc import Iterable

from symspellpy import SymSpell, Verbosity

MIN_TYPO = 4  # shorter words have too many neighbours at distance 1 to guess safely
MAX_WORD = 40

_english: dict[str, int] | None = None
_lock = threading.Lock()


def english() -> dict[str, int]:
    """The general English word list (loaded once, 60 ms; call from a thread)."""
    global _english
    with _lock:
        if _english is None:
            path = importlib.resources.files("symspellpy") / "frequency_dictionary_en_82_765.txt"
            words: dict[str, int] = {}
            for line in path.read_text(encoding="utf-8").splitlines():
                word, _, count = line.partition(" ")
                if word and count.isdigit():
                    words[word] = int(count)
            _english = words
        return _english


def max_edits(word: str) -> int:
    return 0 if len(word) < MIN_TYPO else 1 if len(word) < 6 else 2


class Speller:
    """Corrections into one knowledge base's vocabulary (built off the event loop)."""

    def __init__(self, vocabulary: Iterable[tuple[str, int]]) -> None:
        self.english = english()
        self.docs: dict[str, int] = {}
        self._sym = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
        for word, docs in vocabulary:
            if not word.isalpha() or len(word) > MAX_WORD:
                continue
            self.docs[word] = docs
            self._sym.create_dictionary_entry(word, max(1, docs))

    def known(self, word: str) -> bool:
        return word in self.docs or word in self.english

    def correct(self, word: str) -> str | None:
        """The correction of a word that is not a real word, or None (leave it as typed)."""
        limit = max_edits(word)
        if not limit or len(word) > MAX_WORD or not word.isalpha() or self.known(word):
            return None
        found = self._sym.lookup(word, Verbosity.ALL, max_edit_distance=limit)
        if not found:
            return None
        best = min(
            found,
            key=lambda s: (
                s.distance,
                -self.docs.get(s.term, 0),
                -self.english.get(s.term, 0),
                s.term,
            ),
        )
        return best.term if best.term != word else None

    def fixes(self, words: Iterable[str]) -> dict[str, str]:
        out = {}
        for word in dict.fromkeys(words):
            fix = self.correct(word)
            if fix:
                out[word] = fix
        return out
