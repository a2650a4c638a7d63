"""Wiring: the email channel on the app (create_app calls ``setup``).

Registers the outbox Sender and the ticket Replier, builds the one inbound service, and
runs (cleanup_ctx) the SMTP listener, the IMAP pollers and, at start, the processing of
whatever a crash left stored but unprocessed. Admin routes: the IMAP mailboxes; the
quarantine list for supervisors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from sqlalchemy import delete, select, update

from center.agent_ui.auth import require_user
from center.appkeys import DB, SERVICE, SETTINGS
from center.channels.email import events as ev
from center.channels.email import imap, store
from center.channels.email.inbound import EmailInboundService
from center.channels.email.listener import Listener, parse_listen
from center.channels.email.models import EmailInbound, EmailMailbox, InboundStatus
from center.channels.email.outbound import EmailOutbound, EmailSender
from center.httpjson import body_as, error
from center.outbox import OutboxKind, register_sender
from center.records import events
from center.records.enums import ActorKind, Channel, Role
from center.secret_box import SecretBox, SecretUnreadable
from center.tickets.replies import register_replier
from center.tickets.web import OUTBOX_WORKER, TICKETS

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
EMAIL_INBOUND = web.AppKey("email_inbound", EmailInboundService)
EMAIL_OUTBOUND = web.AppKey("email_outbound", EmailOutbound)
SMTP_LISTENER = web.AppKey("smtp_listener", Listener)
IMAP_POLLERS = web.AppKey("imap_pollers", dict)
SECRET_BOX = web.AppKey("secret_box", list)  # [SecretBox] once loaded (first use)


def setup(app: web.Application) -> None:
    """After tickets_web.setup (the outbox worker and the ticket service)."""
    settings = app[SETTINGS]
    outbound = EmailOutbound(settings, wake=lambda: app[OUTBOX_WORKER].wake())
    app[EMAIL_OUTBOUND] = outbound
    register_sender(app, OutboxKind.EMAIL, EmailSender(settings.smtp_relay))
    register_replier(app, Channel.EMAIL, outbound)
    app[IMAP_POLLERS] = {}
    app[SECRET_BOX] = []
    app.add_routes(routes)
    app.cleanup_ctx.append(_running)


async def _running(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    inbound = EmailInboundService(
        db=app[DB],
        interactions=app[SERVICE],
        tickets=app[TICKETS],
        settings=settings,
        outbound=app[EMAIL_OUTBOUND],
    )
    app[EMAIL_INBOUND] = inbound
    pending = await inbound.process_pending()
    if pending:
        log.info("email: processed %d message(s) stored before a restart", pending)
    listen = parse_listen(settings.smtp_listen)
    listener = None
    if listen is not None:
        listener = Listener(
            inbound.receive,
            host=listen[0],
            port=listen[1],
            support=set(settings.support_addresses),
            max_bytes=settings.email_max_message_bytes,
        )
        try:
            await listener.start()
        except OSError as exc:
            # The port taken (another process on this host listens): HTTP, chat and IMAP
            # still serve; the operator sees why mail does not arrive by SMTP here.
            log.error("email: SMTP listener not started on %s: %s", settings.smtp_listen, exc)
            listener = None
        else:
            app[SMTP_LISTENER] = listener
            log.info("email: SMTP listener on %s:%d", listener.host, listener.port)
    boxes = []
    if settings.email_mailboxes_file is not None:
        boxes = await asyncio.to_thread(imap.load_file, settings.email_mailboxes_file)
    boxes += await _stored_boxes(app)
    for box in boxes:
        _start_poller(app, box)
    yield
    for name in list(app[IMAP_POLLERS]):
        await _stop_poller(app, name)
    if listener is not None:
        await listener.stop()
    await inbound.batches.stop()


def _start_poller(app: web.Application, box: imap.MailboxConfig) -> None:
    if not box.enabled or box.name in app[IMAP_POLLERS]:
        return
    poller = imap.MailboxPoller(
        box, app[EMAIL_INBOUND].receive, poll_s=app[SETTINGS].email_imap_poll_s
    )
    task = asyncio.create_task(poller.run(), name=f"imap-{box.name}")
    app[IMAP_POLLERS][box.name] = (poller, task)


async def _stop_poller(app: web.Application, name: str) -> None:
    found = app[IMAP_POLLERS].pop(name, None)
    if found is None:
        return
    _poller, task = found
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _secret_box(app: web.Application) -> SecretBox:
    """Loaded on first use (a deployment without mailboxes never writes a key file)."""
    held = app[SECRET_BOX]
    if not held:
        settings = app[SETTINGS]
        box = await asyncio.to_thread(
            SecretBox.load, settings.secret_key.get_secret_value(), settings.data_dir
        )
        if not held:
            held.append(box)
    return held[0]


async def _stored_boxes(app: web.Application) -> list[imap.MailboxConfig]:
    """The admin API's mailboxes, passwords unsealed. One sealed under another key is
    reported and left out (its password must be entered again); one stored before
    passwords were sealed is sealed now."""
    secrets = await _secret_box(app)
    async with app[DB].read() as s:
        found = list(await s.scalars(select(EmailMailbox).order_by(EmailMailbox.id)))
    boxes, unsealed = [], []
    for b in found:
        try:
            password = secrets.open(b.password)
        except SecretUnreadable:
            log.error(
                "email: mailbox %s: its password was sealed under another key "
                "(CENTER_SECRET_KEY changed or secret.key lost); add it again",
                b.name,
            )
            continue
        if not SecretBox.is_sealed(b.password):
            unsealed.append((b.id, password))
        boxes.append(_config(b, password))
    if unsealed:
        async with app[DB].step() as c:
            for box_id, password in unsealed:
                await c.execute(
                    update(EmailMailbox)
                    .where(EmailMailbox.id == box_id)
                    .values(password=secrets.seal(password))
                )
    return boxes


def _config(b: EmailMailbox, password: str) -> imap.MailboxConfig:
    return imap.MailboxConfig(
        name=b.name,
        host=b.host,
        port=b.port,
        security=b.security,
        username=b.username,
        password=password,
        folder=b.folder,
        move_to=b.move_to,
        enabled=b.enabled,
    )


def _box_json(b: imap.MailboxConfig, app: web.Application) -> dict[str, Any]:
    poller = app[IMAP_POLLERS].get(b.name)
    return {
        **b.model_dump(exclude={"password"}),
        "running": poller is not None,
        "stored": poller[0].stored if poller else 0,
    }


# -- admin API: IMAP mailboxes (the file's are read-only here) ----------------------------


@routes.get("/api/email/mailboxes")
async def list_mailboxes(request: web.Request) -> web.Response:
    await require_user(request, Role.ADMIN)
    boxes = await _stored_boxes(request.app)
    return web.json_response({"mailboxes": [_box_json(b, request.app) for b in boxes]})


@routes.post("/api/email/mailboxes")
async def add_mailbox(request: web.Request) -> web.Response:
    await require_user(request, Role.ADMIN)
    box = await body_as(request, imap.MailboxConfig, max_bytes=10_000)
    app = request.app
    sealed = (await _secret_box(app)).seal(box.password)
    async with app[DB].transaction() as s:
        exists = await s.scalar(select(EmailMailbox.id).where(EmailMailbox.name == box.name))
        if exists is not None or box.name in app[IMAP_POLLERS]:
            raise error(web.HTTPConflict, "a mailbox with this name exists", name=box.name)
        s.add(EmailMailbox(**{**box.model_dump(), "password": sealed}, options={}))
    _start_poller(app, box)
    return web.json_response({"mailbox": _box_json(box, app)}, status=201)


@routes.delete("/api/email/mailboxes/{name}")
async def delete_mailbox(request: web.Request) -> web.Response:
    await require_user(request, Role.ADMIN)
    name = request.match_info["name"][:80]
    async with request.app[DB].transaction() as s:
        gone = await s.execute(delete(EmailMailbox).where(EmailMailbox.name == name))
    if not gone.rowcount:
        raise error(web.HTTPNotFound, "no such mailbox", name=name)
    await _stop_poller(request.app, name)
    return web.json_response({"deleted": name})


@routes.get("/api/email/quarantine")
async def quarantine(request: web.Request) -> web.Response:
    """Mail that could not be parsed or processed: kept, listed, never dropped."""
    await require_user(request, Role.SUPERVISOR, Role.ADMIN)
    async with request.app[DB].read() as s:
        found = list(
            await s.execute(
                select(
                    EmailInbound.id,
                    EmailInbound.received_at,
                    EmailInbound.source,
                    EmailInbound.envelope_from,
                    EmailInbound.size,
                    EmailInbound.sha256,
                    EmailInbound.reason,
                )
                .where(EmailInbound.status == InboundStatus.QUARANTINED)
                .order_by(EmailInbound.id.desc())
                .limit(200)
            )
        )
    return web.json_response(
        {
            "quarantined": [
                {
                    "id": r.id,
                    "received_at": r.received_at.isoformat(),
                    "source": r.source,
                    "envelope_from": r.envelope_from,
                    "size": r.size,
                    "sha256": r.sha256,
                    "reason": r.reason,
                }
                for r in found
            ]
        }
    )


@routes.post("/api/email/quarantine/{id:\\d+}/reprocess")
async def reprocess(request: web.Request) -> web.Response:
    """A quarantined message processed again (after a fix): it becomes work (or is
    suppressed, or a duplicate) like new mail, or stays quarantined with today's reason."""
    await require_user(request, Role.SUPERVISOR, Role.ADMIN)
    inbound_id = int(request.match_info["id"])
    outcome = await request.app[EMAIL_INBOUND].reprocess(inbound_id)
    if outcome is None:
        async with request.app[DB].read() as s:
            found = await s.get(EmailInbound, inbound_id)
        if found is None:
            raise error(web.HTTPNotFound, "no such message", id=inbound_id)
        raise error(web.HTTPConflict, "the message is not quarantined", code="not_quarantined")
    return web.json_response(
        {
            "id": outcome.inbound_id,
            "status": outcome.status.value,
            "ticket_id": outcome.ticket_id,
            "reason": outcome.reason,
        }
    )


