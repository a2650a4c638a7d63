"""Turning user text into safe full-text queries.

User text is never passed through as engine syntax: it is split into words, "quoted
phrases" and prefix* words made only of word characters, then rebuilt in the target
engine's syntax. Anything else (operators, brackets, stray quotes) is dropped.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

MAX_QUERY = 500

STOPWORDS = frozenset(
    """a an and are as at be but by can could did do does doing for from had has have how
    i i'm if in into is it its me my no not of on or our please so some than that the their
    them then there these they this to too up was we were what when where which who why will
    with would you your yours hi hello thanks thank hey get got want need just am im""".split()  # noqa: SIM905
)

_TOKEN = re.compile(r'"([^"]*)"|([^\W_]+)(\*?)')
_WORD = re.compile(r"[^\W_]+")


class BadQuery(ValueError):
    """A search query that cannot be run; its message is shown to the user (HTTP 400)."""


@dataclass
class Parsed:
    words: list[str] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    phrases: list[list[str]] = field(default_factory=list)

    @property
    def terms(self) -> list[str]:
        return self.words + self.prefixes + [w for p in self.phrases for w in p]

    def __bool__(self) -> bool:
        return bool(self.words or self.prefixes or self.phrases)


def parse(query: str) -> Parsed:
    if not query or not query.strip():
        raise BadQuery("empty query")
    if len(query) > MAX_QUERY:
        raise BadQuery(f"query too long (max {MAX_QUERY} characters)")
    parsed = Parsed()
    all_words: list[str] = []
    for phrase, word, star in _TOKEN.findall(expand(query)):
        if phrase:
            words = _WORD.findall(phrase)
            if len(words) > 1:
                parsed.phrases.append(words)
            elif words:
                parsed.words.append(words[0])
        elif star and len(word) >= 2:
            parsed.prefixes.append(word)
        elif word:
            all_words.append(word)
    # Natural-language questions: drop filler words, unless that leaves nothing at all.
    content = [w for w in all_words if w not in FILLER]
    parsed.words.extend(dict.fromkeys(content or (all_words if not parsed else [])))
    if not parsed:
        raise BadQuery("query has no searchable words")
    return parsed


def key_terms(text: str, limit: int = 8) -> str:
    """The most informative words of free conversation text, as a plain query string."""
    words = [w for w in _WORD.findall(expand(text[:20_000])) if w not in FILLER and len(w) > 2]
    counts = Counter(words)
    # Longer and repeated words carry the topic; ties keep first appearance.
    ranked = sorted(counts, key=lambda w: (-(counts[w] + len(w) / 4), words.index(w)))
    return " ".join(ranked[:limit])


Fixes = dict[str, str | None]
"""Query words the index does not know, each with its typo correction or None."""


def _words(parsed: Parsed, fixes: Fixes, op: str) -> list[list[str]]:
    """Each word with its correction as alternatives. For AND, unknown words without a
    correction are left out: they match nothing and would empty the whole result."""
    groups = []
    for word in parsed.words:
        fix = fixes.get(word)
        if word in fixes and fix is None and op == "AND":
            continue
        groups.append([word, fix] if fix else [word])
    return groups


def fts5(parsed: Parsed, fixes: Fixes | None = None, op: str = "OR") -> str:
    parts = [
        "(" + " OR ".join(f'"{w}"' for w in g) + ")" if len(g) > 1 else f'"{g[0]}"'
        for g in _words(parsed, fixes or {}, op)
    ]
    parts += [f'"{w}" *' for w in parsed.prefixes]
    parts += ['"' + " ".join(p) + '"' for p in parsed.phrases]
    return f" {op} ".join(parts)


def tsquery(parsed: Parsed, fixes: Fixes | None = None, op: str = "OR") -> str:
    parts = [
        "(" + " | ".join(g) + ")" if len(g) > 1 else g[0] for g in _words(parsed, fixes or {}, op)
    ]
    parts += [f"{w}:*" for w in parsed.prefixes]
    parts += ["(" + " <-> ".join(p) + ")" for p in parsed.phrases]
    return (" & " if op == "AND" else " | ").join(parts)


# Contractions, expanded before tokenising so "don't" never leaves "don" and "t" behind;
# chat spellings without the apostrophe too ("dont" is no English word, and the speller
# would otherwise "correct" it).
_NOT = {"won": "will", "can": "can", "shan": "shall", "ain": "is"}
_CONTRACTION = re.compile(r"\b([^\W_]+)'(t|re|ve|ll|d|m|s)\b")
_BARE = {
    "dont": "do not",
    "doesnt": "does not",
    "didnt": "did not",
    "cant": "can not",
    "wont": "will not",
    "isnt": "is not",
    "arent": "are not",
    "wasnt": "was not",
    "werent": "were not",
    "havent": "have not",
    "hasnt": "has not",
    "hadnt": "had not",
    "couldnt": "could not",
    "wouldnt": "would not",
    "shouldnt": "should not",
    "im": "i am",
    "ive": "i have",
    "youre": "you are",
    "theyre": "they are",
    "thats": "that is",
    "whats": "what is",
    "theres": "there is",
    "ill": "i will",
    "id": "i would",
    "youve": "you have",
    "weve": "we have",
    "itll": "it will",
    "pls": "please",
    "plz": "please",
    "thx": "thanks",
    "ty": "thanks",
    "u": "you",
    "ur": "your",
    "r": "are",
    "b4": "before",
    "cuz": "because",
    "coz": "because",
}
_SUFFIX = {"re": "are", "ve": "have", "ll": "will", "d": "would", "m": "am", "s": ""}
_BARE_RE = re.compile(r"\b(" + "|".join(sorted(_BARE, key=len, reverse=True)) + r")\b")


def _contraction(m: re.Match[str]) -> str:
    stem, tail = m.group(1), m.group(2)
    if tail == "t" and stem.endswith("n"):
        return f"{_NOT.get(stem, stem[:-1])} not"
    return f"{stem} {_SUFFIX.get(tail, '')}".rstrip()


def expand(text: str) -> str:
    """Lower case, curly apostrophes straightened, contractions written out."""
    text = text.lower().replace("\u2019", "'").replace("\u02bc", "'").replace("`", "'")
    text = _CONTRACTION.sub(_contraction, text)
    return _BARE_RE.sub(lambda m: _BARE[m.group(1)], text)


# What a customer writes around the question: greetings, politeness, filler, and the
# first-person narrative ("so I was trying yesterday and my ..."). Dropped from the
# lexical query; the words left are the ones an article would use.
FILLER = STOPWORDS | frozenset(
    """about above after again against all also although always any anyway anything
    around because been before being below between both could did does doing done down
    during each else even ever every few further here hers herself him himself his
    how however itself just let lets like lol maybe me might mine more most much must
    myself nor now off ok okay once only other ought ours ourselves out over own really
    same shall she should since somebody someone something sometimes still such sure
    though through till under until very via well whatever whenever whether while whom
    whose within without yeah yes yet yourself yourselves guys team folks dear sir
    he her theirs themselves those having sorry bother grateful place way
    madam morning afternoon evening hiya greetings cheers regards appreciate appreciated
    kindly wondering wonder hoping hope basically literally actually honestly
    seriously totally quite rather pretty kind sort bit lot lots thing things stuff
    anybody everyone everything nothing nobody one ones two today yesterday tomorrow
    week weeks ago recently last already soon again thank thanks tried trying try tell
    told say said know knew think thought see seems seem look looking looked going gone
    went go goes come came make made take took give gave wanted wants would will""".split()  # noqa: SIM905
)


def content_text(text: str, limit: int = MAX_QUERY) -> str:
    """A message of any length as a query: its content words once each, in order, within
    ``limit`` characters (the ranking then keeps the rarest for the engine)."""
    words = [w for w in _WORD.findall(expand(text[:20_000])) if w not in FILLER and len(w) > 1]
    out = " ".join(dict.fromkeys(words))
    return out if len(out) <= limit else out[:limit].rsplit(" ", 1)[0]
