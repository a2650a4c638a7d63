"""Tables of the ticket desk: private notes, attachments, SLA policies.

The ticket itself is ``center.records.models.Ticket`` (extended for issue 11): one ticket
groups a customer's interactions of any channel (``interactions.ticket_id``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from center.records.base import Base, BigId, utcnow


class TicketNote(Base):
    """A private note: agents and supervisors see it, the customer never does."""

    __tablename__ = "ticket_notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    # None: written by the system (a bounce, an SLA breach explained).
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attachment(Base):
    """A file that came with (or went out with) a message: byte-exact, sha256 kept."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlaPolicy(Base):
    """Targets in business minutes for tickets of a queue and/or priority.

    The most specific policy wins: queue and priority, then queue, then priority, then the
    default (both NULL).
    """

    __tablename__ = "sla_policies"
    __table_args__ = (Index("uq_sla_policies_queue_priority", "queue", "priority", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    queue: Mapped[str | None] = mapped_column(String(80))
    priority: Mapped[int | None]
    first_response_minutes: Mapped[int | None]
    next_response_minutes: Mapped[int | None]
    resolution_minutes: Mapped[int | None]
    # A warning this many business minutes before a target is due (0: no warning).
    warn_minutes: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