@routes.get("/api/email/undeliverable")
async def undeliverable(request: web.Request) -> web.Response:
    """Addresses a bounce flagged: replies to them carry a warning, no auto-ack goes."""
    await require_user(request, Role.SUPERVISOR, Role.ADMIN)
    async with request.app[DB].read_step() as c:
        found = await store.flagged(c)
    return web.json_response(
        {
            "undeliverable": [
                {
                    "address": r.address,
                    "reason": r.reason,
                    "flagged_at": r.flagged_at.isoformat() if r.flagged_at else None,
                }
                for r in found
            ]
        }
    )


@routes.delete("/api/email/undeliverable/{address}")
async def clear_undeliverable(request: web.Request) -> web.Response:
    """A supervisor clears the flag (the customer fixed their mailbox); on the timeline."""
    user = await require_user(request, Role.SUPERVISOR, Role.ADMIN)
    address = request.match_info["address"].strip().lower()[:320]
    async with request.app[DB].step() as c:
        if not await store.clear_undeliverable(c, [address]):
            raise error(web.HTTPNotFound, "the address is not flagged", address=address)
        await events.write(
            c,
            ev.row(
                ev.Deliverable(address=address, by="supervisor"),
                customer_id=await store.customer_for_email(c, address),
                actor_kind=ActorKind.AGENT,
                actor_id=user.id,
            ),
        )
    return web.json_response({"cleared": address})
