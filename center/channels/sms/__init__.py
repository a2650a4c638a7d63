"""SMS through Twilio: inbound webhooks → the customer's conversation → queue → agent, and
replies out through the outbox with delivery status (see inbound.py, outbound.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from center import loops
from center.appkeys import SETTINGS
from center.channels.sms.drain import InboxProcessor
from center.channels.sms.inbound import Inbound
from center.channels.sms.outbound import SmsOptions, SmsOutbound, SmsSender
from center.channels.sms.tickets import SmsReplier
from center.channels.sms.webhooks import INBOUND, INBOX, OUTBOUND, routes
from center.channels.twilio import inbox
from center.channels.twilio.setup import setup as twilio_setup
from center.config import Settings
from center.interactions import InteractionService
from center.outbox import OutboxKind, register_sender
from center.queue.placement import PlacementRules
from center.records.enums import Channel
from center.tickets.replies import register_replier


def setup(
    app: web.Application,
    settings: Settings,
    service: InteractionService,
    placement: PlacementRules | None = None,
) -> SmsOutbound:
    from center.tickets.web import OUTBOX_WORKER  # (built by tickets_web.setup)

    rest = twilio_setup(app, settings)

    def wake() -> None:
        if OUTBOX_WORKER in app:
            app[OUTBOX_WORKER].wake()

    out = SmsOutbound(
        service,
        service.db,
        rest,
        SmsOptions(
            deflection=settings.sms_kb_deflection,
            deflection_window_s=settings.sms_deflection_window_s,
            csat=settings.sms_csat,
            csat_window_s=settings.sms_csat_window_s,
        ),
        placement=placement,
        wake=wake,
    )
    service.register(out)
    service.outbound_steps[Channel.SMS] = out.agent_reply
    register_sender(app, OutboxKind.SMS, SmsSender(out))
    register_replier(app, Channel.SMS, SmsReplier(out))
    app[INBOUND] = Inbound(out)
    app[OUTBOUND] = out
    app[INBOX] = InboxProcessor(service.db, app[INBOUND].receive)
    app.cleanup_ctx.append(_drain)
    app.add_routes(routes)
    return out


async def _drain(app: web.Application) -> AsyncIterator[None]:
    """The inbox processor runs as long as the app; its first turn drains what a stopped
    process left stored and unprocessed."""
    keep = timedelta(days=app[SETTINGS].twilio_inbox_keep_days)

    async def purge() -> None:
        await inbox.purge_processed(app[INBOX].db, keep=keep)

    tasks = [
        asyncio.create_task(app[INBOX].run(), name="sms-inbox"),
        asyncio.create_task(loops.every(3600, purge, "SMS inbox purge"), name="sms-inbox-purge"),
    ]
    yield
    await loops.cancel_all(tasks)


__all__ = ["SmsOptions", "SmsOutbound", "SmsSender", "setup"]
