"""A supervisor on the supervisor console (real browser) sees a live call bridged to an
agent, whispers to the agent, is refused by Twilio when switching, then listens."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from center.records.enums import Role
from center.records.users import create_user
from tests.agent_ui.test_browser import XSS
from tests.agent_ui.test_supervisor_browser import signed_in_supervisor
from tests.channels.voice.conftest import VoiceConsole, bridged_call
from tests.support import PASSWORD, Agent, Server, make_user
from tests.twilio_support import TwilioApi, Webhooks, voice_call

pytestmark = pytest.mark.browser
CALLER = "+14155550144"


async def test_a_supervisor_whispers_from_the_board_and_sees_a_refusal(
    server: Server, browser: Browser, hooks: Webhooks, twilio_api: TwilioApi
) -> None:
    await make_user(server.db, "sue", role=Role.SUPERVISOR, capacity={})
    # The agent's name looks like HTML: the row shows it as text.
    await create_user(server.db, "ann", PASSWORD, display_name=XSS, capacity={"voice": 1})
    ann = Agent(server.url)
    assert (await ann.login("ann")).status == 200
    await ann.connect()
    await ann.available()
    ann_voice = VoiceConsole(ann)
    errors: list[str] = []
    dialogs: list[str] = []
    ctx = await browser.new_context()
    try:
        await ann_voice.connect()
        call, iid, cf, ann_leg = await bridged_call(hooks, twilio_api, ann, ann_voice, CALLER)

        # Signed in after the call was bridged: the board lists it at connect.
        page = await signed_in_supervisor(ctx, server.url, errors, dialogs)
        row = page.locator(f"#calls tbody tr[data-id='{iid}']")
        await expect(row.locator(".call-from")).to_have_text(CALLER)
        await expect(row.locator(".call-agent")).to_have_text(XSS)
        await expect(page.locator("#no-calls")).to_be_hidden()

        await row.locator(".monitor-whisper").click()
        await expect(row.locator(".monitor-state")).to_have_text("you are whispering to the agent")
        await expect(row.locator(".call-people")).to_contain_text("you (whisper)")
        await expect(row.locator(".monitor-whisper")).to_have_attribute("aria-pressed", "true")
        (added,) = [
            r
            for r in twilio_api.posts(f"/Conferences/center-call-{iid}/Participants.json")
            if r.form["Label"].startswith("supervisor-")
        ]
        assert added.form["Coaching"] == "true" and added.form["Muted"] == "false"
        assert added.form["CallSidToCoach"] == ann_leg

        # Twilio has the supervisor in the conference; it refuses the switch to barge.
        (sue_leg,) = [
            call_sid
            for call_sid, p in twilio_api.participants[f"center-call-{iid}"].items()
            if p["label"].startswith("supervisor-")
        ]
        twilio_api.add_participant(cf, sue_leg, coaching=True)
        twilio_api.fail_next("/Participants/", 400, 20001, "Participant is not in the conference")
        await row.locator(".monitor-barge").click()
        await expect(row.locator(".monitor-error")).to_contain_text(
            "Participant is not in the conference"
        )
        await expect(row.locator(".monitor-state")).to_have_text("you are whispering to the agent")

        # Then listening works: the same leg, muted, coaching off.
        await row.locator(".monitor-listen").click()
        await expect(row.locator(".monitor-state")).to_have_text("you are listening")
        await expect(row.locator(".monitor-error")).to_be_hidden()
        switched = twilio_api.posts(f"/Conferences/{cf}/Participants/{sue_leg}.json")[-1]
        assert switched.form == {"Muted": "true", "Coaching": "false"}
        assert twilio_api.participants[cf][sue_leg]["muted"] is True
        assert await page.locator("img").count() == 0

        # The caller hangs up: the call leaves the board (a push).
        r = await hooks.post(
            "/twilio/voice/status", voice_call(call, "completed", from_=CALLER, CallDuration="42")
        )
        assert r.status == 200
        await expect(row).to_have_count(0)
        await expect(page.locator("#no-calls")).to_be_visible()
        assert errors == [] and dialogs == []
    finally:
        await ctx.close()
        for c in (ann_voice, ann):
            await c.close()
