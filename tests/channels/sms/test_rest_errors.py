"""Twilio's REST errors: shown to the agent, retried on 5xx, never sent twice."""

from __future__ import annotations

from center.outbox import Item, OutboxKind
from tests.channels.sms.support import PHONE, message, text
from tests.support import Server, signed_in_agent
from tests.twilio_support import TwilioApi, Webhooks


async def _reply(server: Server, hooks: Webhooks, body: str):
    ann = await signed_in_agent(server, "ann", capacity={"sms": 1})
    await text(hooks, "help me")
    offer = await ann.next("offer")
    assert (await ann.call("accept", {"interaction_id": offer["id"]}))["ok"]
    reply = await ann.call("message", {"interaction_id": offer["id"], "text": body})
    assert reply["ok"], reply
    return ann, reply["message_id"]


async def test_5xx_is_retried_and_sent_once(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    twilio_api.fail_next("Messages", 503, 20503, "Service Unavailable", times=2, method="POST")
    ann, mid = await _reply(server, hooks, "second time lucky")
    try:
        retrying = await ann.next("delivery")
        assert retrying["delivery"]["status"] == "queued"
        assert "503" in retrying["delivery"]["reason"]
        while (d := await ann.next("delivery"))["delivery"]["status"] != "sent":
            pass
        assert d["delivery"]["attempts"] == 3
        posts = twilio_api.posts("Messages.json")
        assert len(posts) == 3 and len(twilio_api.messages) == 1  # two refused, one created
        stored = await message(server, mid)
        assert stored.meta["sms"]["sid"] == next(iter(twilio_api.messages))
    finally:
        await ann.close()


async def test_4xx_fails_with_twilios_reason_for_the_agent(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    twilio_api.fail_next("Messages", 400, 21211, "The 'To' number is not a valid phone number.")
    ann, mid = await _reply(server, hooks, "hello")
    try:
        failed = await ann.next("delivery")
        assert failed["message_id"] == mid and failed["delivery"]["status"] == "failed"
        assert "21211" in failed["delivery"]["reason"]
        assert "not a valid phone number" in failed["delivery"]["reason"]
        assert len(twilio_api.posts("Messages.json")) == 1
        outbox_id = (await message(server, mid)).meta["sms"]["outbox_id"]
        resend = f"{server.url}/api/outbox/{outbox_id}/resend"

        # Another agent may not resend it; the agent holding the conversation may, once.
        bob = await signed_in_agent(server, "bob", capacity={"sms": 1}, available=False)
        try:
            async with bob.http.post(resend, headers={"Cookie": bob.cookie}) as r:
                assert r.status == 403
        finally:
            await bob.close()
        async with ann.http.post(resend, headers={"Cookie": ann.cookie}) as r:
            assert r.status == 202, await r.text()
        sent = await ann.next("delivery")
        assert sent["message_id"] == mid and sent["delivery"]["status"] == "sent"
        assert len(twilio_api.posts("Messages.json")) == 2 and len(twilio_api.messages) == 1
        async with ann.http.post(resend, headers={"Cookie": ann.cookie}) as r:
            assert r.status == 409  # (sent: nothing to resend)
    finally:
        await ann.close()


async def test_a_retry_adopts_the_message_twilio_already_has(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    """A send whose answer was lost (timeout, crash): the retry finds it and sends nothing."""
    from center.channels.sms.webhooks import OUTBOUND
    from center.outbox import senders

    ann, mid = await _reply(server, hooks, "only once please")
    try:
        await ann.next("delivery")
        [sid] = twilio_api.messages
        # Forget the SID on our side, as if the first send's answer never arrived.
        stored = await message(server, mid)
        async with server.db.step() as c:
            from center.channels.sms import store

            sms = {k: v for k, v in stored.meta["sms"].items() if k != "sid"}
            await store.set_meta(c, mid, {**stored.meta, "sms": sms})
        sender = senders(server.app)[OutboxKind.SMS]
        assert server.app[OUTBOUND] is sender.out
        item = Item(
            id=0,
            kind=OutboxKind.SMS,
            key=f"sms:{mid}",
            payload={"message_id": mid, "to": PHONE, "body": "only once please"},
            attempts=2,
            customer_id=None,
            interaction_id=None,
            ticket_id=None,
            message_id=mid,
            created_at=stored.created_at,
        )
        result = await sender.send(item)
        assert result == {"sid": sid, "adopted": True}
        assert len(twilio_api.posts("Messages.json")) == 1
        lookups = [r for r in twilio_api.requests if r.method == "GET"]
        assert lookups and lookups[-1].query["To"] == PHONE
    finally:
        await ann.close()
