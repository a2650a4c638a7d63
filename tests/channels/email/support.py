"""Email test helpers: a recording SMTP sink (the relay), the app with the email channel
configured against it, and a way to deliver mail with the stdlib's smtplib."""

from __future__ import annotations

import asyncio
import email
import email.policy
import smtplib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP

from center.channels.email.web import EMAIL_INBOUND, SMTP_LISTENER
from center.config import Settings
from center.records.db import Database
from tests.support import Server, serve_app

SUPPORT = "support@center.test"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)  # type: ignore[return-value]


@dataclass
class Sink:
    """A local aiosmtpd server standing in for the relay; records what it accepted.
    ``refuse`` makes it answer every message with that reply (an outage: 421)."""

    host: str = "127.0.0.1"
    port: int = 0
    received: list[Received] = field(default_factory=list)
    refuse: str | None = None
    server: Any = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return self.refuse
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        )
        self.arrived.set()
        return "250 2.0.0 Ok: queued as SINK"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: SMTP(self, loop=loop), self.host, 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def wait(self, count: int, timeout: float = 5.0) -> list[Received]:
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.received


def email_settings(settings: Settings, sink: Sink, **extra: Any) -> Settings:
    return settings.model_copy(
        update={
            "smtp_listen": "127.0.0.1:0",
            "support_addresses": [SUPPORT],
            "smtp_relay": f"smtp://{sink.host}:{sink.port}",
            "email_domain": "center.test",
            "outbox_poll_s": 0.05,
            "outbox_backoff_s": 0.05,
            **extra,
        }
    )


@asynccontextmanager
async def email_app(
    settings: Settings, db: Database, **extra: Any
) -> AsyncIterator[tuple[Server, Sink]]:
    sink = Sink()
    await sink.start()
    try:
        async with serve_app(email_settings(settings, sink, **extra), db) as server:
            yield server, sink
    finally:
        await sink.stop()


def smtp_port(server: Server) -> int:
    return server.app[SMTP_LISTENER].port


def _deliver(port: int, raw: bytes, sender: str, rcpts: list[str]) -> dict[str, Any]:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        return client.sendmail(sender, rcpts, raw)


async def deliver(
    server: Server,
    raw: bytes,
    *,
    sender: str = "customer@example.test",
    rcpts: list[str] | None = None,
) -> dict[str, Any]:
    """Deliver as a sending MTA would: the stdlib's smtplib (in a thread: it blocks)."""
    return await asyncio.to_thread(_deliver, smtp_port(server), raw, sender, rcpts or [SUPPORT])


def inbound(server: Server) -> Any:
    return server.app[EMAIL_INBOUND]


async def agent_reply(
    server: Server, ticket_id: int, agent_id: int, body: str, cc: list[str] | None = None
) -> Any:
    """What POST /api/tickets/{id}/replies does: the channel's replier stores the message
    and its outbox row, the ticket records the reply, one transaction; then the worker."""
    from sqlalchemy import select

    from center.records.enums import Channel
    from center.records.models import User
    from center.tickets.replies import repliers
    from center.tickets.web import OUTBOX_WORKER, TICKETS

    replier = repliers(server.app)[Channel.EMAIL]
    async with server.db.step() as c:
        ticket = await server.app[TICKETS].get(c, ticket_id)
        row = (await c.execute(select(User.__table__).where(User.id == agent_id))).one()
        m = await replier.store_reply(c, ticket, body, cc or [], User(**row._mapping))
        await server.app[TICKETS].agent_replied(c, ticket_id, message_id=m.id, agent_id=agent_id)
    server.app[OUTBOX_WORKER].wake()
    return m


async def last_inbound(server: Server) -> Any:
    """The newest ledger row (what the door stored last)."""
    from sqlalchemy import select

    from center.channels.email.models import EmailInbound

    async with server.db.read() as s:
        return await s.scalar(select(EmailInbound).order_by(EmailInbound.id.desc()).limit(1))
