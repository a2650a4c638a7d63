"""An offer nobody accepts goes back to the queue and on to another agent."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from center.config import Settings
from center.records.models import Interaction
from tests.agent_ui.test_browser import go_available, sign_in
from tests.browser import watched_page
from tests.support import PASSWORD, Customer, Server, make_user, signed_in_agent


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"offer_timeout_s": 0.6, "max_missed_offers": 1})


async def test_offer_timeout_requeues_and_offers_to_another_agent(server: Server) -> None:
    alice = await signed_in_agent(server, "alice")
    customer = Customer(server.url)
    await customer.connect()
    iid = (await customer.say("help please"))["interaction_id"]
    try:
        first = await alice.next("offer")
        withdrawn = await alice.next("offer_withdrawn", timeout=5)
        assert withdrawn == {"interaction_id": iid, "reason": "timeout"}
        # One miss with max_missed=1: alice is set away, and told so.
        presence = await alice.next("presence", timeout=5)
        while presence["presence"] != "away":
            presence = await alice.next("presence", timeout=5)
        assert presence["reason"] == "missed_offers"
        bob = await signed_in_agent(server, "bob")
        offer = await bob.next("offer", timeout=5)
        assert offer["id"] == iid == first["id"]
        assert (await bob.call("accept", {"interaction_id": iid}))["ok"]
        status, body = await bob.get(f"/api/interactions/{iid}")
        assert status == 200 and body["interaction"]["agent_id"] != first["agent_id"]
        async with server.db.read() as s:
            i = await s.get(Interaction, iid)
            assert i.state.value == "assigned"
        _, timeline = await bob.get(f"/api/customers/{i.customer_id}/timeline")
        types = [e["type"] for e in timeline["events"]]
        assert types.count("interaction.offered") == 2
        assert "interaction.offer_timed_out" in types
        await bob.close()
    finally:
        await customer.close()
        await alice.close()


@pytest.mark.browser
async def test_the_console_says_why_the_agent_was_set_away(
    server: Server, browser: Browser
) -> None:
    await make_user(server.db, "alice")
    errors: list[str] = []
    context = await browser.new_context()
    customer = Customer(server.url)
    try:
        page = await watched_page(context, errors, [])
        await sign_in(page, server.url, "alice", PASSWORD)
        await go_available(page)
        await customer.connect()
        await customer.say("anyone there?")
        await expect(page.locator("#offers .title")).to_have_count(1)
        # Nobody clicks: the offer runs out and the centre sets her away, saying why.
        await expect(page.locator("#presence")).to_have_value("away")
        await expect(page.locator("#presence-why")).to_have_text("(offers were missed)")
        await page.select_option("#presence", "offline")  # her own choice: the note goes
        await expect(page.locator("#presence-why")).to_have_text("")
        assert errors == []
    finally:
        await customer.close()
        await context.close()
