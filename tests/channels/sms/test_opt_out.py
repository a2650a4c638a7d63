"""STOP / START / HELP as Twilio defines them: the opt-out is kept, nothing goes to an
opted-out number, and the agent is told why."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from center.channels.sms.keywords import Keyword, classify
from center.records.models import SmsOptOut
from tests.channels.sms.support import PHONE, counts, events_of, text
from tests.support import Server, signed_in_agent
from tests.twilio_support import TwilioApi, Webhooks


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("STOP", Keyword.STOP),
        (" stop ", Keyword.STOP),
        ("Unsubscribe", Keyword.STOP),
        ("stopall", Keyword.STOP),
        ("CANCEL", Keyword.STOP),
        ("end", Keyword.STOP),
        ("quit", Keyword.STOP),
        ("REVOKE", Keyword.STOP),
        ("optout", Keyword.STOP),
        ("START", Keyword.START),
        ("yes", Keyword.START),
        ("Unstop", Keyword.START),
        ("help", Keyword.HELP),
        ("INFO", Keyword.HELP),
        ("stop sending me bills", None),
        ("please stop", None),
        ("", None),
    ],
)
def test_keywords_match_twilios_single_word_rule(body: str, expected: Keyword | None) -> None:
    assert classify(body) is expected


def test_advanced_opt_out_type_decides() -> None:
    assert classify("ARRET", "STOP") is Keyword.STOP  # a localised keyword Twilio matched
    assert classify("STOP", "START") is Keyword.START


async def opted_out(server: Server, phone: str) -> bool:
    async with server.db.read_step() as c:
        return (await c.scalar(select(SmsOptOut.phone).where(SmsOptOut.phone == phone))) is not None


async def test_stop_mid_conversation_blocks_replies_until_start(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    ann = await signed_in_agent(server, "ann", capacity={"sms": 1})
    try:
        await text(hooks, "what are your hours")
        offer = await ann.next("offer")
        iid = offer["id"]
        assert (await ann.call("accept", {"interaction_id": iid}))["ok"]

        await text(hooks, "Stop")
        seen = await ann.next("message")
        assert seen["body"] == "Stop"
        assert await ann.next("sms_keyword") == {
            "interaction_id": iid,
            "keyword": "STOP",
            "phone": PHONE,
        }
        assert await opted_out(server, PHONE)
        _, before = await counts(server)
        refused = await ann.call("message", {"interaction_id": iid, "text": "Are you there?"})
        assert refused["ok"] is False and refused["code"] == "opted_out"
        assert "opted out" in refused["error"] and PHONE in refused["error"]
        assert (await counts(server))[1] == before  # nothing stored, nothing queued
        assert twilio_api.posts("Messages.json") == []

        await text(hooks, "START")
        assert (await ann.next("sms_keyword"))["keyword"] == "START"
        assert not await opted_out(server, PHONE)
        ok = await ann.call("message", {"interaction_id": iid, "text": "Welcome back"})
        assert ok["ok"], ok
        [sent] = await twilio_api.wait_for("Messages.json")
        assert sent.form["Body"] == "Welcome back"
        types = [e.type for e in await events_of(server, iid)]
        assert "sms.opted_out" in types and "sms.opted_in" in types
    finally:
        await ann.close()


async def test_stop_without_a_conversation_queues_nothing(server: Server, hooks: Webhooks) -> None:
    await text(hooks, "STOP")
    await text(hooks, "HELP")
    assert await counts(server) == (0, 0)
    assert await opted_out(server, PHONE)


async def test_twilio_refusing_an_unsubscribed_number_marks_the_opt_out(
    server: Server, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    # Twilio saw the STOP (e.g. before this center existed); its API says so on the send.
    twilio_api.fail_next("Messages", 400, 21610, "Attempt to send to unsubscribed recipient")
    ann = await signed_in_agent(server, "ann", capacity={"sms": 1})
    try:
        await text(hooks, "hi")
        offer = await ann.next("offer")
        assert (await ann.call("accept", {"interaction_id": offer["id"]}))["ok"]
        assert (await ann.call("message", {"interaction_id": offer["id"], "text": "x"}))["ok"]
        failed = await ann.next("delivery")
        assert failed["delivery"]["status"] == "failed"
        assert "21610" in failed["delivery"]["reason"]
        assert await opted_out(server, PHONE)
        again = await ann.call("message", {"interaction_id": offer["id"], "text": "y"})
        assert again["code"] == "opted_out"
        assert len(twilio_api.posts("Messages.json")) == 1
    finally:
        await ann.close()
