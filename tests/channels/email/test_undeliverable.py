"""The undeliverable flag a bounce sets: cleared when mail from that address arrives, or
by a supervisor; each clearing on the customer's timeline."""

from __future__ import annotations

from center.channels.email import store
from center.records.enums import Role
from tests.channels.email import clients
from tests.channels.email.support import deliver, email_app, last_inbound
from tests.rest import Http
from tests.tickets.support import timeline


async def _flagged(server) -> list[str]:
    async with server.db.read_step() as c:
        return [r.address for r in await store.flagged(c)]


async def test_mail_from_a_flagged_address_clears_it_and_a_supervisor_can_too(settings, db) -> None:
    async with email_app(settings, db) as (server, _sink):
        async with server.db.step() as c:  # what a DSN for each left behind
            await store.flag_undeliverable(c, "ann@example.test", "550 5.1.1 mailbox full")
            await store.flag_undeliverable(c, "bob@example.test", "550 5.1.1 no such user")
        sue = await Http(server).login(server, "sue", Role.SUPERVISOR)
        bob = await Http(server).login(server, "bob", Role.AGENT)
        try:
            listed = (await sue.call("GET", "/api/email/undeliverable")).json["undeliverable"]
            assert {r["address"] for r in listed} == {"ann@example.test", "bob@example.test"}
            # Ann's mailbox works again: her mail says so.
            await deliver(
                server, clients.gmail(sender="ann@example.test"), sender="ann@example.test"
            )
            assert await _flagged(server) == ["bob@example.test"]
            ticket_id = (await last_inbound(server)).ticket_id
            view = (await sue.call("GET", f"/api/tickets/{ticket_id}")).json["ticket"]
            kinds = [kind for kind, _ in await timeline(server.db, view["customer_id"])]
            assert kinds[-1] == "email.undeliverable_cleared"
            # Bob's, a supervisor clears (agents may not).
            path = "/api/email/undeliverable/Bob@Example.test"
            assert (await bob.call("DELETE", path)).status == 403
            assert (await sue.call("DELETE", path)).json == {"cleared": "bob@example.test"}
            assert await _flagged(server) == []
            assert (await sue.call("DELETE", path)).status == 404
        finally:
            await sue.close()
            await bob.close()
