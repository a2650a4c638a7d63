"""A ticket opened from an SMS conversation: its replies leave as texts, once."""

from __future__ import annotations

from tests.channels.sms.support import PHONE, text
from tests.rest import Http
from tests.support import PASSWORD, Server, signed_in_agent
from tests.twilio_support import CENTER_NUMBER, TwilioApi, Webhooks


async def test_ticket_reply_goes_out_as_an_sms(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    ann = await signed_in_agent(server, "ann", capacity={"sms": 1})
    http = Http(server)
    try:
        await text(hooks, "I need a refund for order 42")
        offer = await ann.next("offer")
        assert (await ann.call("accept", {"interaction_id": offer["id"]}))["ok"]
        await http.call("POST", "/api/login", {"username": "ann", "password": PASSWORD})
        opened = await http.call(
            "POST", f"/api/interactions/{offer['id']}/ticket", {"subject": "Refund 42"}
        )
        assert opened.status == 201, opened.text
        ticket = opened.json["ticket"]
        assert ticket["channel"] == "sms"
        reply = await http.call(
            "POST", f"/api/tickets/{ticket['id']}/replies", {"body": "Refund issued."}
        )
        assert reply.status == 202, reply.text
        [sent] = await twilio_api.wait_for("Messages.json")
        assert (sent.form["To"], sent.form["From"], sent.form["Body"]) == (
            PHONE,
            CENTER_NUMBER,
            "Refund issued.",
        )
        too_many = await http.call(
            "POST", f"/api/tickets/{ticket['id']}/replies", {"body": "x", "cc": ["a@b.example"]}
        )
        assert too_many.status in (409, 422)
    finally:
        await http.close()
        await ann.close()
