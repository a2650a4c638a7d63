"""The email channel's own tables (migration 0008).

``email_inbound`` is the door's ledger: every accepted message's raw bytes, stored and
committed before the SMTP ``250`` (or before IMAP marks it), then processed; a crash in
between leaves a ``received`` row that the next start processes. ``email_message_ids`` is
every Message-ID we stored or sent, with its ticket: the threading index.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from center.records.base import Base, BigId, utcnow
from center.records.enums import Direction
from center.records.models import _enum


class InboundStatus(StrEnum):
    RECEIVED = "received"  # stored, not yet processed
    PROCESSED = "processed"  # a ticket message (new or threaded)
    SUPPRESSED = "suppressed"  # auto-reply, bounce, bulk, loop: no work
    DUPLICATE = "duplicate"  # a Message-ID already stored inbound
    QUARANTINED = "quarantined"  # could not be parsed or processed: kept, logged


class EmailInbound(Base):
    __tablename__ = "email_inbound"
    __table_args__ = (Index("ix_email_inbound_status", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(120))  # "smtp" or "imap:<mailbox name>"
    # IMAP: "<mailbox id>:<uidvalidity>:<uid>", so a poll after a crash stores it once.
    source_ref: Mapped[str | None] = mapped_column(String(255), unique=True)
    envelope_from: Mapped[str] = mapped_column(String(320), default="")
    envelope_to: Mapped[list[str]] = mapped_column(JSON, default=list)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(default=0)
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[InboundStatus] = mapped_column(
        _enum(InboundStatus), default=InboundStatus.RECEIVED
    )
    reason: Mapped[str | None] = mapped_column(Text)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    message_row_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    processed_at: Mapped[datetime | None] = mapped_column()


class EmailMessageId(Base):
    __tablename__ = "email_message_ids"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # sha256 of the id as written (<…>): ids may be longer than an index allows.
    key: Mapped[str] = mapped_column(String(64), index=True)
    message_id: Mapped[str] = mapped_column(Text)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    message_row_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    direction: Mapped[Direction] = mapped_column(_enum(Direction))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EmailThread(Base):
    """A ticket's email side: its reply-to token and whether it was acknowledged."""

    __tablename__ = "email_threads"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    token: Mapped[str] = mapped_column(String(40), unique=True)
    support_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(998), default="")
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EmailParticipant(Base):
    """Everyone on a thread (From/To/Cc of its messages): only they thread in by token."""

    __tablename__ = "email_participants"
    __table_args__ = (UniqueConstraint("ticket_id", "address"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    address: Mapped[str] = mapped_column(String(320))


class EmailAddress(Base):
    """Per-address state: undeliverable (a DSN said so) and the auto-ack rate window."""

    __tablename__ = "email_addresses"

    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    undeliverable: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    flagged_at: Mapped[datetime | None] = mapped_column()
    ack_window_start: Mapped[datetime | None] = mapped_column()
    ack_count: Mapped[int] = mapped_column(default=0)


class EmailMailbox(Base):
    """An IMAP mailbox polled for mail hosted elsewhere (a file or the admin API)."""

    __tablename__ = "email_mailboxes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(default=993)
    security: Mapped[str] = mapped_column(String(16), default="ssl")  # ssl | starttls | none
    username: Mapped[str] = mapped_column(String(255))
    # Sealed (center/secret_box.py): a Fernet token, longer than the password.
    password: Mapped[str] = mapped_column(String(1024))
    folder: Mapped[str] = mapped_column(String(255), default="INBOX")
    # Where stored mail is moved; empty: it is flagged \Seen and left in place.
    move_to: Mapped[str] = mapped_column(String(255), default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
