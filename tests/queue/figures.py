"""Interactions as the supervisor's figures see them, stored straight into the record (for
the tests of today's figures and of history)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from center.records.db import Database
from center.records.enums import Channel, InteractionState
from center.records.models import Customer, Interaction


def row(
    queued: datetime,
    state: InteractionState = InteractionState.QUEUED,
    *,
    answered_after_s: float | None = None,
    ended_after_s: float | None = None,
    queue: str = "default",
    channel: Channel = Channel.CHAT,
) -> dict[str, Any]:
    assigned = (
        queued + timedelta(seconds=answered_after_s) if answered_after_s is not None else None
    )
    ended = (assigned or queued) + timedelta(seconds=ended_after_s) if ended_after_s else None
    return {
        "state": state,
        "queue": queue,
        "channel": channel,
        "queued_at": queued,
        "assigned_at": assigned,
        "ended_at": ended,
    }


async def store(db: Database, *rows: dict[str, Any]) -> None:
    """One customer's interactions (a chat unless a row says otherwise)."""
    async with db.transaction() as s:
        customer = Customer(display_name="c")
        s.add(customer)
        await s.flush()
        for r in rows:
            s.add(Interaction(customer_id=customer.id, **{"channel": Channel.CHAT, **r}))
