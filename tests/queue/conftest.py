"""Router fixtures: a real Redis (embedded or configured) and a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from center.config import Settings
from center.queue.keys import Keys
from center.queue.router import Router, RouterOptions
from center.redisconn import connect


class FakeClock:
    def __init__(self) -> None:
        self.ms = 1_700_000_000_000

    def now_ms(self) -> int:
        return self.ms


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def router(settings: Settings, clock: FakeClock) -> AsyncIterator[Router]:
    redis = await connect(settings.redis_url)
    yield Router(
        redis,
        Keys(settings.redis_prefix),
        options=RouterOptions(offer_timeout_ms=20_000, max_missed=2, decline_cooldown_ms=30_000),
        clock=clock,
    )
    await redis.aclose()
