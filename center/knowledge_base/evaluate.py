"""Search quality on an evaluation set: articles (YAML, one file per business) and
customer questions with the article that answers each, grouped by kind.

The set this project measures itself on is tests/knowledge_base/eval; bench/kb_quality.py
prints its figures on both databases and a test holds them above a floor.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from center.knowledge_base import search as kb_search
from center.knowledge_base import vectors, vocab
from center.knowledge_base.articles import Fields, save
from center.knowledge_base.models import PUBLISHED
from center.records.db import Database


@dataclass
class Kind:
    questions: int = 0
    top1: int = 0
    top3: int = 0
    misses: list[str] = field(default_factory=list)


@dataclass
class Report:
    kinds: dict[str, Kind]
    answered: int = 0  # answer() gave an answer ...
    answered_right: int = 0  # ... and it was the expected article
    results: dict[str, list[int]] = field(default_factory=dict)  # question -> top-3 ids

    @property
    def questions(self) -> int:
        return sum(k.questions for k in self.kinds.values())

    def share(self, attr: str) -> float:
        return sum(getattr(k, attr) for k in self.kinds.values()) / max(1, self.questions)

    @property
    def precision(self) -> float:
        return self.answered_right / max(1, self.answered)

    def lines(self) -> list[str]:
        out = [f"  {'kind':<11} {'n':>4} {'top-1':>7} {'top-3':>7}"]
        for name, k in self.kinds.items():
            out.append(
                f"  {name:<11} {k.questions:>4} {k.top1 / k.questions:>7.1%}"
                f" {k.top3 / k.questions:>7.1%}"
            )
        out.append(
            f"  {'all':<11} {self.questions:>4} {self.share('top1'):>7.1%}"
            f" {self.share('top3'):>7.1%}"
        )
        out.append(
            f"  answer(): shown for {self.answered}/{self.questions}"
            f" ({self.answered / max(1, self.questions):.0%}),"
            f" right {self.answered_right}/{self.answered} ({self.precision:.1%})"
        )
        return out


def _read(folder: Path) -> tuple[list[Fields], dict[str, list[tuple[str, str]]]]:
    articles = []
    for path in sorted(folder.glob("*.yaml")):
        if path.name == "questions.yaml":
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for a in data["articles"]:
            articles.append(
                Fields(
                    slug=a["slug"],
                    title=a["title"],
                    body_md=a["body"],
                    answer=a.get("answer"),
                    tags=tuple(a.get("tags", ())),
                    status=PUBLISHED,
                    category=data["category"],
                )
            )
    raw = yaml.safe_load((folder / "questions.yaml").read_text(encoding="utf-8"))
    return articles, {kind: [(q, slug) for q, slug in items] for kind, items in raw.items()}


async def load(folder: Path) -> tuple[list[Fields], dict[str, list[tuple[str, str]]]]:
    return await asyncio.to_thread(_read, folder)


async def build(db: Database, articles: list[Fields]) -> dict[str, int]:
    """Save the articles in one transaction; returns slug -> article id."""
    ids: dict[str, int] = {}
    async with db.transaction() as session:
        words: Counter[str] = Counter()
        changed: list = []
        for fields in articles:
            article, _ = await save(session, fields, None, words, embed_later=changed)
            ids[fields.slug] = article.id
        await vectors.replace(session, changed)
        await vocab.add(session, words)
    return ids


async def evaluate(
    db: Database, ids: dict[str, int], questions: dict[str, list[tuple[str, str]]]
) -> Report:
    report = Report({kind: Kind() for kind in questions})
    for kind, items in questions.items():
        k = report.kinds[kind]
        for question, slug in items:
            hits = await kb_search.search(db, question, limit=3, log=False)
            top = [h.article_id for h in hits]
            report.results[question] = top
            k.questions += 1
            k.top1 += bool(top[:1] == [ids[slug]])
            k.top3 += ids[slug] in top
            if top[:1] != [ids[slug]]:
                got = hits[0].slug if hits else "-"
                k.misses.append(f"{question!r}: wanted {slug}, got {got}")
            shown = await kb_search.answer(db, question)
            if shown is not None:
                report.answered += 1
                report.answered_right += shown.article_id == ids[slug]
    return report
