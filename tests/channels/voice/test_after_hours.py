"""Outside business hours (CENTER_IVR_FILE's hours) a caller is sent to voicemail."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests.channels.voice.conftest import IVR
from tests.support import Server
from tests.twilio_support import Webhooks, sid, voice_call


@pytest.fixture
def ivr_text() -> str:
    # Closed every day: every call is after hours.
    return IVR + "hours:\n  timezone: Europe/Paris\n  weekly: {}\n"


async def test_after_hours_callers_are_sent_to_voicemail(server: Server, hooks: Webhooks) -> None:
    r = await hooks.post("/twilio/voice", voice_call(sid("CA"), from_="+14155550155"))
    root = ET.fromstring(r.text)
    assert next(e.text for e in root.iter("Say")) == (
        "Welcome to Example. We are closed right now. Please leave a message after the tone."
    )
    assert root.find("Record") is not None and root.find("Gather") is None
