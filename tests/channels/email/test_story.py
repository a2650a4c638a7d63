"""The whole email story on the real app: mail in by SMTP, a ticket and a queued email
interaction, an agent's reply out through the relay with threading headers, the customer's
reply threading back by each of the three ways, and the timeline."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from center.channels.email.models import EmailInbound, EmailThread
from center.records.models import Message, Ticket
from tests.channels.email import clients
from tests.channels.email.support import deliver, email_app
from tests.support import signed_in_agent
from tests.tickets.support import timeline

CUSTOMER = "ann.customer@gmail.test"


async def _ticket_of(server: Any, inbound_id: int) -> tuple[int, int]:
    async with server.db.read() as s:
        row = await s.get(EmailInbound, inbound_id)
        return row.ticket_id, row.message_row_id


async def _last_inbound_id(server: Any) -> int:
    async with server.db.read() as s:
        return int(
            await s.scalar(select(EmailInbound.id).order_by(EmailInbound.id.desc()).limit(1))
        )


async def test_new_mail_reply_and_customer_replies_thread_back(settings, db) -> None:
    async with email_app(settings, db) as (server, sink):
        alice = await signed_in_agent(server, "alice", capacity={"email": 5})
        try:
            refused = await deliver(server, clients.gmail(sender=CUSTOMER), sender=CUSTOMER)
            assert refused == {}
            ticket_id, _ = await _ticket_of(server, await _last_inbound_id(server))
            assert ticket_id is not None

            offer = await alice.next("offer")
            assert offer["channel"] == "email"
            accepted = await alice.call("accept", {"interaction_id": offer["id"]})
            assert accepted["ok"], accepted
            assert accepted["messages"][0]["body"].startswith("Hello, my order has not arrived")

            async with server.db.read() as s:
                ticket = await s.get(Ticket, ticket_id)
            # The agent's reply through the REST route the console uses.
            async with alice.http.post(
                f"{server.url}/api/tickets/{ticket_id}/replies",
                json={"body": "We are on it."},
                headers={"Cookie": alice.cookie, "Origin": server.url},
            ) as r:
                assert r.status == 202, await r.text()
                shown = (await r.json())["message"]
            assert shown["message_id"].endswith(".center@center.test>")
            assert shown["delivery"]["status"] == "queued" and shown["to"] == [CUSTOMER]
            async with server.db.read() as s:
                reply = await s.get(Message, shown["id"])
            [out] = await sink.wait(1)
            msg = out.message
            assert out.rcpt_tos == [CUSTOMER]
            assert msg["Message-ID"] == reply.meta["message_id_header"]
            assert msg["In-Reply-To"] == "<CAF=x7Yq1@mail.gmail.test>"
            assert "<CAF=x7Yq1@mail.gmail.test>" in msg["References"]
            assert f"[#{ticket.number}]" in msg["Subject"] and msg["Subject"].startswith("Re: ")
            async with server.db.read() as s:
                token = await s.scalar(
                    select(EmailThread.token).where(EmailThread.ticket_id == ticket_id)
                )
            assert msg["Reply-To"] == f"support+{token}@center.test"
            assert msg.get_content().strip() == "We are on it."

            # 1. References (the client keeps the chain; subject changed entirely).
            await deliver(
                server,
                clients.gmail(
                    sender=CUSTOMER,
                    subject="something else",
                    message_id="<reply-1@mail.gmail.test>",
                    in_reply_to=msg["Message-ID"],
                    references=["<CAF=x7Yq1@mail.gmail.test>", msg["Message-ID"]],
                    body="Thanks! Still waiting though.",
                    quoted="We are on it.",
                ),
                sender=CUSTOMER,
            )
            got, _ = await _ticket_of(server, await _last_inbound_id(server))
            assert got == ticket_id
            pushed = await alice.next("message")
            assert pushed["body"] == "Thanks! Still waiting though."  # quote and attribution cut

            # 2. Only the [#N] subject token (a client that drops the headers).
            await deliver(
                server,
                clients.outlook(sender=CUSTOMER, subject=f"RE: whatever [#{ticket.number}]"),
                sender=CUSTOMER,
            )
            assert (await _ticket_of(server, await _last_inbound_id(server)))[0] == ticket_id

            # 3. Only the tokenised reply-to address.
            await deliver(
                server,
                clients.thunderbird(
                    sender=CUSTOMER, subject="no token here", to=f"support+{token}@center.test"
                ),
                sender=CUSTOMER,
                rcpts=[f"support+{token}@center.test"],
            )
            assert (await _ticket_of(server, await _last_inbound_id(server)))[0] == ticket_id

            # A stranger with the right subject token and address token: a ticket of their own.
            await deliver(
                server,
                clients.apple_mail(
                    sender="stranger@else.test",
                    subject=f"Re: [#{ticket.number}] hi",
                    to=f"support+{token}@center.test",
                ),
                sender="stranger@else.test",
                rcpts=[f"support+{token}@center.test"],
            )
            stranger_ticket, _ = await _ticket_of(server, await _last_inbound_id(server))
            assert stranger_ticket not in (None, ticket_id)
            # Same subject text, no token, no headers: never threaded by subject.
            await deliver(
                server,
                clients.gmail(
                    sender=CUSTOMER, message_id="<new-2@x>", subject="Order #1234 never arrived"
                ),
                sender=CUSTOMER,
            )
            assert (await _ticket_of(server, await _last_inbound_id(server)))[0] not in (
                None,
                ticket_id,
            )

            async with server.db.read() as s:
                customer_id = (await s.get(Ticket, ticket_id)).customer_id
            status, detail = await alice.get(f"/api/tickets/{ticket_id}")
            assert status == 200, detail
            shown = {m["id"]: m for m in detail["ticket"]["messages"]}
            assert shown[reply.id]["delivery"]["status"] == "sent"
            first = shown[min(shown)]
            assert first["direction"] == "inbound" and first["from"] == CUSTOMER
            assert first["message_id"] == "<CAF=x7Yq1@mail.gmail.test>"
            assert "<div" in first["html"] and "script" not in first["html"]
            types = [t for t, _ in await timeline(server.db, customer_id)]
            for expected in (
                "interaction.started",
                "message.received",
                "email.received",
                "ticket.created",
                "interaction.queued",
                "interaction.offered",
                "interaction.accepted",
                "email.reply_queued",
                "ticket.replied",
                "delivery.sent",
                "ticket.customer_message",
            ):
                assert expected in types, (expected, types)
            threaded = [
                d["threaded_by"]
                for t, d in await timeline(server.db, customer_id)
                if t == "email.received"
            ]
            assert threaded[:4] == ["new_ticket", "references", "subject_token", "address_token"]
        finally:
            await alice.close()
