"""Wiring of the ticket desk into the app: service, outbox worker, SLA loop, routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select

from center import loops
from center.appkeys import DB, SETTINGS, SIO
from center.notices import AGENT_NAMESPACE, SUPERVISOR_NAMESPACE, SUPERVISORS_ROOM, agent_room
from center.outbox import OutboxWorker, WorkerOptions, senders
from center.outbox.retention import purge_sent
from center.records.models import Message, Ticket
from center.tickets.monitor import SlaMonitor
from center.tickets.replies import repliers
from center.tickets.service import TicketService
from center.tickets.sla import BusinessCalendar

TICKETS = web.AppKey("tickets", TicketService)
OUTBOX_WORKER = web.AppKey("outbox_worker", OutboxWorker)
SLA_MONITOR = web.AppKey("sla_monitor", SlaMonitor)
# Console events (on /agent): "delivery" {outbox_id, message_id, ticket_id, delivery} and
# "sla" {ticket_id, number, target, kind: warning|breach, due_at}.
DELIVERY_NOTICE = "delivery"
SLA_NOTICE = "sla"


def calendar_from(settings: Any) -> BusinessCalendar:
    # (ZoneInfo reads the zone's file once; the settings validated the name.)
    return BusinessCalendar.parse(
        settings.business_hours, settings.holidays, ZoneInfo(settings.timezone)
    )


def setup(app: web.Application) -> None:
    """Called by create_app after the database and socket.io are on the app."""
    from center.tickets import api, desk_api, resend_api  # (their routes import our keys)

    settings = app[SETTINGS]
    app[TICKETS] = TicketService(calendar_from(settings))
    repliers(app)  # (the registries exist before any channel registers into them)
    app[OUTBOX_WORKER] = OutboxWorker(
        app[DB],
        senders(app),  # the registry itself: senders registered later are seen
        WorkerOptions(
            poll_s=settings.outbox_poll_s,
            max_attempts=settings.outbox_max_attempts,
            backoff_first_s=settings.outbox_backoff_s,
        ),
        notify=_delivery_notifier(app),
    )
    days = settings.ticket_close_after_days
    app[SLA_MONITOR] = SlaMonitor(
        app[DB],
        notify=_sla_notifier(app),
        close_after=timedelta(days=days) if days > 0 else None,
    )
    app.add_routes(api.routes)
    app.add_routes(desk_api.routes)
    app.add_routes(resend_api.routes)
    app.cleanup_ctx.append(_loops)


def _delivery_notifier(app: web.Application) -> Any:
    async def notify(notice: dict[str, Any]) -> None:
        to: set[int] = set()
        async with app[DB].read_step() as c:
            if notice["message_id"] is not None:
                author = await c.scalar(
                    select(Message.author_id).where(Message.id == notice["message_id"])
                )
                if author:
                    to.add(author)
            if notice["ticket_id"] is not None:
                assignee = await c.scalar(
                    select(Ticket.assignee_id).where(Ticket.id == notice["ticket_id"])
                )
                if assignee:
                    to.add(assignee)
        for agent_id in to:
            await app[SIO].emit(
                DELIVERY_NOTICE, notice, room=agent_room(agent_id), namespace=AGENT_NAMESPACE
            )

    return notify


def _sla_notifier(app: web.Application) -> Any:
    async def notify(said: list[dict[str, Any]]) -> None:
        for item in said:
            if item["assignee_id"]:
                await app[SIO].emit(
                    SLA_NOTICE,
                    item,
                    room=agent_room(item["assignee_id"]),
                    namespace=AGENT_NAMESPACE,
                )
        # The supervisors' "Ticket SLAs" table reads itself again at once (one push a
        # batch: a warning or breach shows when it is written, not at the next poll).
        await app[SIO].emit(
            SLA_NOTICE,
            {"changed": len(said)},
            room=SUPERVISORS_ROOM,
            namespace=SUPERVISOR_NAMESPACE,
        )

    return notify


async def _loops(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    monitor = app[SLA_MONITOR]
    keep = timedelta(days=settings.outbox_keep_days)

    async def purge() -> None:
        await purge_sent(app[DB], keep=keep)

    tasks = [
        asyncio.create_task(app[OUTBOX_WORKER].run(), name="outbox-worker"),
        asyncio.create_task(loops.every(3600, purge, "outbox purge"), name="outbox-purge"),
        asyncio.create_task(
            loops.every(settings.sla_check_interval_s, monitor.step, "SLA loop"), name="sla-loop"
        ),
    ]
    yield
    await loops.cancel_all(tasks)
