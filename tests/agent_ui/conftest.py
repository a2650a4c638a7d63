"""Fixtures shared by the agent-console tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.agent_ui.routing_support import Desk
from tests.support import Server


@pytest.fixture
async def desk(server: Server) -> AsyncIterator[Desk]:
    """Agents and customers on the real server, all closed at the end."""
    desk = Desk(server)
    yield desk
    await desk.close()
