"""Reporting figures: zero-result searches, most viewed, helpfulness, deflection rate."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, cast, func, select

from center.knowledge_base.models import Article, Feedback, SearchLog
from center.records.db import Database
from center.records.enums import Channel
from center.records.events import EventType
from center.records.models import Event, Interaction


async def no_result_searches(db: Database, limit: int = 20) -> list[dict[str, Any]]:
    query = (
        select(func.lower(SearchLog.query).label("q"), func.count().label("n"))
        .where(SearchLog.hits == 0)
        .group_by("q")
        .order_by(func.count().desc(), "q")
        .limit(limit)
    )
    async with db.read() as session:
        return [{"query": q, "count": n} for q, n in await session.execute(query)]


async def most_viewed(db: Database, limit: int = 10) -> list[dict[str, Any]]:
    query = (
        select(Article.id, Article.slug, Article.title, Article.views)
        .order_by(Article.views.desc(), Article.id)
        .limit(limit)
    )
    async with db.read() as session:
        return [dict(r._mapping) for r in await session.execute(query)]


async def helpfulness(db: Database) -> list[dict[str, Any]]:
    helpful = func.sum(cast(Feedback.helpful, Integer))
    query = (
        select(Article.id, Article.slug, helpful.label("yes"), func.count().label("votes"))
        .join(Feedback, Feedback.article_id == Article.id)
        .group_by(Article.id, Article.slug)
        .order_by(func.count().desc())
    )
    async with db.read() as session:
        rows = await session.execute(query)
        return [
            {"article_id": i, "slug": s, "helpful": int(y), "votes": v, "ratio": round(y / v, 3)}
            for i, s, y, v in rows
        ]


async def deflection_rate(db: Database, since: datetime | None = None) -> dict[str, Any]:
    """Deflected / (deflected + chats that reached the queue), over events since a time."""
    deflected_q = (
        select(func.count()).select_from(Event).where(Event.type == EventType.DEFLECTED.value)
    )
    started_q = (
        select(func.count())
        .select_from(Event)
        .join(Interaction, Interaction.id == Event.interaction_id)
        .where(Event.type == EventType.INTERACTION_STARTED.value)
        .where(Interaction.channel == Channel.CHAT)
    )
    if since is not None:
        deflected_q = deflected_q.where(Event.created_at >= since)
        started_q = started_q.where(Event.created_at >= since)
    async with db.read() as session:
        deflected = await session.scalar(deflected_q) or 0
        started = await session.scalar(started_q) or 0
    total = deflected + started
    return {"deflected": deflected, "chats": started, "rate": deflected / total if total else 0.0}


async def summary(db: Database) -> dict[str, Any]:
    return {
        "no_result_searches": await no_result_searches(db),
        "most_viewed": await most_viewed(db),
        "helpfulness": await helpfulness(db),
        "deflection": await deflection_rate(db),
    }
