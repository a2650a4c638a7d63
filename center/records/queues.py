"""Queues edited by an admin through the API, stored over the file's queues.

The effective set of queues is the configuration file's queues (the seed), with each row
here replacing the file's queue of the same name or adding a new one; a row with
``removed`` set hides a file queue of that name (a queue deleted through the API stays
deleted after a restart even though the file still lists it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from center.records.base import Base, BigId, utcnow


class QueueRow(Base):
    __tablename__ = "queues"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    # The queue's settings as the API takes them (center.queue.config.queue_json, no name).
    definition: Mapped[dict[str, Any]]
    removed: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[int | None] = mapped_column(BigId)
