"""The door: what the SMTP listener accepts, refuses, stores before it says 250, and what
happens to mail that cannot be read; the relay going away and coming back."""

from __future__ import annotations

import asyncio
import hashlib
import smtplib

from sqlalchemy import func, select

from center.channels.email import store
from center.channels.email.listener import Delivery, Listener
from center.channels.email.models import EmailInbound, InboundStatus
from center.records.base import utcnow
from center.records.enums import Role
from center.records.models import Message, Ticket
from center.tickets.models import Attachment
from center.tickets.web import OUTBOX_WORKER
from tests.channels.email import clients
from tests.channels.email.support import (
    SUPPORT,
    agent_reply,
    deliver,
    email_app,
    inbound,
    last_inbound,
    smtp_port,
)
from tests.support import make_user
from tests.tickets.support import timeline


async def test_unknown_recipient_550_and_oversize_552(settings, db) -> None:
    async with email_app(settings, db, email_max_message_bytes=20_000) as (server, _sink):
        port = smtp_port(server)

        def talk() -> tuple[int, int, int]:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as c:
                c.ehlo()
                c.mail("x@example.test")
                rcpt_code, _ = c.rcpt("someone-else@center.test")
                c.rset()
                # Declared too large: refused at MAIL, before any byte is sent.
                mail_code, _ = c.mail("x@example.test", ["SIZE=50000"])
                c.rset()
                c.mail("x@example.test")
                c.rcpt(SUPPORT)
                data_code, _ = c.data(
                    b"Subject: big\r\n\r\n" + b"x" * 60 + b"\r\n" * 1 + (b"y" * 70 + b"\r\n") * 400
                )
            return rcpt_code, mail_code, data_code

        assert await asyncio.to_thread(talk) == (550, 552, 552)
        async with server.db.read() as s:
            assert await s.scalar(select(func.count()).select_from(EmailInbound)) == 0


async def test_stored_before_250_and_unparseable_quarantined(settings, db) -> None:
    async with email_app(settings, db) as (server, _sink):
        raw = clients.gmail().replace(b"\n", b"\r\n")
        assert await deliver(server, raw) == {}
        row = await last_inbound(server)  # committed by the time smtplib got its 250
        assert row.raw == raw and row.sha256 == hashlib.sha256(row.raw).hexdigest()
        assert row.status == InboundStatus.PROCESSED and row.envelope_to == [SUPPORT]
        # Nothing but a body: kept, quarantined, listed for supervisors; never a crash.
        await deliver(server, b"\r\n\r\nno headers at all\r\n")
        bad = await last_inbound(server)
        assert bad.status == InboundStatus.QUARANTINED and "unparseable" in bad.reason
        assert b"no headers at all" in bad.raw
        await make_user(server.db, "sue", role=Role.SUPERVISOR)
        from tests.support import Agent

        sue = Agent(server.url)
        try:
            assert (await sue.login("sue")).status == 200
            status, body = await sue.get("/api/email/quarantine")
            assert status == 200 and [q["id"] for q in body["quarantined"]] == [bad.id]
        finally:
            await sue.close()


async def test_store_failure_answers_451_so_the_sender_keeps_it() -> None:
    async def broken(_d: Delivery) -> None:
        raise OSError("database is gone")

    listener = Listener(broken, host="127.0.0.1", port=0, support={SUPPORT}, max_bytes=10_000)
    await listener.start()
    try:

        def send() -> int:
            with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as c:
                try:
                    c.sendmail("a@b.test", [SUPPORT], b"Subject: x\r\n\r\nhi\r\n")
                except smtplib.SMTPDataError as e:
                    return e.smtp_code
            return 250

        assert await asyncio.to_thread(send) == 451
    finally:
        await listener.stop()


