"""The interaction service: the one place where an interaction changes state.

Each step writes the row and its timeline event in one database transaction, moves the live
routing state in Redis (atomic Lua steps, via the router), then tells the agent consoles and
the customer's channel. Channel adapters call in; nothing here knows a channel's protocol.

The service is assembled from its parts: the customer's side (customer.py), the agent's side
and the router's callbacks (agent.py), transfers, re-queues and recovery (handoffs.py).
"""

from center.interactions.base import (
    ConversationListener,
    InteractionError,
    Stored,
    interaction_json,
    message_json,
)
from center.interactions.service import InteractionService

__all__ = [
    "ConversationListener",
    "InteractionError",
    "InteractionService",
    "Stored",
    "interaction_json",
    "message_json",
]
