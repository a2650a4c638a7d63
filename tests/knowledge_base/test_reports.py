"""Reporting figures computed from real rows: deflection, helpfulness, most viewed."""

from __future__ import annotations

from center.knowledge_base import reports
from center.knowledge_base.models import Feedback
from center.knowledge_base.search import search
from center.records.db import Database
from center.records.enums import ActorKind, Channel
from center.records.events import EventType
from center.records.models import Customer, Event, Interaction


async def test_deflection_rate_counts_deflected_over_deflected_plus_chats(db: Database) -> None:
    async with db.transaction() as session:
        customer = Customer(display_name="Ada")
        session.add(customer)
        await session.flush()
        chats = [Interaction(customer_id=customer.id, channel=Channel.CHAT) for _ in range(3)]
        call = Interaction(customer_id=customer.id, channel=Channel.VOICE)
        session.add_all([*chats, call])
        await session.flush()
        for interaction in [*chats, call]:
            session.add(
                Event(
                    customer_id=customer.id,
                    interaction_id=interaction.id,
                    actor_kind=ActorKind.SYSTEM,
                    type=EventType.INTERACTION_STARTED.value,
                )
            )
        session.add(
            Event(customer_id=customer.id, actor_kind=ActorKind.CUSTOMER, type=EventType.DEFLECTED)
        )
    figures = await reports.deflection_rate(db)
    assert figures == {"deflected": 1, "chats": 3, "rate": 0.25}


async def test_helpfulness_and_no_result_searches(kb: Database) -> None:
    await search(kb, "flux capacitor")
    await search(kb, "Flux capacitor")
    await search(kb, "refund")
    hits = await search(kb, "refund", log=False)
    async with kb.transaction() as session:
        session.add_all(
            [Feedback(article_id=hits[0].article_id, helpful=v) for v in (True, True, False)]
        )
    summary = await reports.summary(kb)
    assert summary["no_result_searches"] == [{"query": "flux capacitor", "count": 2}]
    assert summary["helpfulness"][0]["votes"] == 3 and summary["helpfulness"][0]["helpful"] == 2
