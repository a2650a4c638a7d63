"""The socket.io boundary on the real server: every odd payload is answered with an error
ack (and an ``error`` event), and garbage that once passed is refused."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from center.knowledge_base.io import SAMPLE_DIR, import_dir
from center.knowledge_base.models import Article
from center.records.events import EventType
from center.records.models import Event
from tests.support import Agent, Customer, Server, signed_in_agent

HUGE = [2**63, 2**64, 10**30, -(2**63)]
BAD_TEXT = ["hello\x00world", "\ud800", "lone \udfff surrogate"]


async def _refused(client: Any, event: str, payload: Any, code: str = "malformed") -> None:
    ack = await client.call(event, payload)
    assert ack["ok"] is False and ack["code"] == code, (event, payload, ack)
    assert (await client.next("error"))["event"] == event


async def test_customer_payloads_no_store_takes_get_an_error_ack(server: Server) -> None:
    customer = Customer(server.url)
    await customer.connect()
    try:
        for text in BAD_TEXT:
            await _refused(customer, "message", {"text": text})
        for bad in [*HUGE, True, 1.0, "7"]:
            await _refused(customer, "article_opened", {"article_id": bad})
        for event in ("typing", "leave", "escalate"):
            await _refused(customer, event, "not-an-object")
        assert (await customer.say("still works"))["ok"]
    finally:
        await customer.close()


async def test_agent_payloads_no_store_takes_get_an_error_ack(server: Server) -> None:
    alice = await signed_in_agent(server, "alice")
    try:
        for huge in HUGE:
            await _refused(alice, "accept", {"interaction_id": huge})
            await _refused(alice, "transfer", {"interaction_id": 1, "to_agent_id": huge})
            await _refused(alice, "insert_article", {"interaction_id": 1, "article_id": huge})
        for text in BAD_TEXT:
            await _refused(alice, "message", {"interaction_id": 1, "text": text})
            await _refused(alice, "close", {"interaction_id": 1, "note": text})
            await _refused(alice, "presence", {"presence": "away", "reason": text})
            await _refused(alice, "transfer", {"interaction_id": 1, "to_queue": text})
        await _refused(alice, "transfer", {"interaction_id": 1, "to_queue": "a" * 81})
        assert (await alice.call("presence", {"presence": "away", "reason": "lunch"}))["ok"]
    finally:
        await alice.close()


async def test_transfer_to_a_queue_that_does_not_exist_is_refused(server: Server) -> None:
    alice = await signed_in_agent(server, "alice")
    customer = Customer(server.url)
    await customer.connect()
    try:
        iid = (await customer.say("my router is broken"))["interaction_id"]
        await alice.next("offer")
        assert (await alice.call("accept", {"interaction_id": iid}))["ok"]
        await _refused(
            alice, "transfer", {"interaction_id": iid, "to_queue": "nowhere"}, "not_found"
        )
        # Still Alice's, still in the queue it was in.
        assert (await alice.call("message", {"interaction_id": iid, "text": "still here"}))["ok"]
    finally:
        await customer.close()
        await alice.close()


@pytest.fixture
async def kb_server(server: Server) -> Server:
    result = await import_dir(server.db, SAMPLE_DIR)
    assert not result.errors
    return server


async def test_only_articles_shown_in_the_chat_count_as_opened(kb_server: Server) -> None:
    customer = Customer(kb_server.url)
    await customer.connect()
    try:
        ack = await customer.say("how do I reset my password?")
        shown = {a["id"] for a in (await customer.next("articles"))["articles"]}
        async with kb_server.db.read() as s:
            others = set(await s.scalars(select(Article.id))) - shown
        await _refused(customer, "article_opened", {"article_id": 999_999}, "not_found")
        await _refused(customer, "article_opened", {"article_id": min(others)}, "not_found")
        assert (await customer.call("article_opened", {"article_id": min(shown)}))["ok"]
        async with kb_server.db.read() as s:
            viewed = list(
                await s.scalars(
                    select(Event.data).where(
                        Event.interaction_id == ack["interaction_id"],
                        Event.type == EventType.ARTICLE_VIEWED.value,
                    )
                )
            )
        assert viewed == [{"article_id": min(shown)}]
    finally:
        await customer.close()


async def test_an_agent_payload_that_is_not_an_object_is_malformed(server: Server) -> None:
    alice: Agent = await signed_in_agent(server, "alice")
    try:
        for payload in (None, [], "x", 5, [1, 2]):
            await _refused(alice, "accept", payload)
    finally:
        await alice.close()
