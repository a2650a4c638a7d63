"""Reloading the agent console while an offer shows: the offer comes back with the time it
has left, can be accepted, and is not counted as missed."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect

from center.config import Settings
from tests.agent_ui.test_browser import go_available, sign_in
from tests.browser import watched_page
from tests.support import PASSWORD, Agent, Customer, Server, make_user, signed_in_agent

OFFER_S = 30.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Long enough that the reconnect surely lands inside the offer and the offline grace.
    return settings.model_copy(
        update={"offer_timeout_s": OFFER_S, "agent_offline_grace_s": 20.0, "max_missed_offers": 1}
    )


async def test_a_reconnected_console_gets_the_pending_offer_back(server: Server) -> None:
    alice = await signed_in_agent(server, "alice")
    customer = Customer(server.url)
    await customer.connect()
    iid = (await customer.say("where is my parcel?"))["interaction_id"]
    again = Agent(server.url)
    try:
        offer = await alice.next("offer")
        assert offer["id"] == iid
        await alice.sio.disconnect()  # the reload: this socket goes, a new one comes

        again.cookie = alice.cookie
        hello = await again.connect()
        [restored] = hello["offers"]
        assert restored["id"] == iid and restored["preview"] == "where is my parcel?"
        assert restored["deadline_ms"] == offer["deadline_ms"]  # the same offer, not a new one
        assert 0 < restored["remaining_ms"] <= OFFER_S * 1000

        accepted = await again.call("accept", {"interaction_id": iid})
        assert accepted["ok"], accepted
        _, timeline = await again.get(
            f"/api/customers/{accepted['interaction']['customer_id']}/timeline"
        )
        types = [e["type"] for e in timeline["events"]]
        assert "interaction.offer_timed_out" not in types
        assert types.count("interaction.offered") == 1
        # The next hello lists no offer: it is a chat now.
        await again.sio.disconnect()
        third = Agent(server.url)
        third.cookie = alice.cookie
        try:
            hello = await third.connect()
            assert hello["offers"] == []
            # Not counted as missed: with max_missed_offers=1 a miss would have set her away.
            assert hello["presence"] == "available"
            assert [i["id"] for i in hello["interactions"]] == [iid]
        finally:
            await third.close()
    finally:
        await customer.close()
        await again.close()
        await alice.close()


@pytest.mark.browser
async def test_reloading_the_page_shows_the_offer_again(server: Server, browser: Browser) -> None:
    await make_user(server.db, "alice")
    errors: list[str] = []
    dialogs: list[str] = []
    context = await browser.new_context()
    customer = Customer(server.url)
    try:
        page = await watched_page(context, errors, dialogs)
        await sign_in(page, server.url, "alice", PASSWORD)
        await go_available(page)

        await customer.connect()
        await customer.say("my order never came")
        offer = page.locator("#offers .offer")
        await expect(offer).to_have_count(1)

        await page.reload()
        await expect(offer).to_have_count(1)
        await expect(offer.locator(".preview")).to_have_text("my order never came")
        await expect(offer.locator(".countdown")).to_have_text(_seconds_left())
        await offer.locator(".accept").click()
        await expect(offer).to_have_count(0)
        await expect(page.locator("#panes .pane")).to_have_count(1)
        assert errors == [] and dialogs == []
    finally:
        await customer.close()
        await context.close()


def _seconds_left() -> re.Pattern[str]:
    # A countdown in whole seconds within the offer's time, not "0s" (ran out) or "NaNs".
    return re.compile(r"^([1-9]|[12][0-9]|30)s$")
