"""The ticket REST contract on the real app: create, list with filters and cursor, view,
PATCH, notes, replies through a channel's replier and the outbox to the console's notice,
attachments, the SLA board and policies; bad input gets a 4xx."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from center.interactions import rows
from center.outbox import Item, OutboxKind, PermanentSendError, enqueue, senders
from center.records.enums import Channel, Direction, Role
from center.records.models import Message, Ticket, User
from center.tickets.attachments import store_attachment
from center.tickets.replies import repliers
from center.tickets.web import TICKETS
from tests.rest import Http
from tests.support import PASSWORD, Server, signed_in_agent
from tests.tickets.support import make_interaction


class MailReplier:
    """Stands in for the email channel's replier (its helper registers the real one)."""

    async def store_reply(
        self, conn: AsyncConnection, ticket: Ticket, body: str, cc: Sequence[str], agent: User
    ) -> Message:
        interaction = await conn.scalar(
            rows.INTERACTIONS.select()
            .with_only_columns(rows.INTERACTIONS.c.id)
            .where(rows.INTERACTIONS.c.ticket_id == ticket.id)
            .order_by(rows.INTERACTIONS.c.id.desc())
            .limit(1)
        )
        meta = {
            "to": ["ada@example.com"],
            "cc": list(cc),
            "subject": f"Re: {ticket.subject} [#{ticket.number}]",
            "message_id_header": f"<t{ticket.id}.r@center.test>",
        }
        m = await rows.insert_message(
            conn, interaction, Direction.OUTBOUND, body, author_id=agent.id, meta=meta
        )
        await enqueue(
            conn, OutboxKind.EMAIL, {"body": body}, key=f"reply-{m.id}",
            customer_id=ticket.customer_id, ticket_id=ticket.id, message_id=m.id,
        )  # fmt: skip
        return m


class Relay:
    idempotent = False

    def __init__(self) -> None:
        self.sent: list[Item] = []
        self.down = False

    async def send(self, item: Item) -> dict[str, Any]:
        if self.down:
            raise PermanentSendError("550 mailbox unavailable")
        self.sent.append(item)
        return {"smtp": "250 2.0.0 queued"}


async def _http(server: Server, username: str) -> Http:
    http = Http(server)
    answer = await http.call("POST", "/api/login", {"username": username, "password": PASSWORD})
    assert answer.status == 200
    return http


async def test_ticket_story_over_rest(server: Server) -> None:
    relay = Relay()
    repliers(server.app)[Channel.EMAIL] = MailReplier()
    senders(server.app)[OutboxKind.EMAIL] = relay
    ann = await signed_in_agent(server, "ann")
    http = await _http(server, "ann")
    bob = await Http(server).login(server, "bob", Role.AGENT)
    ann_id = (await http.call("GET", "/api/me")).json["user"]["id"]
    try:
        made = await http.call(
            "POST", "/api/tickets",
            {"customer_email": "Ada@Example.com", "subject": "Printer on fire", "note": "VIP"},
        )  # fmt: skip
        assert made.status == 201, made.text
        t = made.json["ticket"]
        assert t["token"] == f"[#{t['number']}]" and t["status"] == "open"
        assert t["assignee_id"] == ann_id and [n["body"] for n in t["notes"]] == ["VIP"]
        tid = t["id"]
        # Another agent neither sees it nor lists it.
        assert (await bob.call("GET", f"/api/tickets/{tid}")).status == 403
        assert (await bob.call("GET", "/api/tickets")).json["tickets"] == []
        # The ticket's email interaction (the email channel would have made it).
        iid = await make_interaction(server.db, t["customer_id"], Channel.EMAIL, ann_id)
        assert (await http.call("POST", f"/api/tickets/{tid}/interactions",
                                {"interaction_id": iid})).status == 200  # fmt: skip
        held = (await http.call("GET", f"/api/tickets?interaction_id={iid}")).json["tickets"]
        assert [x["id"] for x in held] == [tid]
        answer = await http.call(
            "POST",
            f"/api/tickets/{tid}/replies",
            {"body": "We're on it", "cc": ["boss@example.com"]},
        )
        assert answer.status == 202, answer.text
        sent = answer.json["message"]
        assert sent["message_id"] == f"<t{tid}.r@center.test>" and sent["cc"] == [
            "boss@example.com"
        ]
        assert sent["delivery"]["status"] == "queued"
        notice = await ann.next("delivery")
        assert notice["message_id"] == sent["id"] and notice["delivery"]["status"] == "sent"
        assert [i.payload for i in relay.sent] == [{"body": "We're on it"}]
        view = (await http.call("GET", f"/api/tickets/{tid}")).json["ticket"]
        assert view["messages"][-1]["delivery"]["result"] == {"smtp": "250 2.0.0 queued"}
        assert view["sla"]["first_responded_at"] is not None
        # Status, priority, tags; a closed ticket refuses changes.
        patched = await http.call(
            "PATCH", f"/api/tickets/{tid}",
            {"status": "pending", "priority": "urgent", "tags": ["printer", "fire"]},
        )  # fmt: skip
        assert patched.status == 200
        assert (patched.json["ticket"]["status"], patched.json["ticket"]["priority"]) == (
            "pending", "urgent",
        )  # fmt: skip
        assert (await http.call("PATCH", f"/api/tickets/{tid}", {"status": "closed"})).status == 409
        # A failed send is shown with its reason and can be resent.
        relay.down = True
        answer = await http.call("POST", f"/api/tickets/{tid}/replies", {"body": "Second"})
        notice = await ann.next("delivery")
        assert notice["delivery"] == {**notice["delivery"], "status": "failed",
                                      "reason": "550 mailbox unavailable"}  # fmt: skip
        relay.down = False
        resend = await http.call(
            "POST", f"/api/outbox/{answer.json['message']['outbox_id']}/resend"
        )
        assert resend.status == 202
        assert (await ann.next("delivery"))["delivery"]["status"] == "sent"
        types = [e["type"] for e in (await http.call(
            "GET", f"/api/customers/{t['customer_id']}/timeline")).json["events"]]  # fmt: skip
        for expected in ("ticket.created", "ticket.note_added", "ticket.replied",
                         "delivery.sent", "delivery.failed", "delivery.requeued",
                         "ticket.status_changed", "ticket.updated"):  # fmt: skip
            assert expected in types, expected
    finally:
        await ann.close()
        await http.close()
        await bob.close()


