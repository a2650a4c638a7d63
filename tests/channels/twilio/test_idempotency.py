"""A replayed (Sid, status) is recognised, in the caller's transaction, on both backends."""

from __future__ import annotations

from sqlalchemy import func, select

from center.channels.twilio import first_delivery
from center.records.db import Database
from center.records.models import TwilioWebhook


async def test_same_sid_and_status_once(db: Database) -> None:
    sid = "SM" + "1" * 32
    async with db.step() as c:
        assert await first_delivery(c, sid, "delivered") is True
        assert await first_delivery(c, sid, "delivered") is False
    async with db.step() as c:
        assert await first_delivery(c, sid, "delivered") is False
        assert await first_delivery(c, sid, "failed") is True
        assert await first_delivery(c, "SM" + "2" * 32, "delivered") is True
    async with db.read_step() as c:
        count = (await c.execute(select(func.count()).select_from(TwilioWebhook))).scalar()
    assert count == 3


async def test_a_rolled_back_step_forgets_the_delivery(db: Database) -> None:
    sid = "CA" + "3" * 32

    class Boom(Exception):
        pass

    try:
        async with db.step() as c:
            assert await first_delivery(c, sid, "completed") is True
            raise Boom
    except Boom:
        pass
    # The change it guarded was not stored, so Twilio's retry must be acted on.
    async with db.step() as c:
        assert await first_delivery(c, sid, "completed") is True
