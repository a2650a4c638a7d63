"""The SMS inbox: ``POST /twilio/sms`` stores the text in one statement and answers; the
processor acts on it afterwards, in order, once, and after a restart too."""

from __future__ import annotations

from sqlalchemy import func, select

from center.channels.sms.drain import KIND, stored_fields
from center.channels.sms.webhooks import INBOUND
from center.channels.twilio import inbox
from center.channels.twilio.forms import SmsInbound
from center.config import Settings
from center.records.db import Database
from center.records.events import EventType
from center.records.models import Event, Message, TwilioInbox
from tests.channels.sms.support import PHONE, counts
from tests.support import Server, serve_app
from tests.twilio_support import Webhooks, drained, sms_inbound

ROWS = TwilioInbox.__table__


async def inbox_rows(db: Database) -> list[dict]:
    async with db.read_step() as c:
        return [dict(r._mapping) for r in await c.execute(select(ROWS).order_by(ROWS.c.id))]


async def bodies(db: Database) -> list[str]:
    async with db.read_step() as c:
        t = Message.__table__
        return list((await c.execute(select(t.c.body).order_by(t.c.id))).scalars())


async def test_a_replayed_webhook_is_one_row_and_one_message(
    server: Server, hooks: Webhooks
) -> None:
    params = sms_inbound("where is my order?", from_=PHONE)
    first = await hooks.post("/twilio/sms", params)
    again = await hooks.post("/twilio/sms", params)
    assert first.status == again.status == 200
    assert "<Response" in again.text
    [row] = await inbox_rows(server.db)
    assert row["sid"] == params["MessageSid"] and row["processed_at"] is not None
    assert row["error"] is None
    assert await counts(server) == (1, 1)


async def test_an_unsigned_post_stores_nothing(server: Server, hooks: Webhooks) -> None:
    params = sms_inbound("let me in", from_=PHONE)
    assert (await hooks.post("/twilio/sms", params, sign=False)).status == 403
    assert (await hooks.post("/twilio/sms", params, signature="AAAA")).status == 403
    assert await inbox_rows(server.db) == []
    assert await counts(server) == (0, 0)


async def test_texts_from_one_number_keep_their_order(server: Server) -> None:
    # (Posted back to back without waiting for processing: the inbox fills faster than
    # it drains, so the processor sees several texts of one customer in one batch.)
    fast = Webhooks(server.url)
    try:
        sent = [f"part {n}" for n in range(12)]
        for n, body in enumerate(sent):
            assert (await fast.post("/twilio/sms", sms_inbound(body, from_=PHONE))).status == 200
            other = sms_inbound(f"other {n}", from_=f"+1555999{n:04d}")
            assert (await fast.post("/twilio/sms", other)).status == 200
        await drained(server.app)
    finally:
        await fast.close()
    assert [b for b in await bodies(server.db) if b.startswith("part")] == sent
    assert await counts(server) == (13, 24)


async def test_a_text_stored_before_a_stop_is_processed_at_the_next_start(
    settings: Settings, db: Database
) -> None:
    # What the handler wrote (and acknowledged) before the process stopped, unprocessed.
    form = SmsInbound.model_validate(sms_inbound("are you open on Sunday?", from_=PHONE))
    assert await inbox.accept(db, KIND, form.message_sid, stored_fields(form), key=form.from_)
    assert await inbox.pending(db, KIND) == 1
    async with serve_app(settings, db) as server:
        await drained(server.app)
        assert await bodies(db) == ["are you open on Sunday?"]
    [row] = await inbox_rows(db)
    assert row["processed_at"] is not None and row["error"] is None


async def test_a_row_that_fails_is_marked_with_its_error_and_not_retried(
    server: Server, hooks: Webhooks
) -> None:
    assert await inbox.accept(server.db, KIND, "SM" + "0" * 32, {"Body": "no sender"})
    await drained(server.app)
    await hooks.post("/twilio/sms", sms_inbound("still working?", from_=PHONE))
    bad, good = await inbox_rows(server.db)
    assert bad["processed_at"] is not None and "invalid form" in bad["error"]
    assert good["error"] is None
    assert await bodies(server.db) == ["still working?"]
    assert await inbox.pending(server.db, KIND) == 0


async def test_acted_on_rows_go_after_the_retention_and_a_late_replay_is_still_one_message(
    server: Server, hooks: Webhooks
) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from center.records.base import utcnow

    params = sms_inbound("is it shipped?", from_=PHONE)
    assert (await hooks.post("/twilio/sms", params)).status == 200
    failed = sms_inbound("a row whose processing failed", from_=PHONE)
    assert (await hooks.post("/twilio/sms", failed)).status == 200
    async with server.db.step() as c:  # both acted on 8 days ago, the second with an error
        await c.execute(update(ROWS).values(processed_at=utcnow() - timedelta(days=8)))
        await c.execute(update(ROWS).where(ROWS.c.sid == failed["MessageSid"]).values(error="boom"))
    assert await inbox.purge_processed(server.db, keep=timedelta(days=7), batch=1) == 1
    assert [r["sid"] for r in await inbox_rows(server.db)] == [failed["MessageSid"]]
    before = await bodies(server.db)
    # Twilio replays the purged one: a new inbox row, acted on as a replay (no message).
    assert (await hooks.post("/twilio/sms", params)).status == 200
    await drained(server.app)
    assert await bodies(server.db) == before


async def test_a_text_acted_on_twice_joins_its_conversation_once(
    server: Server, hooks: Webhooks
) -> None:
    """A processor that stopped after a row's effects and before its mark acts on it again
    at the next start: a text joining an open conversation (one statement on PostgreSQL)
    is then a replay, not a second message or event."""
    await hooks.post("/twilio/sms", sms_inbound("my parcel is late", from_=PHONE))
    await drained(server.app)
    form = SmsInbound.model_validate(sms_inbound("it was due Monday", from_=PHONE))
    receive = server.app[INBOUND].receive
    assert await receive(form) == "stored"
    assert await receive(form) == "replayed"
    assert await counts(server) == (1, 2)
    assert await bodies(server.db) == ["my parcel is late", "it was due Monday"]
    async with server.db.read_step() as c:
        t = Event.__table__
        received = await c.scalar(
            select(func.count()).where(t.c.type == EventType.MESSAGE_RECEIVED.value)
        )
    assert received == 2