async def test_crash_after_store_is_processed_at_start_and_duplicates_make_no_work(
    settings, db
) -> None:
    async with email_app(settings, db) as (server, _sink):
        svc = inbound(server)
        # Stored, then the process died before processing it.
        # A row left "received" (by a process that stored it, then died).
        raw = clients.outlook(subject="Invoice")
        async with server.db.step() as c:
            stored = (
                await c.execute(
                    store.INBOUND.insert()
                    .values(
                        received_at=utcnow(), source="smtp", envelope_from="b@x.test",
                        envelope_to=[SUPPORT], raw=raw, size=len(raw), sha256="-",
                        status=InboundStatus.RECEIVED,
                    )
                    .returning(store.INBOUND.c.id)
                )
            ).scalar_one()  # fmt: skip
        assert await svc.process_pending() == 1
        async with server.db.read() as s:
            row = await s.get(EmailInbound, stored)
        assert row.status == InboundStatus.PROCESSED and row.ticket_id is not None
        # The same Message-ID again (sent to two of our addresses, or fetched twice).
        await deliver(server, clients.outlook(subject="Invoice"))
        dup = await last_inbound(server)
        assert dup.status == InboundStatus.DUPLICATE
        async with server.db.read() as s:
            assert await s.scalar(select(func.count()).select_from(Ticket)) == 1


async def test_forwarded_message_and_attachment_limits(settings, db) -> None:
    image = bytes(range(256)) * 40  # 10 KiB
    async with email_app(settings, db, email_max_attachment_bytes=5_000) as (server, _sink):
        await deliver(server, clients.forwarded(), sender="erin@example.test")
        row = await last_inbound(server)
        async with server.db.read() as s:
            ticket = await s.get(Ticket, row.ticket_id)
            [att] = list(
                await s.scalars(
                    select(Attachment).where(Attachment.message_id == row.message_row_id)
                )
            )
            m = await s.get(Message, row.message_row_id)
        assert att.content_type == "message/rfc822" and b"mallory@evil.test" in att.data
        assert att.sha256 == hashlib.sha256(att.data).hexdigest()
        assert "Click here" not in m.body and "phishing" in m.body
        events = await timeline(server.db, ticket.customer_id)
        assert all("mallory" not in str(d) for _, d in events)
        # Over the per-attachment limit: counted as omitted, the raw message keeps it.
        await deliver(server, clients.apple_mail(image=image), sender="carol@icloud.test")
        row = await last_inbound(server)
        async with server.db.read() as s:
            n = await s.scalar(
                select(func.count())
                .select_from(Attachment)
                .where(Attachment.message_id == row.message_row_id)
            )
        assert n == 0
        async with server.db.read() as s:
            customer = (await s.get(Ticket, row.ticket_id)).customer_id
        [got] = [d for t, d in await timeline(server.db, customer) if t == "email.received"]
        assert got["attachments"] == 0 and got["attachments_omitted"] == 1


async def test_relay_outage_then_recovery_delivers_exactly_once(settings, db) -> None:
    async with email_app(settings, db) as (server, sink):
        await deliver(server, clients.gmail(sender="ann@x.test"), sender="ann@x.test")
        row = await last_inbound(server)
        agent = await make_user(server.db, "al", role=Role.SUPERVISOR)
        sink.refuse = "421 4.3.2 Service not available, try later"
        reply = await agent_reply(server, row.ticket_id, agent.id, "On its way.")
        worker = server.app[OUTBOX_WORKER]
        for _ in range(100):
            async with server.db.read() as s:
                meta = (await s.get(Message, reply.id)).meta
            if meta["delivery"].get("attempts", 0) >= 2:
                break
            await asyncio.sleep(0.05)
        assert meta["delivery"]["status"] == "queued" and "421" in meta["delivery"]["reason"]
        assert sink.received == []
        sink.refuse = None  # the relay is back
        worker.wake()
        [got] = await sink.wait(1)
        assert got.message["Message-ID"] == reply.meta["message_id_header"]
        for _ in range(40):
            async with server.db.read() as s:
                meta = (await s.get(Message, reply.id)).meta
            if meta["delivery"]["status"] == "sent":
                break
            await asyncio.sleep(0.05)
        assert meta["delivery"]["status"] == "sent"
        await worker.run_once()
        await asyncio.sleep(0.2)
        assert len(sink.received) == 1  # exactly once
        async with server.db.read() as s:
            customer = (await s.get(Ticket, row.ticket_id)).customer_id
        types = [t for t, _ in await timeline(server.db, customer)]
        assert "delivery.retrying" in types and types.count("delivery.sent") == 1
