"""Without CENTER_IVR_FILE: the greeting, then straight into the default queue."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import select

from center.config import Settings
from center.records.models import Interaction, VoiceCall
from tests.support import Server
from tests.twilio_support import Webhooks, sid, voice_call


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"ivr_file": None})


async def test_no_ivr_file_greets_and_queues(server: Server, hooks: Webhooks) -> None:
    call = sid("CA")
    r = await hooks.post("/twilio/voice", voice_call(call, from_="+14155550190"))
    root = ET.fromstring(r.text)
    assert [e.text for e in root.iter("Say")][:2] == [
        "Thank you for calling.",
        "You are number 1 in the queue.",
    ]
    assert root.find("Redirect").text == "/twilio/voice/hold"
    async with server.db.read() as s:
        i = await s.scalar(select(Interaction).where(Interaction.external_ref == call))
        c = await s.scalar(select(VoiceCall).where(VoiceCall.interaction_id == i.id))
    assert (i.state.value, i.queue, c.stage) == ("queued", "default", "waiting")
