"""What the consoles are told, and the bus that tells them (any process, any agent)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import socketio


class AgentNotice(StrEnum):
    OFFER = "offer"
    OFFER_WITHDRAWN = "offer_withdrawn"
    ASSIGNED = "assigned"
    MESSAGE = "message"
    CUSTOMER_TYPING = "customer_typing"
    CUSTOMER_LEFT = "customer_left"
    CLOSED = "closed"
    PRESENCE = "presence"
    SUGGESTIONS = "suggestions"
    TRANSFERRED = "transferred"  # {interaction_id, to_agent_id? | to_queue?}


AGENT_NAMESPACE = "/agent"
# The supervisors' consoles: every supervisor and admin socket is in one room.
SUPERVISOR_NAMESPACE = "/supervisor"
SUPERVISORS_ROOM = "supervisors"


def agent_room(agent_id: int) -> str:
    return f"agent:{agent_id}"


class AgentBus:
    """Emits to every console of an agent; AsyncRedisManager fans out across processes."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio

    async def to_agent(self, agent_id: int, notice: AgentNotice, data: dict[str, Any]) -> None:
        await self.sio.emit(
            notice.value, data, room=agent_room(agent_id), namespace=AGENT_NAMESPACE
        )
