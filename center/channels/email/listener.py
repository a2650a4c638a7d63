"""The built-in SMTP listener (aiosmtpd), for sites that MX or forward mail to center.

Accepts only ``CENTER_SUPPORT_ADDRESSES`` (and their ``+token`` forms): anyone else gets
``550`` at RCPT, so we are never an open relay and never accept mail we would drop. A
message over ``CENTER_EMAIL_MAX_MESSAGE_BYTES`` is refused at the door: ``552`` at MAIL
when the client declares SIZE, else at the end of DATA (aiosmtpd counts as it reads and
keeps nothing past the limit). ``250`` is said only after the raw message is committed to
the database; a failed store answers ``451`` so the sending server keeps it and retries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiosmtpd.smtp import SMTP, Envelope, Session

from center.channels.email import tokens

log = logging.getLogger(__name__)
# aiosmtpd logs every command line (with the customer's address) at INFO: five records per
# message, a tenth of the listener's CPU, and every sender's address in the server log.
# Its warnings and errors still show.
logging.getLogger("mail.log").setLevel(logging.WARNING)


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the door hands the one inbound code path (SMTP and IMAP alike)."""

    raw: bytes
    source: str
    envelope_from: str = ""
    envelope_to: tuple[str, ...] = ()
    source_ref: str | None = None


Receiver = Callable[[Delivery], Awaitable[object]]


class _LenientSMTP(SMTP):
    # RFC 5321 caps lines at 1000 octets; real mail breaks that often enough (HTML on one
    # line from broken generators) that refusing it would lose customers' mail.
    line_length_limit = 1 << 16


class Handler:
    def __init__(self, receive: Receiver, support: set[str]) -> None:
        self.receive = receive
        self.support = support

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if tokens.base_address(address, self.support) is None:
            return "550 5.1.1 No such recipient here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        delivery = Delivery(
            raw=raw,
            source="smtp",
            envelope_from=envelope.mail_from or "",
            envelope_to=tuple(envelope.rcpt_tos),
        )
        try:
            await self.receive(delivery)
        except Exception:
            # Not stored: the sending server must keep the message and try again later.
            log.exception("email: could not store a message from %s", envelope.mail_from)
            return "451 4.3.0 Could not store the message, try again later"
        return "250 OK: stored"


class Listener:
    def __init__(
        self, receive: Receiver, *, host: str, port: int, support: set[str], max_bytes: int
    ) -> None:
        self.handler = Handler(receive, support)
        self.host, self.port, self.max_bytes = host, port, max_bytes
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: _LenientSMTP(
                self.handler,
                data_size_limit=self.max_bytes,
                enable_SMTPUTF8=True,
                hostname="center",
                ident="center ESMTP",
                loop=loop,
            ),
            self.host,
            self.port,
        )
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None


def parse_listen(value: str) -> tuple[str, int] | None:
    """ "host:port" → (host, port); "off" or empty → None."""
    value = value.strip()
    if not value or value.lower() == "off":
        return None
    host, _, port = value.rpartition(":")
    return (host.strip("[]") or "127.0.0.1", int(port))
