"""Knowledge-base deflection over SMS with the shipped sample knowledge base."""

from __future__ import annotations

import pytest

from center.knowledge_base.io import SAMPLE_DIR, import_dir
from center.records.enums import InteractionState
from center.records.models import Interaction
from tests.channels.sms.support import PHONE, events_of, text
from tests.support import Server, signed_in_agent
from tests.twilio_support import TwilioApi, Webhooks


@pytest.fixture
async def kb_server(server: Server) -> Server:
    result = await import_dir(server.db, SAMPLE_DIR)
    assert result.created >= 30 and not result.errors
    return server


async def _interaction(server: Server) -> Interaction:
    from sqlalchemy import select

    async with server.db.read_step() as c:
        row = (await c.execute(select(Interaction.__table__))).one()
    return Interaction(**row._mapping)


async def test_a_confident_answer_then_agent_on_request(
    kb_server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    ann = await signed_in_agent(kb_server, "ann", capacity={"sms": 1})
    try:
        await text(hooks, "How do I reset my password?")
        [sent] = await twilio_api.wait_for("Messages.json")
        assert sent.form["To"] == PHONE
        assert "password" in sent.form["Body"].lower()
        assert sent.form["Body"].endswith("Reply AGENT for a person.")
        i = await _interaction(kb_server)
        assert i.state is InteractionState.NEW and ann.pending("offer") == []

        await text(hooks, "agent")
        offer = await ann.next("offer")
        assert offer["id"] == i.id
        types = [e.type for e in await events_of(kb_server, i.id)]
        assert types[:5] == [
            "interaction.started",
            "message.received",
            "kb.articles_suggested",
            "sms.kb_answered",
            "delivery.sent",
        ]
        assert types[-3:] == ["message.received", "interaction.queued", "interaction.offered"]
    finally:
        await ann.close()


async def test_a_question_the_kb_cannot_answer_queues_at_once(
    kb_server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    ann = await signed_in_agent(kb_server, "ann", capacity={"sms": 1})
    try:
        await text(hooks, "zxqv blorp")
        offer = await ann.next("offer")
        assert offer["preview"] == "zxqv blorp"
        assert twilio_api.posts("Messages.json") == []
    finally:
        await ann.close()
