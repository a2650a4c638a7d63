"""Quarantined mail: a supervisor lists it and has one processed again; it becomes a
ticket once it can be, or stays quarantined with the reason it still cannot."""

from __future__ import annotations

import hashlib

from sqlalchemy import insert, select

from center.channels.email.models import EmailInbound, InboundStatus
from center.records.base import utcnow
from center.records.enums import Role
from center.records.models import Message, Ticket
from tests.channels.email import clients
from tests.channels.email.support import SUPPORT, deliver, email_app, last_inbound
from tests.rest import Http


async def _quarantined_by_a_bug(server, raw: bytes) -> int:
    """A message a processing bug once quarantined (the ledger row as the door left it)."""
    async with server.db.step() as c:
        row = await c.execute(
            insert(EmailInbound.__table__)
            .values(
                received_at=utcnow(),
                source="smtp",
                envelope_from="ann@example.test",
                envelope_to=[SUPPORT],
                raw=raw,
                size=len(raw),
                sha256=hashlib.sha256(raw).hexdigest(),
                status=InboundStatus.QUARANTINED,
                reason="processing failed: KeyError('x')",
            )
            .returning(EmailInbound.__table__.c.id)
        )
        return int(row.scalar_one())


async def test_a_supervisor_reprocesses_quarantined_mail(settings, db) -> None:
    async with email_app(settings, db) as (server, _sink):
        await deliver(server, b"\r\n\r\nno headers at all\r\n")
        unreadable = (await last_inbound(server)).id
        raw = clients.gmail(sender="ann@example.test", subject="Lost parcel")
        fixed = await _quarantined_by_a_bug(server, raw.replace(b"\n", b"\r\n"))
        sue = await Http(server).login(server, "sue", Role.SUPERVISOR)
        bob = await Http(server).login(server, "bob", Role.AGENT)
        try:
            listed = (await sue.call("GET", "/api/email/quarantine")).json["quarantined"]
            assert [q["id"] for q in listed] == [fixed, unreadable]
            path = f"/api/email/quarantine/{fixed}/reprocess"
            assert (await bob.call("POST", path)).status == 403
            done = await sue.call("POST", path)
            assert done.status == 200, done.text
            assert done.json["status"] == "processed" and done.json["ticket_id"] is not None
            async with server.db.read() as s:
                ticket = await s.get(Ticket, done.json["ticket_id"])
                bodies = list(await s.scalars(select(Message.body)))
            assert ticket.subject == "Lost parcel"
            assert any("my order has not arrived" in b for b in bodies)
            # Processed once: asking again changes nothing.
            again = await sue.call("POST", path)
            assert again.status == 409 and again.json["code"] == "not_quarantined"
            # Still unreadable: kept quarantined, with the reason.
            still = await sue.call("POST", f"/api/email/quarantine/{unreadable}/reprocess")
            assert still.status == 200
            assert still.json["status"] == "quarantined" and "unparseable" in still.json["reason"]
            listed = (await sue.call("GET", "/api/email/quarantine")).json["quarantined"]
            assert [q["id"] for q in listed] == [unreadable]
            assert (await sue.call("POST", "/api/email/quarantine/999999/reprocess")).status == 404
        finally:
            await sue.close()
            await bob.close()
