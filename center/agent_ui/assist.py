"""Knowledge-base help in conversations: deflection articles for customers, suggestions for
agents as messages arrive, and the log of an agent inserting an article.

Glue only: the ranking is the knowledge base's ``suggest``; this decides what text to ask
about and where the answers go.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import exists, select

from center.interactions import InteractionError
from center.knowledge_base import articles as kb_articles
from center.knowledge_base import search as kb_search
from center.knowledge_base.models import PUBLISHED, Article
from center.notices import AgentBus, AgentNotice
from center.records import events
from center.records.db import Database
from center.records.enums import ActorKind, Direction, InteractionState
from center.records.models import Interaction, Message, User

# How much of the conversation informs agent suggestions: the customer's latest messages.
RECENT_MESSAGES = 5
# How long "is anything published?" is believed: every customer message asks it. A save in
# this process forgets it at once; one in another process is seen within these bounds.
PUBLISHED_FOR_S = 30.0
NOTHING_PUBLISHED_FOR_S = 2.0


def article_json(hit: kb_search.SearchHit) -> dict[str, Any]:
    return {"id": hit.article_id, "title": hit.title, "url": hit.url, "answer": hit.answer}


class Assist:
    def __init__(self, db: Database, bus: AgentBus, *, limit: int = 3) -> None:
        self.db = db
        self.bus = bus
        self.limit = limit
        self._known: tuple[bool, float, int] | None = None  # (answer, until, saves then)
        self._asking = asyncio.Lock()

    async def for_customer(self, text: str) -> list[dict[str, Any]]:
        """Articles to show a chat customer before queueing them."""
        if not await self._published():
            return []
        return [article_json(h) for h in await kb_search.suggest(self.db, text, limit=self.limit)]

    async def for_agent(self, interaction: Interaction, _latest: Message | None) -> None:
        """Push suggestions for the conversation so far to the assigned agent."""
        if interaction.agent_id is None:
            return
        if not await self._published():
            return  # (no knowledge base: nothing to suggest, and no notice saying so)
        async with self.db.read() as s:
            bodies = list(
                await s.scalars(
                    select(Message.body)
                    .where(
                        Message.interaction_id == interaction.id,
                        Message.direction == Direction.INBOUND,
                    )
                    .order_by(Message.id.desc())
                    .limit(RECENT_MESSAGES)
                )
            )
        if not bodies:
            return
        # Newest first: suggest() weighs the terms it sees, so the latest question leads.
        hits = await kb_search.suggest(self.db, "\n".join(bodies), limit=self.limit)
        await self._push(interaction, [article_json(h) for h in hits])

    async def _push(self, interaction: Interaction, articles: list[dict[str, Any]]) -> None:
        if interaction.agent_id is None:
            return
        await self.bus.to_agent(
            interaction.agent_id,
            AgentNotice.SUGGESTIONS,
            {"interaction_id": interaction.id, "articles": articles},
        )

    async def _published(self) -> bool:
        """Whether any article is published. A centre without a knowledge base paid, per
        customer message, a full-text search and its vocabulary look-ups (as much server
        CPU as the conversation itself, bench/chat.py --profile); one EXISTS instead, and
        that one believed for a while (``PUBLISHED_FOR_S``), asked by one caller at a time
        (a burst of new chats waits for the one answer)."""
        if (answer := self._believed()) is not None:
            return answer
        async with self._asking:
            if (answer := self._believed()) is not None:
                return answer
            saves = kb_articles.saves()
            async with self.db.read_step() as c:
                query = select(exists().where(Article.status == PUBLISHED))
                answer = bool(await c.scalar(query))
            believed_for = PUBLISHED_FOR_S if answer else NOTHING_PUBLISHED_FOR_S
            self._known = (answer, time.monotonic() + believed_for, saves)
        return answer

    def _believed(self) -> bool | None:
        if self._known is None:
            return None
        answer, until, saves_then = self._known
        if time.monotonic() < until and kb_articles.saves() == saves_then:
            return answer
        return None

    async def insert(self, agent: User, interaction_id: int, article_id: int) -> dict[str, Any]:
        """An agent puts an article into their reply: logged on the interaction."""
        async with self.db.transaction() as s:
            interaction = await s.get(Interaction, interaction_id)
            if (
                interaction is None
                or interaction.agent_id != agent.id
                or interaction.state is not InteractionState.ASSIGNED
            ):
                raise InteractionError("not_yours", "this interaction is not assigned to you")
            article = await s.get(Article, article_id)
            if article is None or article.status != PUBLISHED:
                raise InteractionError("not_found", f"no published article {article_id}")
            events.append(
                s,
                events.ArticleInserted(article_id=article.id, agent_id=agent.id),
                interaction=interaction,
                actor_kind=ActorKind.AGENT,
                actor_id=agent.id,
            )
        return {
            "id": article.id,
            "title": article.title,
            "url": f"/help/articles/{article.slug}",
            "answer": article.answer,
        }
