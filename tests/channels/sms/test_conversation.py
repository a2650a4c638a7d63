"""An SMS conversation both ways on the real server: signed webhooks in, the official client
out to the REST stand-in, delivery status back to the agent, every step on the timeline."""

from __future__ import annotations

import asyncio

from center.records.enums import Direction
from tests.channels.sms.support import PHONE, callback, counts, events_of, message, text
from tests.support import Server, signed_in_agent
from tests.twilio_support import ACCOUNT_SID, CENTER_NUMBER, PUBLIC_URL, TwilioApi, Webhooks

MESSAGES = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


async def test_text_in_agent_reply_out_with_delivery_status(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    ann = await signed_in_agent(server, "ann", capacity={"sms": 2})
    try:
        url = "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM1/Media/ME1"
        media = [(url, "image/jpeg")]
        await text(hooks, "my parcel never arrived", media=media)
        offer = await ann.next("offer")
        assert offer["channel"] == "sms" and offer["preview"] == "my parcel never arrived"
        ack = await ann.call("accept", {"interaction_id": offer["id"]})
        assert ack["ok"], ack
        [first] = ack["messages"]
        assert first["media"] == [{"url": media[0][0], "content_type": "image/jpeg"}]
        assert first["sms"]["from"] == PHONE

        # A second text joins the same conversation and reaches the agent live.
        await text(hooks, "tracking number 1Z999")
        live = await ann.next("message")
        assert live["interaction_id"] == offer["id"] and live["body"] == "tracking number 1Z999"
        assert await counts(server) == (1, 2)

        reply = await ann.call("message", {"interaction_id": offer["id"], "text": "On it!"})
        assert reply["ok"], reply
        assert reply["message"]["delivery"]["status"] == "queued"
        [sent] = await twilio_api.wait_for("Messages.json")
        mid = reply["message_id"]
        assert sent.path == MESSAGES
        assert sent.form == {
            "To": PHONE,
            "From": CENTER_NUMBER,
            "Body": "On it!",
            "StatusCallback": f"{PUBLIC_URL}/twilio/sms/status?m={mid}",
        }
        delivery = await ann.next("delivery")
        assert delivery["message_id"] == mid and delivery["delivery"]["status"] == "sent"
        [sid] = twilio_api.messages

        for status in ("queued", "sent", "delivered"):
            assert await callback(hooks, sent, sid, status) == 200
            seen = await ann.next("sms_status")
            assert seen == {
                "interaction_id": offer["id"],
                "message_id": mid,
                "status": status,
                "error_code": None,
            }
        # A replay, and a late "sent" after "delivered": recorded once, never a step back.
        assert await callback(hooks, sent, sid, "delivered") == 200
        assert await callback(hooks, sent, sid, "sent") == 200
        stored = await message(server, mid)
        assert stored.direction is Direction.OUTBOUND
        assert stored.meta["sms"]["sid"] == sid and stored.meta["sms"]["status"] == "delivered"
        assert stored.meta["delivery"]["status"] == "sent"

        types = [e.type for e in await events_of(server, offer["id"])]
        assert types == [
            "interaction.started",
            "message.received",
            "interaction.queued",
            "interaction.offered",
            "interaction.accepted",
            "message.received",
            "message.sent",
            "delivery.sent",
            "sms.status",
            "sms.status",
            "sms.status",
        ]
        assert len(twilio_api.posts("Messages.json")) == 1
    finally:
        await ann.close()


async def test_failed_delivery_with_error_code_reaches_the_agent(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    ann = await signed_in_agent(server, "ann", capacity={"sms": 1})
    try:
        await text(hooks, "hello?")
        offer = await ann.next("offer")
        assert (await ann.call("accept", {"interaction_id": offer["id"]}))["ok"]
        reply = await ann.call("message", {"interaction_id": offer["id"], "text": "Hi"})
        [sent] = await twilio_api.wait_for("Messages.json")
        [sid] = twilio_api.messages
        assert await callback(hooks, sent, sid, "undelivered", error_code=30003) == 200
        seen = await ann.next("sms_status")
        assert (seen["status"], seen["error_code"]) == ("undelivered", 30003)
        stored = await message(server, reply["message_id"])
        assert stored.meta["sms"]["error_code"] == 30003
    finally:
        await ann.close()


async def test_unsigned_or_missigned_stores_nothing_and_replays_store_once(
    server: Server, hooks: Webhooks
) -> None:
    from tests.twilio_support import sms_inbound

    params = sms_inbound("let me in", from_=PHONE)
    assert (await hooks.post("/twilio/sms", params, sign=False)).status == 403
    assert (await hooks.post("/twilio/sms", params, signature="AAAA")).status == 403
    assert await counts(server) == (0, 0)
    first = await hooks.post("/twilio/sms", params)
    again = await hooks.post("/twilio/sms", params)
    assert first.status == again.status == 200
    assert await counts(server) == (1, 1)


async def test_unknown_message_sid_in_a_callback_is_200_and_changes_nothing(
    server: Server, hooks: Webhooks
) -> None:
    from tests.twilio_support import sms_status

    params = sms_status("SM" + "9" * 32, "delivered", to=PHONE)
    for path in ("/twilio/sms/status", "/twilio/sms/status?m=999999", "/twilio/sms/status?m=x"):
        assert (await hooks.post(path, params)).status == 200
    assert await counts(server) == (0, 0)


async def test_concurrent_first_texts_make_one_conversation(
    server: Server, hooks: Webhooks
) -> None:
    await asyncio.gather(*(text(hooks, f"part {n}") for n in range(3)))
    assert await counts(server) == (1, 3)


async def test_a_reply_longer_than_twilio_takes_is_refused_up_front(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    ann = await signed_in_agent(server, "ann", capacity={"sms": 1})
    try:
        await text(hooks, "tell me everything")
        offer = await ann.next("offer")
        assert (await ann.call("accept", {"interaction_id": offer["id"]}))["ok"]
        long = await ann.call("message", {"interaction_id": offer["id"], "text": "x" * 1601})
        assert long["ok"] is False and long["code"] == "too_long"
        fits = await ann.call("message", {"interaction_id": offer["id"], "text": "y" * 1600})
        assert fits["ok"], fits
        [sent] = await twilio_api.wait_for("Messages.json")
        assert len(sent.form["Body"]) == 1600  # one request: Twilio splits it, not us
    finally:
        await ann.close()
