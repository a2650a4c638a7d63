"""The conference and everything done to it through Twilio's REST API: bridging an
assigned call, the callback, hold, transfers, supervisors' listen / whisper / barge.

Each action is REST requests through the official async client (``app[TWILIO]``), then
the record of what Twilio accepted (legs, stage, events) in one step. A Twilio error
(4xx/5xx, or no answer) is logged, written on the timeline (``call.rest_error``) and
raised as ``VoiceError`` for the console, which shows it; nothing crashes. Bridging runs
in the background (it is started by the router's accept, not by a webhook), as a debt
written down first and retried until paid (``owed.py``): its errors reach the agent as
``call_error`` events.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncConnection
from twilio.base.exceptions import TwilioRestException

from center.channels.voice import events as ve
from center.channels.voice import store
from center.channels.voice.owed import OwedLegs
from center.channels.voice.rest import Emit, VoiceError
from center.channels.voice.store import Role, Stage
from center.interactions import rows as irows
from center.outbox import PermanentSendError, RetryableSendError
from center.records import events
from center.records.base import utcnow
from center.records.enums import InteractionState
from center.records.models import Interaction, VoiceCall, VoiceLeg

log = logging.getLogger(__name__)


__all__ = ["Bridge", "Emit", "VoiceError"]


class Bridge(OwedLegs):
    def assigned(self, i: Interaction) -> None:
        """The router's accept (a new call, a callback's turn, or a warm transfer's)."""
        self.background(self.bridge(i.id), f"bridge-{i.id}")

    async def place_callback(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The outbox's send of a callback: its leg's row, the REST request, the CallSid.
        Twilio's "try later" (429, 503) is retried; any other refusal, or no answer (it may
        have been placed), fails for good and is shown to the agent."""
        async with self.db.step() as c:
            call = await store.call_by_id(c, int(payload["voice_call_id"]))
            if call is None:
                raise PermanentSendError("the call is gone")
            i = await irows.interaction(c, call.interaction_id)
            if (
                call.stage != Stage.BRIDGED.value
                or i.state is not InteractionState.ASSIGNED
                or i.agent_id != int(payload["agent_id"])
            ):  # (its agent's leg failed meanwhile: the next agent's turn calls instead)
                return {"skipped": "the agent's turn ended before the customer was called"}
            leg = await self._callback_leg(c, call)
        # (The leg's status callbacks name its row: one that beats the answer is kept.)
        request = {**payload["request"], "status_callback": self.url("/status", leg=leg.id)}
        try:
            placed = await self.rest.account.calls.create_async(**request)
        except TwilioRestException as exc:
            if exc.status in (429, 503):
                raise RetryableSendError(f"Twilio {exc.status}: {exc.msg}") from None
            await self._callback_failed(call, i, leg, exc.status, exc.code, str(exc.msg))
            raise PermanentSendError(f"Twilio {exc.status} {exc.code}: {exc.msg}") from None
        except aiohttp.ClientConnectorError as exc:  # nothing was handed over
            raise RetryableSendError(f"Twilio unreachable: {exc}") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            message = f"no answer from Twilio ({type(exc).__name__}): it may have been placed"
            await self._callback_failed(call, i, leg, None, None, message)
            raise PermanentSendError(message) from None
        async with self.db.step() as c:
            await store.fill_sid(c, leg.id, placed.sid)
            await events.write(
                c,
                events.row(
                    ve.CallbackPlaced(placed.sid, request["to"], int(payload["agent_id"])),
                    interaction=i,
                ),
            )
        await self.emit(call, i, "call", await self.state(i.id))
        return {"sid": placed.sid}

    async def _callback_leg(self, c: AsyncConnection, call: VoiceCall) -> VoiceLeg:
        """The callback's leg row, written before it is placed (the same one on a retry)."""
        for leg in await store.legs(c, call.id):
            if leg.role == Role.CALLBACK.value and leg.call_sid is None and not leg.ended_at:
                return leg
        return await store.insert_leg(c, call, None, Role.CALLBACK, status=store.PENDING_DIAL)

    async def _callback_failed(
        self,
        call: VoiceCall,
        i: Interaction,
        leg: VoiceLeg,
        status: int | None,
        code: int | None,
        message: str,
    ) -> None:
        async with self.db.step() as c:
            await store.set_leg(c, leg, status="failed", ended_at=utcnow())
        await self._failed(call, i, "place the callback", status, code, message)
