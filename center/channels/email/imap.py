"""IMAP polling (aioimaplib) of mailboxes hosted elsewhere: IDLE where the server offers
it, a poll every ``CENTER_EMAIL_IMAP_POLL_S`` otherwise.

Each message is fetched with ``BODY.PEEK[]`` (so fetching marks nothing), handed to the
one inbound code path, and only once that has committed it is moved (``move_to``) or
flagged ``\\Seen``. A crash in between leaves it unmarked: the next poll fetches it again
and the ledger's ``source_ref`` (mailbox, UIDVALIDITY, UID) stores it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aioimaplib
import yaml
from pydantic import BaseModel, Field

from center.channels.email.listener import Delivery, Receiver

log = logging.getLogger(__name__)
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")


class MailboxConfig(BaseModel):
    """One mailbox (from the file or the admin API), with limits on every field."""

    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(default=993, ge=1, le=65535)
    # ssl: implicit TLS (993); starttls: plain connection upgraded before login, refused
    # when the server does not offer it (never a silent fall back to plain); none.
    security: str = Field(default="ssl", pattern=r"^(ssl|starttls|none)$")
    username: str = Field(min_length=1, max_length=255)
    password: str = Field(max_length=255)
    folder: str = Field(default="INBOX", min_length=1, max_length=255)
    move_to: str = Field(default="", max_length=255)
    enabled: bool = True


def load_file(path: Path) -> list[MailboxConfig]:
    data = yaml.safe_load(path.read_text()) or []
    items = data.get("mailboxes", []) if isinstance(data, dict) else data
    return [MailboxConfig.model_validate(item) for item in items]


@dataclass
class PollResult:
    stored: int = 0
    idle: bool = False


class MailboxPoller:
    def __init__(
        self,
        box: MailboxConfig,
        receive: Receiver,
        *,
        poll_s: float,
        timeout_s: float = 15.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.box, self.receive, self.poll_s = box, receive, poll_s
        self.timeout_s, self.ssl_context = timeout_s, ssl_context
        self.client: Any = None
        self.uidvalidity = "0"
        self.stored = 0  # messages stored since start (for tests and the log)
        self.wake = asyncio.Event()

    async def connect(self) -> None:
        b = self.box
        if b.security == "ssl":
            self.client = aioimaplib.IMAP4_SSL(
                b.host, b.port, timeout=self.timeout_s, ssl_context=self.ssl_context
            )
        else:
            self.client = aioimaplib.IMAP4(b.host, b.port, timeout=self.timeout_s)
        await self.client.wait_hello_from_server()
        if b.security == "starttls":
            try:
                await asyncio.wait_for(self._starttls(), self.timeout_s)
            except BaseException:
                # (Nothing more is said on a connection TLS failed on: no LOGOUT either.)
                self.client.protocol.transport.abort()
                self.client = None
                raise
        response = await self.client.login(b.username, b.password)
        if response.result != "OK":
            raise ConnectionError(f"IMAP login to {b.name} refused")
        await self._select()

    async def _starttls(self) -> None:
        """RFC 3501 STARTTLS (aioimaplib has the command, not the upgrade): ask, then hand
        the same connection to TLS under this protocol, then ask the capabilities again
        (those from before TLS must not be trusted)."""
        protocol = self.client.protocol
        if "STARTTLS" not in protocol.capabilities:
            raise ConnectionError(f"IMAP server of {self.box.name} does not offer STARTTLS")
        response = await protocol.execute(
            aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        )
        if response.result != "OK":
            raise ConnectionError(f"IMAP STARTTLS refused by {self.box.name}")
        context = self.ssl_context or ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        protocol.transport = await asyncio.get_running_loop().start_tls(
            protocol.transport, protocol, context, server_hostname=self.box.host
        )
        await protocol.capability()

    async def _select(self) -> None:
        response = await self.client.select(self.box.folder)
        if response.result != "OK":
            raise ConnectionError(f"IMAP folder {self.box.folder!r} of {self.box.name} refused")
        for line in response.lines:
            found = _UIDVALIDITY.search(bytes(line))
            if found:
                self.uidvalidity = found.group(1).decode()

    async def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(TimeoutError, aioimaplib.Abort, OSError):
                await asyncio.wait_for(self.client.logout(), self.timeout_s)
            self.client = None

    async def poll_once(self) -> int:
        """Store every message waiting in the folder; how many were stored."""
        # With move_to, whatever is still in the folder is unprocessed; else: unseen.
        criteria = "ALL" if self.box.move_to else "UNSEEN"
        response = await self.client.uid_search(criteria)
        if response.result != "OK":
            raise ConnectionError(f"IMAP search in {self.box.name} failed")
        uids = [u for u in bytes(response.lines[0]).decode().split() if u.isdigit()]
        count = 0
        for uid in uids:
            fetched = await self.client.uid("fetch", uid, "BODY.PEEK[]")
            raw = next((bytes(x) for x in fetched.lines if isinstance(x, bytearray)), None)
            if fetched.result != "OK" or raw is None:
                continue  # expunged meanwhile
            await self.receive(
                Delivery(
                    raw=raw,
                    source=f"imap:{self.box.name}",
                    source_ref=f"imap:{self.box.name}:{self.uidvalidity}:{uid}",
                )
            )
            # Stored (committed): only now is it marked or moved.
            await self._done(uid)
            count += 1
        self.stored += count
        return count

    async def _done(self, uid: str) -> None:
        c = self.client
        if self.box.move_to:
            if c.has_capability("MOVE"):
                await c.uid("move", uid, self.box.move_to)
                return
            await c.uid("copy", uid, self.box.move_to)
            await c.uid("store", uid, "+FLAGS", "(\\Deleted)")
            await c.expunge()
            return
        await c.uid("store", uid, "+FLAGS", "(\\Seen)")

    async def wait_for_mail(self) -> None:
        """IDLE until the server pushes something (or poll_s passes); a plain wait without
        IDLE. ``wake`` (set by a test or a config change) ends either early."""
        self.wake.clear()
        if self.client.has_capability("IDLE"):
            idle = await self.client.idle_start(timeout=self.poll_s)
            waker = asyncio.ensure_future(self.wake.wait())
            push = asyncio.ensure_future(self.client.wait_server_push(timeout=self.poll_s + 5))
            try:
                await asyncio.wait({waker, push}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                # Also when cancelled: DONE ends the IDLE, so the LOGOUT after it is answered.
                waker.cancel()
                push.cancel()
                if self.client.has_pending_idle():
                    self.client.idle_done()
            await asyncio.wait_for(idle, self.timeout_s)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.poll_s)

    async def run(self) -> None:
        """Poll forever: reconnect with backoff on any failure, never die."""
        delay = 1.0
        while True:
            try:
                await self.connect()
                delay = 1.0
                while True:
                    await self.poll_once()
                    await self.wait_for_mail()
            except asyncio.CancelledError:
                await self.close()
                raise
            except Exception as exc:  # a network, server or store failure: try again later
                log.warning(
                    "email: IMAP mailbox %s: %s; retrying in %.0fs", self.box.name, exc, delay
                )
                await self.close()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 300.0)
