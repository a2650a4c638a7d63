"""The optional satisfaction question after an agent closes an SMS conversation."""

from __future__ import annotations

import pytest

from center.config import Settings
from tests.channels.sms.support import PHONE, counts, events_of, text
from tests.support import Server, signed_in_agent
from tests.twilio_support import TwilioApi, Webhooks


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"sms_csat": True})


async def test_close_asks_and_a_digit_is_the_rating(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    ann = await signed_in_agent(server, "ann", capacity={"sms": 1})
    try:
        await text(hooks, "my order is late")
        offer = await ann.next("offer")
        iid = offer["id"]
        assert (await ann.call("accept", {"interaction_id": iid}))["ok"]
        assert (await ann.call("close", {"interaction_id": iid, "note": "ok"}))["ok"]
        [question] = await twilio_api.wait_for("Messages.json")
        assert question.form["To"] == PHONE and "Reply 1" in question.form["Body"]

        await text(hooks, "5")
        assert await counts(server) == (1, 3)  # the text, the question, the rating
        rated = [e for e in await events_of(server, iid) if e.type == "sms.csat"]
        assert [e.data["rating"] for e in rated] == [5]

        await text(hooks, "4")  # rated already: an ordinary first message
        assert (await counts(server))[0] == 2
    finally:
        await ann.close()
