"""The service assembled from its parts; see the package's docstring."""

from __future__ import annotations

from center.channels.base import ChannelAdapter
from center.interactions.agent import AgentSide
from center.interactions.base import ConversationListener, MessageHook
from center.interactions.customer import CustomerSide
from center.interactions.followups import Followups
from center.interactions.handoffs import Handoffs
from center.interactions.recovery import Recovery
from center.notices import AgentBus
from center.queue.router import Router
from center.records.db import Database
from center.records.enums import (
    Channel,
)


class InteractionService(CustomerSide, AgentSide, Handoffs, Recovery):
    def __init__(self, db: Database, router: Router, bus: AgentBus) -> None:
        self.db = db
        self.router = router
        self.bus = bus
        self.adapters: dict[Channel, ChannelAdapter] = {}
        self.listeners: list[ConversationListener] = []
        self.outbound_steps: dict[Channel, MessageHook] = {}
        self.followups = Followups()
        router.on_offer = self._offered
        router.on_timeout = self._timed_out
        router.on_escalated = self._escalated
        router.on_wrap_up_end = self._wrap_up_ended

    def register(self, adapter: ChannelAdapter) -> None:
        self.adapters[adapter.channel] = adapter
