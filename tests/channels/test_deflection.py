"""The knowledge base inside conversations, with the shipped sample KB on the real server."""

from __future__ import annotations

import pytest

from center.knowledge_base.io import SAMPLE_DIR, import_dir
from center.records.enums import Role
from tests.support import Customer, Server, signed_in_agent


@pytest.fixture
async def kb_server(server: Server) -> Server:
    result = await import_dir(server.db, SAMPLE_DIR)
    assert result.created >= 30 and not result.errors
    return server


async def _timeline(server: Server, customer_id: int) -> list[dict]:
    sam = await signed_in_agent(server, "sam", role=Role.SUPERVISOR, available=False)
    try:
        _, body = await sam.get(f"/api/customers/{customer_id}/timeline")
        return body["events"]
    finally:
        await sam.close()


async def test_customer_who_reads_an_article_and_leaves_is_deflected(kb_server: Server) -> None:
    customer = Customer(kb_server.url)
    welcome = await customer.connect()
    ack = await customer.say("how do I reset my password?")
    assert ack["ok"] and ack["deflecting"] is True
    shown = await customer.next("articles")
    titles = [a["title"].lower() for a in shown["articles"]]
    assert any("password" in t for t in titles), titles
    article = next(a for a in shown["articles"] if "password" in a["title"].lower())
    assert article["url"].startswith("/help/articles/")
    assert (await customer.call("article_opened", {"article_id": article["id"]}))["ok"]
    assert (await customer.call("leave", {}))["ok"]
    await customer.close()
    events = await _timeline(kb_server, welcome["customer_id"])
    types = [e["type"] for e in events]
    assert "interaction.queued" not in types  # never waited for an agent
    assert types[-3:] == ["kb.articles_suggested", "kb.article_viewed", "interaction.deflected"]
    assert events[-1]["data"]["article_ids"] == [article["id"]]


async def test_leaving_without_reading_is_abandoned_and_unknown_topics_queue_at_once(
    kb_server: Server,
) -> None:
    customer = Customer(kb_server.url)
    welcome = await customer.connect()
    await customer.say("where is my refund")
    await customer.next("articles")
    await customer.call("leave", {})
    events = await _timeline(kb_server, welcome["customer_id"])
    assert events[-1]["type"] == "interaction.abandoned"

    other = Customer(kb_server.url)
    await other.connect()
    try:
        ack = await other.say("zxqv blorft")
        assert ack["deflecting"] is False
        assert (await other.next("queued"))["position"] >= 1
    finally:
        await other.close()
        await customer.close()


async def test_escalated_chat_brings_suggestions_to_the_agent_and_insertion_is_logged(
    kb_server: Server,
) -> None:
    alice = await signed_in_agent(kb_server, "alice")
    customer = Customer(kb_server.url)
    welcome = await customer.connect()
    try:
        await customer.say("my package has not arrived, where is it?")
        await customer.next("articles")
        escalated = await customer.call("escalate", {})
        assert escalated["queued"] is True
        offer = await alice.next("offer")
        accepted = await alice.call("accept", {"interaction_id": offer["id"]})
        assert accepted["ok"]
        suggestions = await alice.next("suggestions")
        assert suggestions["interaction_id"] == offer["id"] and suggestions["articles"]
        pick = suggestions["articles"][0]
        inserted = await alice.call(
            "insert_article", {"interaction_id": offer["id"], "article_id": pick["id"]}
        )
        assert inserted["ok"] and inserted["article"]["title"] == pick["title"]
        bad = await alice.call(
            "insert_article", {"interaction_id": offer["id"], "article_id": 999_999}
        )
        assert bad["ok"] is False and bad["code"] == "not_found"
        await customer.say("it was order 5521")
        assert (await alice.next("suggestions"))["articles"]
        events = await _timeline(kb_server, welcome["customer_id"])
        logged = [e for e in events if e["type"] == "kb.article_inserted"]
        assert [e["data"]["article_id"] for e in logged] == [pick["id"]]
        assert logged[0]["actor"] == {"kind": "agent", "id": offer["agent_id"]}
    finally:
        await customer.close()
        await alice.close()