async def test_list_filters_and_cursor(server: Server) -> None:
    sue = await Http(server).login(server, "sue", Role.SUPERVISOR)
    root = await Http(server).login(server, "root", Role.ADMIN)
    made = await root.call("POST", "/api/queues", {"name": "billing", "channels": ["email"]})
    assert made.status == 201, made.text
    await root.close()
    try:
        ids = []
        for n in range(5):
            made = await sue.call("POST", "/api/tickets", {
                "customer_email": f"c{n}@example.com", "subject": f"Case {n}",
                "queue": "billing" if n % 2 else "default",
            })  # fmt: skip
            ids.append(made.json["ticket"]["id"])
        page = (await sue.call("GET", "/api/tickets?limit=2")).json
        assert [t["id"] for t in page["tickets"]] == ids[::-1][:2]
        seen = [t["id"] for t in page["tickets"]]
        while page["next_cursor"]:
            page = (
                await sue.call("GET", f"/api/tickets?limit=2&cursor={page['next_cursor']}")
            ).json
            seen += [t["id"] for t in page["tickets"]]
        assert seen == ids[::-1]
        billing = (await sue.call("GET", "/api/tickets?queue=billing")).json["tickets"]
        assert sorted(t["id"] for t in billing) == [ids[1], ids[3]]
        found = (await sue.call("GET", f"/api/tickets?q=%5B%23{ids[2]}%5D")).json["tickets"]
        assert [t["id"] for t in found] == [ids[2]]
        found = (await sue.call("GET", "/api/tickets?q=case%203")).json["tickets"]
        assert [t["id"] for t in found] == [ids[3]]
        assert (await sue.call("GET", "/api/tickets?q=100%25")).json["tickets"] == []
        assert len((await sue.call("GET", "/api/tickets?sla=none")).json["tickets"]) == 5
        assert (
            len((await sue.call("GET", "/api/tickets?status=open&assignee=none")).json["tickets"])
            == 5
        )
    finally:
        await sue.close()


