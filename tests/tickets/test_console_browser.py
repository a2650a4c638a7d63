"""The console's ticket pane in a real browser: the agent opens a ticket, reads an email
whose HTML only ever renders inside a sandboxed frame, replies, and sees the reply go from
queued to sent; private notes and status changes stick."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select

from center.interactions import rows
from center.outbox import OutboxKind, senders
from center.records.enums import Channel, Direction
from center.records.models import User
from center.tickets.replies import repliers
from center.tickets.web import TICKETS
from tests.browser import watched_page
from tests.support import PASSWORD, Customer, Server, make_user
from tests.tickets.support import make_interaction
from tests.tickets.test_api import MailReplier, Relay

pytestmark = pytest.mark.browser
HOSTILE = "<b>Bold</b><img src=x onerror=alert(1)><script>alert(2)</script>"


async def test_ticket_pane_in_the_browser(server: Server, browser: Browser) -> None:
    relay = Relay()
    repliers(server.app)[Channel.EMAIL] = MailReplier()
    senders(server.app)[OutboxKind.EMAIL] = relay
    await make_user(server.db, "alice")
    bob = (await make_user(server.db, "bob")).id
    async with server.db.read_step() as c:
        alice = await c.scalar(select(User.id).where(User.username == "alice"))
    errors: list[str] = []
    dialogs: list[str] = []
    ctx = await browser.new_context()
    try:
        page = await watched_page(ctx, errors, dialogs)
        await page.goto(f"{server.url}/agent")
        await page.fill("#username", "alice")
        await page.fill("#password", PASSWORD)
        await page.click("#signin")
        await expect(page.locator("#tickets")).to_be_visible()
        await page.fill("#nt-email", "ada@example.com")
        await page.fill("#nt-subject", "Printer <b>on fire</b>")
        await page.click("#new-ticket button")
        await expect(page.locator("#tv-title")).to_contain_text("Printer <b>on fire</b>")
        ticket_id = int(await page.locator("#ticket-items li").first.get_attribute("data-id"))
        # The email channel's inbound message, with HTML as it might arrive (the channel
        # sanitises it; the console must be safe even if it did not).
        async with server.db.step() as c:
            t = await server.app[TICKETS].get(c, ticket_id)
        iid = await make_interaction(server.db, t.customer_id, Channel.EMAIL, alice)
        async with server.db.step() as c:
            await server.app[TICKETS].attach(c, ticket_id, iid)
            await rows.insert_message(
                c, iid, Direction.INBOUND, "Bold <img src=x onerror=alert(1)>",
                meta={"from": "Ada <ada@example.com>", "subject": "Printer", "html": HOSTILE},
            )  # fmt: skip
        await page.click(f"#ticket-items li[data-id='{ticket_id}']")
        msg = page.locator("#tv-messages .ticket-msg.inbound")
        await expect(msg.locator(".text")).to_have_text("Bold <img src=x onerror=alert(1)>")
        await msg.locator("button.formatted").click()
        frame_el = msg.locator("iframe")
        assert await frame_el.get_attribute("sandbox") == ""
        await expect(page.frame_locator("#tv-messages iframe").locator("b")).to_have_text("Bold")
        # Reply: queued, then sent (the outbox worker's notice).
        await page.fill("#tv-reply", "We are on it")
        await page.click("#tv-compose button")
        outbound = page.locator("#tv-messages .ticket-msg.outbound")
        await expect(outbound.locator(".delivery")).to_have_text("sent")
        assert [i.payload for i in relay.sent] == [{"body": "We are on it"}]
        await page.fill("#tv-note", "Customer prefers mail")
        await page.click("#tv-note-form button")
        await expect(page.locator("#tv-notes .note")).to_have_text(["Customer prefers mail"])
        await page.select_option("#tv-status", "pending")
        await page.select_option("#tv-priority", "high")
        await page.click("#tv-fields button")
        await expect(page.locator("#ticket-items li").first).to_contain_text("pending · high")
        # Given to a colleague by name (not by typing an id).
        await expect(page.locator("#tv-assignee option")).to_have_text(
            ["unassigned", "alice", "bob"]
        )
        await page.select_option("#tv-assignee", label="bob")
        await page.click("#tv-fields button")
        for _ in range(100):  # (the PATCH is on its way)
            async with server.db.step() as c:
                if (await server.app[TICKETS].get(c, ticket_id)).assignee_id == bob:
                    break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the ticket was not given to bob")
        await page.click(f"#ticket-items li[data-id='{ticket_id}']")  # read again: still bob
        await expect(page.locator("#tv-assignee")).to_have_value(str(bob))
        # A chat comes in: from its pane the agent opens a ticket with it; adding it to
        # Ada's ticket is refused (the chat is another customer's).
        await page.select_option("#presence", "available")
        await expect(page.locator("#presence")).to_have_value("available")
        chatter = Customer(server.url)
        await chatter.connect()
        try:
            await chatter.say("about my printer")
            await page.click("#offers .offer .accept")
            await page.click("#panes .pane .add-to-ticket")
            await expect(page.locator("#ticket-error")).to_contain_text("another customer")
            await page.click("#panes .pane .open-ticket")
            await expect(page.locator("#tv-interactions")).to_contain_text("chat #")
            await expect(page.locator("#ticket-items li")).to_have_count(2)
        finally:
            await chatter.close()
        assert dialogs == [] and errors == []
    finally:
        await ctx.close()


async def test_supervisor_board_shows_breached_tickets(server: Server, browser: Browser) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert

    from center.records.enums import Role
    from center.tickets.models import SlaPolicy
    from center.tickets.web import SLA_MONITOR
    from tests.tickets.support import make_customer

    sue = await make_user(server.db, "sue", role=Role.SUPERVISOR)
    async with server.db.step() as c:
        policy = {"name": "all", "first_response_minutes": 30, "created_at": datetime.now(UTC)}
        await c.execute(insert(SlaPolicy.__table__).values(policy))
    customer = await make_customer(server.db)
    async with server.db.step() as c:
        t = await server.app[TICKETS].create(c, customer_id=customer, subject="Late <i>parcel</i>")
    server.app[SLA_MONITOR].clock = lambda: datetime.now(UTC) + timedelta(days=7)
    await server.app[SLA_MONITOR].check()
    errors: list[str] = []
    dialogs: list[str] = []
    ctx = await browser.new_context()
    try:
        page = await watched_page(ctx, errors, dialogs)
        await page.goto(f"{server.url}/supervisor")
        await page.fill("#username", "sue")
        await page.fill("#password", PASSWORD)
        await page.click("#signin")
        row = page.locator("#sla-tickets tbody tr")
        await expect(row).to_have_count(1)
        await expect(row.locator("td").first).to_have_text(f"[#{t.number}]")
        await expect(row.locator("td").nth(1)).to_have_text("Late <i>parcel</i>")
        await expect(row.locator("td.sla")).to_have_text("breached")
        await expect(row.locator("td").nth(4)).to_have_text("unassigned")
        await expect(page.locator("#sla-counts")).to_contain_text("1 breached")
        # A breach written while the board is open shows at once (pushed), not at the
        # 15-second refresh.
        async with server.db.step() as c:
            await server.app[TICKETS].create(
                c, customer_id=customer, subject="Second", assignee_id=sue.id
            )
        await server.app[SLA_MONITOR].check()
        await expect(row).to_have_count(2, timeout=5_000)
        await expect(page.locator("#sla-counts")).to_contain_text("2 breached", timeout=5_000)
        await expect(row.locator("td:nth-child(5)")).to_have_text(["unassigned", "sue"])
        assert errors == [] and dialogs == []
    finally:
        await ctx.close()
