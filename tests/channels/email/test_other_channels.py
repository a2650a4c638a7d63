"""A ticket opened for a chat or a call, with no email on it yet, is answered by email to
the customer's verified address; without one the reply is refused and nothing stored."""

from __future__ import annotations

from sqlalchemy import insert

from center.records.base import utcnow
from center.records.enums import Channel, IdentityKind, Role
from center.records.models import Identity
from center.tickets.web import TICKETS
from tests.channels.email.support import email_app
from tests.rest import Http
from tests.tickets.support import make_customer, make_interaction


async def _ticket_for(server, channel: Channel, email: str | None) -> int:
    customer = await make_customer(server.db)
    if email:
        async with server.db.step() as c:
            await c.execute(
                insert(Identity.__table__).values(
                    customer_id=customer,
                    kind=IdentityKind.EMAIL,
                    value=email,
                    verified=True,
                    created_at=utcnow(),
                )
            )
    iid = await make_interaction(server.db, customer, channel)
    async with server.db.step() as c:
        t = await server.app[TICKETS].open_for_interaction(
            c, iid, subject="Call back about invoice"
        )
    return t.id


async def test_a_chat_or_voice_ticket_is_answered_by_email(settings, db) -> None:
    async with email_app(settings, db) as (server, sink):
        voice = await _ticket_for(server, Channel.VOICE, "caller@example.test")
        chat = await _ticket_for(server, Channel.CHAT, None)
        sue = await Http(server).login(server, "sue", Role.SUPERVISOR)
        try:
            sent = await sue.call(
                "POST", f"/api/tickets/{voice}/replies", {"body": "Your refund is on its way."}
            )
            assert sent.status == 202, sent.text
            assert sent.json["message"]["channel"] == "email"
            [got] = await sink.wait(1)
            assert got.rcpt_tos == ["caller@example.test"]
            assert got.message["Subject"] == f"Re: Call back about invoice [#{voice}]"
            assert "Your refund is on its way." in got.message.get_body().get_content()
            # A customer with no verified address: refused, nothing stored.
            refused = await sue.call("POST", f"/api/tickets/{chat}/replies", {"body": "Hi"})
            assert refused.status == 409 and refused.json["code"] == "no_address"
            view = (await sue.call("GET", f"/api/tickets/{chat}")).json["ticket"]
            assert view["messages"] == []
        finally:
            await sue.close()
