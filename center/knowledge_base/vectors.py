"""Article vectors: computed when an article is saved, stored in kb_vectors.

Every save that changes an article (text, status, locale: a revision) deletes its rows and
writes new ones, so the stored vectors always describe the article's current revision and
the in-memory index (index.py) notices the change by the new ids.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncSession

from center.knowledge_base import embed, index
from center.knowledge_base.models import Vector

MODEL = "wordllama-l2_supercat-256"


def rows_for(
    article_id: int,
    title: str,
    answer: str | None,
    tags_text: str,
    body_md: str,
    body_text: str,
) -> list[dict[str, Any]]:
    """The kb_vectors rows of one article (blocking: the model's first load reads files)."""
    texts = embed.article_texts(title, answer, tags_text or "", body_md or "", body_text or "")
    vectors = embed.model().embed(texts)
    return [
        {"article_id": article_id, "part": i, "model": MODEL, "vector": embed.to_bytes(v)}
        for i, v in enumerate(vectors)
    ]


def _rows_of(articles: list[Any]) -> list[dict[str, Any]]:
    return [
        row
        for a in articles
        for row in rows_for(a.id, a.title, a.answer, a.tags_text, a.body_md, a.body_text)
    ]


async def replace(session: AsyncSession, articles: list[Any]) -> None:
    """Write these articles' vectors anew (one thread hop and two statements a batch)."""
    if not articles:
        return
    rows = await asyncio.to_thread(_rows_of, articles)
    ids = [a.id for a in articles]
    for start in range(0, len(ids), 500):  # (bound parameters per statement)
        await session.execute(delete(Vector).where(Vector.article_id.in_(ids[start : start + 500])))
    await session.execute(insert(Vector), rows)
    index.saves += 1  # searches in this process look again at once
