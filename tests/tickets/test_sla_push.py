"""An SLA warning or breach reaches the consoles when the SLA loop writes it: the assignee's
console (the "sla" notice on /agent) and every supervisor's (the "sla" push on /supervisor,
which makes the board's "Ticket SLAs" table read itself again)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert

from center.records.base import utcnow
from center.records.enums import Channel, Role
from center.tickets.models import SlaPolicy
from center.tickets.service import SYSTEM, TicketChanges
from center.tickets.web import SLA_MONITOR, TICKETS
from tests.agent_ui.test_supervisor import Supervisor
from tests.support import Agent, Server, make_user
from tests.tickets.support import FakeClock, make_customer


async def test_a_breach_is_pushed_to_the_assignee_and_the_supervisors(server: Server) -> None:
    async with server.db.step() as c:
        await c.execute(
            insert(SlaPolicy.__table__).values(
                name="standard", queue=None, priority=None, first_response_minutes=60,
                next_response_minutes=120, resolution_minutes=480, warn_minutes=15,
                created_at=utcnow(),
            )
        )  # fmt: skip
    ann = await make_user(server.db, "ann")
    agent = Agent(server.url)
    assert (await agent.login("ann")).status == 200
    await agent.connect()
    await make_user(server.db, "sue", role=Role.SUPERVISOR)
    sup = Supervisor(server.url)
    try:
        assert (await sup.login("sue")).status == 200
        await sup.connect()
        customer = await make_customer(server.db)
        tickets = server.app[TICKETS]
        async with server.db.step() as c:
            t = await tickets.create(
                c, customer_id=customer, subject="Refund", channel=Channel.EMAIL
            )
            await tickets.update(c, t.id, TicketChanges(assignee_id=ann.id), actor=SYSTEM)
        assert sup.pending("sla") == []  # nothing is due yet: nothing said
        monitor = server.app[SLA_MONITOR]
        monitor.clock = FakeClock(utcnow() + timedelta(days=30))  # long past every target
        said = await monitor.check()
        assert {s["kind"] for s in said} == {"breach"}
        assert (await sup.next("sla"))["changed"] == len(said)
        notice = await agent.next("sla")
        assert notice["ticket_id"] == t.id and notice["kind"] == "breach"
        status, board = await sup.get("/api/supervisor/tickets/sla")
        assert status == 200 and [x["id"] for x in board["tickets"]] == [t.id]
        assert board["tickets"][0]["sla"]["state"] == "breached"
    finally:
        await sup.close()
        await agent.close()
