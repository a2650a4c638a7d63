"""Per-channel repliers: how an agent's reply on a ticket leaves (``POST .../replies``).

A channel registers one ``Replier`` for its ``Channel`` while the app is built. The REST
handler, in one transaction, calls ``store_reply`` (which inserts the outbound Message and
enqueues its outbox row), then ``TicketService.agent_replied`` (ticket.replied, SLA
clocks), commits, and wakes the outbox worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from center.records.enums import Channel
from center.records.models import Message, Ticket, User


class ReplyError(Exception):
    """The reply cannot be sent on this ticket (no address to send to, ...): a 409/422."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Replier(Protocol):
    async def store_reply(
        self,
        conn: AsyncConnection,
        ticket: Ticket,
        body: str,
        cc: Sequence[str],
        agent: User,
    ) -> Message:
        """Insert the outbound Message (its interaction on this ticket; ``meta`` carrying
        what the console shows, e.g. ``message_id_header``, ``to``, ``cc``, ``subject``)
        and ``center.outbox.enqueue`` its row with ``message_id`` set; return the Message
        (a transient model, as ``center.interactions.rows`` returns them). Raise
        ReplyError when the reply cannot be sent."""
        ...


REPLIERS = web.AppKey("ticket_repliers", dict)


def register_replier(app: web.Application, channel: Channel, replier: Replier) -> None:
    app.setdefault(REPLIERS, {})[Channel(channel)] = replier


def repliers(app: web.Application) -> dict[Channel, Any]:
    return app.setdefault(REPLIERS, {})
