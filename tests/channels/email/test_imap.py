"""IMAP polling against a real dovecot: messages are stored through the one inbound path,
then (only then) flagged or moved; IDLE brings new mail in without a poll."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

import aioimaplib
import pytest
from sqlalchemy import func, select

from center.channels.email.imap import MailboxConfig, MailboxPoller
from center.channels.email.listener import Delivery
from center.channels.email.models import EmailInbound, EmailMailbox, InboundStatus
from center.records.models import Ticket
from tests.channels.email import clients
from tests.channels.email.dovecot import Dovecot, dovecot  # noqa: F401 (the fixture)
from tests.channels.email.support import email_app, inbound


async def _client(d: Dovecot) -> Any:
    c = aioimaplib.IMAP4("127.0.0.1", d.port, timeout=5)
    await c.wait_hello_from_server()
    await c.login(d.user, d.password)
    return c


async def _uids(c: Any, folder: str, criteria: str) -> list[str]:
    await c.select(folder)
    found = await c.uid_search(criteria)
    return bytes(found.lines[0]).decode().split()


def _box(d: Dovecot, **extra: Any) -> MailboxConfig:
    return MailboxConfig(
        name="main", host="127.0.0.1", port=d.port, security="none",
        username=d.user, password=d.password, **extra,
    )  # fmt: skip


async def test_poll_stores_then_marks_seen_and_idle_brings_new_mail(settings, db, dovecot) -> None:  # noqa: F811
    async with email_app(settings, db, smtp_listen="off") as (server, _sink):
        feeder = await _client(dovecot)
        try:
            await feeder.append(clients.gmail(sender="a@x.test"), mailbox="INBOX")
            await feeder.append(
                clients.outlook(sender="b@y.test", subject="Invoice"), mailbox="INBOX"
            )
            poller = MailboxPoller(_box(dovecot), inbound(server).receive, poll_s=30)
            await poller.connect()
            assert await poller.poll_once() == 2
            assert await _uids(feeder, "INBOX", "UNSEEN") == []
            async with server.db.read() as s:
                assert await s.scalar(select(func.count()).select_from(Ticket)) == 2
                refs = list(await s.scalars(select(EmailInbound.source_ref)))
            assert all(r and r.startswith("imap:main:") for r in refs)
            # Polled again (nothing new): nothing stored twice.
            assert await poller.poll_once() == 0

            # IDLE: the server pushes the new message's arrival; no poll interval passes.
            run = asyncio.create_task(_idle_loop(poller))
            await asyncio.sleep(0.3)
            await feeder.append(clients.thunderbird(sender="c@z.test"), mailbox="INBOX")
            for _ in range(100):  # (IDLE's push, well within one poll interval of 30 s)
                if poller.stored == 3:
                    break
                await asyncio.sleep(0.05)
            assert poller.stored == 3
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run
            await poller.close()
        finally:
            await feeder.logout()


async def _idle_loop(poller: MailboxPoller) -> None:
    assert poller.client.has_capability("IDLE")
    while True:
        await poller.wait_for_mail()
        await poller.poll_once()


async def test_moved_only_after_stored_and_stored_once(settings, db, dovecot) -> None:  # noqa: F811
    async with email_app(settings, db, smtp_listen="off") as (server, _sink):
        feeder = await _client(dovecot)
        try:
            await feeder.create("Processed")
            await feeder.append(clients.gmail(sender="a@x.test"), mailbox="INBOX")
            calls = 0

            async def failing(d: Delivery) -> Any:
                nonlocal calls
                calls += 1
                raise OSError("database down")

            broken = MailboxPoller(_box(dovecot, move_to="Processed"), failing, poll_s=30)
            await broken.connect()
            with pytest.raises(OSError):
                await broken.poll_once()
            await broken.close()
            assert calls == 1
            assert len(await _uids(feeder, "INBOX", "ALL")) == 1  # not moved: not stored

            # Stored, then "crashed" before the move: the next poll stores it once.
            svc = inbound(server)
            first = await feeder.uid_search("ALL")
            uid = bytes(first.lines[0]).decode().split()[0]
            poller = MailboxPoller(_box(dovecot, move_to="Processed"), svc.receive, poll_s=30)
            await poller.connect()
            raw = await poller.client.uid("fetch", uid, "BODY.PEEK[]")
            body = next(bytes(x) for x in raw.lines if isinstance(x, bytearray))
            await svc.receive(
                Delivery(
                    raw=body, source="imap:main", source_ref=f"imap:main:{poller.uidvalidity}:{uid}"
                )
            )
            assert await poller.poll_once() == 1
            await poller.close()
            assert await _uids(feeder, "INBOX", "ALL") == []
            assert len(await _uids(feeder, "Processed", "ALL")) == 1
            async with server.db.read() as s:
                rows = list(await s.scalars(select(EmailInbound)))
            assert [r.status for r in rows] == [InboundStatus.PROCESSED]
        finally:
            await feeder.logout()


async def test_admin_adds_a_mailbox_and_its_poller_brings_mail_in(settings, db, dovecot) -> None:  # noqa: F811
    from center.records.enums import Role
    from tests.rest import Http

    async with email_app(settings, db, smtp_listen="off", email_imap_poll_s=5) as (server, _):
        admin = await Http(server).login(server, "root", Role.ADMIN)
        feeder = await _client(dovecot)
        try:
            box = {
                "name": "main", "host": "127.0.0.1", "port": dovecot.port, "security": "none",
                "username": dovecot.user, "password": dovecot.password,
            }  # fmt: skip
            bad = await admin.call("POST", "/api/email/mailboxes", {**box, "name": "no/slash"})
            assert bad.status == 400
            bad = await admin.call("POST", "/api/email/mailboxes", {**box, "port": 10**12})
            assert bad.status == 400
            added = await admin.call("POST", "/api/email/mailboxes", box)
            assert added.status == 201, added
            assert "password" not in added.json["mailbox"]
            async with server.db.read() as s:
                stored = await s.scalar(select(EmailMailbox.password))
            # Sealed at rest: a copy of the database does not give the mailbox away.
            assert stored.startswith("fernet:") and dovecot.password not in stored
            again = await admin.call("POST", "/api/email/mailboxes", box)
            assert again.status == 409
            await feeder.append(clients.gmail(sender="a@x.test"), mailbox="INBOX")
            for _ in range(100):  # stored, then flagged: the listing counts it after both
                listed = (await admin.call("GET", "/api/email/mailboxes")).json["mailboxes"]
                if listed[0]["stored"]:
                    break
                await asyncio.sleep(0.05)
            assert [(b["name"], b["running"], b["stored"]) for b in listed] == [("main", True, 1)]
            async with server.db.read() as s:
                assert await s.scalar(select(func.count()).select_from(Ticket)) == 1
            assert await _uids(feeder, "INBOX", "UNSEEN") == []
            gone = await admin.call("DELETE", "/api/email/mailboxes/main")
            assert gone.status == 200
            assert (await admin.call("GET", "/api/email/mailboxes")).json["mailboxes"] == []
        finally:
            await feeder.logout()
            await admin.close()


async def test_passwords_stored_before_sealing_are_sealed_and_a_foreign_seal_is_skipped(
    settings,
    db,
    dovecot,  # noqa: F811
) -> None:
    from center.channels.email.web import IMAP_POLLERS
    from center.secret_box import SecretBox

    foreign = SecretBox.from_secret("another deployment's key").seal(dovecot.password)
    async with db.transaction() as s:
        for name, password in [("legacy", dovecot.password), ("foreign", foreign)]:
            s.add(EmailMailbox(**{**_box(dovecot).model_dump(), "name": name,
                                  "password": password}, options={}))  # fmt: skip
    async with email_app(settings, db, smtp_listen="off", email_imap_poll_s=5) as (server, _):
        # The plain one runs (and is sealed now); the one nobody here can unseal is left
        # out, and the rest of the channel is up.
        assert sorted(server.app[IMAP_POLLERS]) == ["legacy"]
        async with server.db.read() as s:
            stored = dict((await s.execute(select(EmailMailbox.name, EmailMailbox.password))).all())
        assert stored["legacy"].startswith("fernet:") and dovecot.password not in stored["legacy"]
        assert stored["foreign"] == foreign
        feeder = await _client(dovecot)
        try:
            await feeder.append(clients.gmail(sender="a@x.test"), mailbox="INBOX")
            poller = server.app[IMAP_POLLERS]["legacy"][0]
            for _ in range(100):
                if poller.stored:
                    break
                await asyncio.sleep(0.05)
            assert poller.stored == 1
        finally:
            await feeder.logout()


@pytest.mark.parametrize("security", ["ssl", "starttls"])
async def test_mail_is_fetched_over_tls_implicit_or_starttls(
    settings,
    db,
    dovecot,  # noqa: F811
    security,
) -> None:
    async with email_app(settings, db, smtp_listen="off") as (server, _sink):
        feeder = await _client(dovecot)
        try:
            await feeder.append(clients.gmail(sender="a@x.test"), mailbox="INBOX")
            port = dovecot.tls_port if security == "ssl" else dovecot.port
            box = _box(dovecot).model_copy(update={"port": port, "security": security})
            poller = MailboxPoller(
                box, inbound(server).receive, poll_s=30, ssl_context=dovecot.ssl_context()
            )
            await poller.connect()
            try:
                transport = poller.client.protocol.transport
                assert transport.get_extra_info("ssl_object") is not None  # encrypted
                assert "STARTTLS" not in poller.client.protocol.capabilities  # asked again
                assert await poller.poll_once() == 1
            finally:
                await poller.close()
            # A certificate nobody vouches for (the system's trust store): no login is sent.
            untrusted = MailboxPoller(box, inbound(server).receive, poll_s=30)
            with pytest.raises(ssl.SSLCertVerificationError):
                await untrusted.connect()
            await untrusted.close()
        finally:
            await feeder.logout()