async def test_bad_input_is_a_4xx(server: Server) -> None:
    ann = await Http(server).login(server, "ann", Role.AGENT)
    try:
        made = await ann.call(
            "POST", "/api/tickets", {"customer_email": "a@example.com", "subject": "x"}
        )
        tid = made.json["ticket"]["id"]
        bad = [
            ("POST", "/api/tickets", {"subject": "no customer"}),
            (
                "POST",
                "/api/tickets",
                {"customer_email": "a@example.com\r\nBcc: x@y", "subject": "s"},
            ),
            ("POST", "/api/tickets", {"customer_id": 2**70, "subject": "s"}),
            ("POST", "/api/tickets", {"customer_email": "a@example.com", "subject": "a\x00b"}),
            ("PATCH", f"/api/tickets/{tid}", {"priority": float("nan")}),
            ("PATCH", f"/api/tickets/{tid}", {"status": "deleted"}),
            ("PATCH", f"/api/tickets/{tid}", {"queue": "nowhere"}),
            ("PATCH", f"/api/tickets/{tid}", {"tags": ["t"] * 21}),
            ("PATCH", f"/api/tickets/{tid}", {"assignee_id": 99999}),
            ("POST", f"/api/tickets/{tid}/notes", {"body": "x" * 10_001}),
            ("POST", f"/api/tickets/{tid}/replies", {"body": "hi", "cc": ["x@y\nBcc: z@w"]}),
            ("GET", "/api/tickets?cursor=-1", None),
            ("GET", "/api/tickets?limit=100000", None),
            ("GET", "/api/tickets/99999999999999999999999", None),
        ]
        for method, path, body in bad:
            answer = await ann.call(method, path, body)
            assert 400 <= answer.status < 500, (method, path, answer.status, answer.text)
        # An agent cannot open a ticket on a customer they never served, by id.
        other = (await ann.call("GET", f"/api/tickets/{tid}")).json["ticket"]["customer_id"]
        bob = await Http(server).login(server, "bob", Role.AGENT)
        refused = await bob.call("POST", "/api/tickets", {"customer_id": other, "subject": "x"})
        assert refused.status == 403
        await bob.close()
        # No replier registered for the ticket's channel: refused, nothing stored.
        repliers(server.app).clear()
        answer = await ann.call("POST", f"/api/tickets/{tid}/replies", {"body": "hi"})
        assert answer.status == 409 and answer.json["code"] == "no_replier"
        assert (await ann.call("GET", f"/api/tickets/{tid}")).json["ticket"]["messages"] == []
    finally:
        await ann.close()


async def test_attachments_download_byte_exact_and_safely(server: Server) -> None:
    sue = await Http(server).login(server, "sue", Role.SUPERVISOR)
    bob = await Http(server).login(server, "bob", Role.AGENT)
    try:
        made = await sue.call(
            "POST", "/api/tickets", {"customer_email": "a@example.com", "subject": "x"}
        )
        t = made.json["ticket"]
        iid = await make_interaction(server.db, t["customer_id"], Channel.EMAIL)
        data = bytes(range(256)) * 3
        async with server.db.step() as c:
            await server.app[TICKETS].attach(c, t["id"], iid)
            m = await rows.insert_message(c, iid, Direction.INBOUND, "see attached")
            pdf = await store_attachment(c, m.id, "résumé.pdf", "application/pdf", data)
            page = await store_attachment(c, m.id, "evil.html", "text/html", b"<script>1</script>")
        view = (await sue.call("GET", f"/api/tickets/{t['id']}")).json["ticket"]
        assert view["messages"][0]["attachments"] == [pdf, page]
        async with sue.session.get(f"{sue.url}/api/attachments/{pdf['id']}") as r:
            assert r.status == 200 and await r.read() == data
            assert r.headers["Content-Disposition"].startswith("attachment;")
            assert "r%C3%A9sum%C3%A9.pdf" in r.headers["Content-Disposition"]
        async with sue.session.get(f"{sue.url}/api/attachments/{page['id']}") as r:
            assert r.headers["Content-Type"].startswith("application/octet-stream")
            assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert (await bob.call("GET", f"/api/attachments/{pdf['id']}")).status == 403
    finally:
        await sue.close()
        await bob.close()


async def test_sla_policies_and_the_supervisors_board(server: Server) -> None:
    root = await Http(server).login(server, "root", Role.ADMIN)
    try:
        put = await root.call("PUT", "/api/sla/policies", {"policies": [
            {"name": "all", "first_response_minutes": 1, "warn_minutes": 0},
        ]})  # fmt: skip
        assert put.status == 200, put.text
        assert (await root.call("PUT", "/api/sla/policies", {"policies": [
            {"name": "a"}, {"name": "b"}]})).status == 400  # fmt: skip
        made = await root.call(
            "POST", "/api/tickets", {"customer_email": "a@example.com", "subject": "x"}
        )
        tid = made.json["ticket"]["id"]
        due = made.json["ticket"]["sla"]["first_response_due_at"]
        assert due is not None
        # The loop looks as if a day had passed (a fake clock on the app's monitor).
        from datetime import UTC, datetime, timedelta

        from center.tickets.web import SLA_MONITOR

        monitor = server.app[SLA_MONITOR]
        monitor.clock = lambda: datetime.now(UTC) + timedelta(days=7)
        said = await monitor.check()
        assert [(s["ticket_id"], s["kind"]) for s in said] == [(tid, "breach")]
        board = (await root.call("GET", "/api/supervisor/tickets/sla")).json
        assert board["counts"]["breached"] == 1 and board["tickets"][0]["id"] == tid
        assert [
            t["id"] for t in (await root.call("GET", "/api/tickets?sla=breached")).json["tickets"]
        ] == [tid]
    finally:
        await root.close()
    _ = asyncio
