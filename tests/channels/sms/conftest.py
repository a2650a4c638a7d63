from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from center.config import Settings
from tests.support import Server
from tests.twilio_support import TwilioApi, Webhooks, twilio_api, with_twilio

__all__ = ["twilio_api"]


@pytest.fixture
def settings(settings: Settings, twilio_api: TwilioApi) -> Settings:
    # (A short outbox backoff: a retried send takes a few hundredths of a second.)
    return with_twilio(settings, twilio_api, outbox_poll_s=0.05, outbox_backoff_s=0.05)


@pytest.fixture
async def hooks(server: Server) -> AsyncIterator[Webhooks]:
    client = Webhooks(server.url, app=server.app)
    try:
        yield client
    finally:
        await client.close()
