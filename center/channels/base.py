"""The one small interface every channel adapter implements.

Inbound: an adapter parses its protocol (a socket.io event, a Twilio webhook, an email)
and calls the interaction service. Outbound: the service calls ``deliver`` and ``notify``
on the adapter for the interaction's channel. Nothing channel-specific leaks past this.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol

from center.records.enums import Channel
from center.records.models import Interaction, Message


class CustomerNotice(StrEnum):
    QUEUED = "queued"
    AGENT_JOINED = "agent_joined"
    AGENT_TYPING = "agent_typing"
    CLOSED = "closed"


class ChannelAdapter(Protocol):
    channel: Channel

    async def deliver(self, interaction: Interaction, message: Message, agent_name: str) -> None:
        """Send an agent's message to the customer."""

    async def notify(
        self, interaction: Interaction, notice: CustomerNotice, data: dict[str, Any]
    ) -> None:
        """Tell the customer about a change (queued, agent joined, closed, ...)."""
