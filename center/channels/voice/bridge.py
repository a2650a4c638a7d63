"""The conference and everything done to it through Twilio's REST API: bridging an
assigned call, the callback, hold, transfers, supervisors' listen / whisper / barge.

Each action is REST requests through the official async client (``app[TWILIO]``), then
the record of what Twilio accepted (legs, stage, events) in one step. A Twilio error
(4xx/5xx, or no answer) is logged, written on the timeline (``call.rest_error``) and
raised as ``VoiceError`` for the console, which shows it; nothing crashes. Bridging runs
in the background (it is started by the router's accept, not by a webhook): its errors
reach the agent as a ``call_error`` event.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioRestException

from center.channels.voice import events as ve
from center.channels.voice import store, twiml
from center.channels.voice.controls import Controls
from center.channels.voice.rest import LEG_EVENTS, Emit, VoiceError, _leg
from center.channels.voice.store import Role, Stage
from center.interactions import rows as irows
from center.outbox import OutboxKind, PermanentSendError, RetryableSendError, enqueue
from center.records import events
from center.records.models import Interaction, VoiceCall

log = logging.getLogger(__name__)


__all__ = ["Bridge", "Emit", "VoiceError"]


class Bridge(Controls):
    def assigned(self, i: Interaction) -> None:
        """The router's accept (a new call, a callback's turn, or a warm transfer's)."""
        self.background(self._assigned(i), f"bridge-{i.id}")

    async def _assigned(self, i: Interaction) -> None:
        try:
            call, i, legs = await self._load(i.id)
            agent_id = i.agent_id
            if agent_id is None:
                return
            stage = Stage(call.stage)
            if stage is Stage.CALLBACK:
                await self._callback(call, i, agent_id)
            elif stage is Stage.WAITING:
                caller = _leg(legs, Role.CALLER)
                async with self.db.step() as c:  # (a hold round racing this bridges too)
                    await store.set_call(c, call, stage=Stage.BRIDGED.value)
                try:
                    await self._rest(
                        call,
                        i,
                        "bridge the caller",
                        self.rest.account.calls(caller.call_sid).update_async(
                            twiml=twiml.bridge(self.ivr, call.language, conference=call.conference)
                        ),
                    )
                except VoiceError:
                    async with self.db.step() as c:
                        await store.set_call(c, call, stage=Stage.WAITING.value)
                    raise
                await self._add_participant(call, i, agent_id, Role.AGENT)
            elif stage is Stage.BRIDGED:  # a warm transfer's new agent joins the conference
                await self._add_participant(call, i, agent_id, Role.AGENT)
            else:
                return
            await self.emit(call, i, "call", await self.state(i.id))
        except VoiceError as exc:
            log.info("bridging %s: %s", i.id, exc)
        except Exception:
            log.exception("bridging %s failed", i.id)

    async def _callback(self, call: VoiceCall, i: Interaction, agent_id: int) -> None:
        """The callback's turn: the agent into the conference, then the customer called
        back through the outbox (durable, placed once: ``CallbackSender``)."""
        await self._add_participant(call, i, agent_id, Role.AGENT)
        number = call.callback_number or call.from_number
        request = {
            "to": number,
            "from_": self.twilio.number,
            "url": self.url("/callback", call=call.id),
            "method": "POST",
            "status_callback": self.url("/status"),
            "status_callback_method": "POST",
            "status_callback_event": LEG_EVENTS,
        }
        # Bridged in the step that asks for the call: Twilio may fetch the callback's
        # TwiML (which asks for this stage) before its answer to the request reaches us.
        async with self.db.step() as c:
            await store.set_call(c, call, stage=Stage.BRIDGED.value)
            await enqueue(
                c,
                OutboxKind.CALL,
                {"request": request, "voice_call_id": call.id, "agent_id": agent_id},
                key=f"voice-callback-{call.id}",
                customer_id=i.customer_id,
                interaction_id=i.id,
            )
        if self.wake is not None:
            self.wake()

    async def place_callback(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The outbox's send of a callback: the REST request, then its leg on the record.
        Twilio's "try later" (429, 503) is retried; any other refusal, or no answer (it may
        have been placed), fails for good and is shown to the agent."""
        async with self.db.read_step() as c:
            call = await store.call_by_id(c, int(payload["voice_call_id"]))
            if call is None:
                raise PermanentSendError("the call is gone")
            i = await irows.interaction(c, call.interaction_id)
        request = payload["request"]
        try:
            placed = await self.rest.account.calls.create_async(**request)
        except TwilioRestException as exc:
            if exc.status in (429, 503):
                raise RetryableSendError(f"Twilio {exc.status}: {exc.msg}") from None
            await self._failed(call, i, "place the callback", exc.status, exc.code, str(exc.msg))
            raise PermanentSendError(f"Twilio {exc.status} {exc.code}: {exc.msg}") from None
        except aiohttp.ClientConnectorError as exc:  # nothing was handed over
            raise RetryableSendError(f"Twilio unreachable: {exc}") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            message = f"no answer from Twilio ({type(exc).__name__}): it may have been placed"
            await self._failed(call, i, "place the callback", None, None, message)
            raise PermanentSendError(message) from None
        async with self.db.step() as c:
            await store.insert_leg(c, call, placed.sid, Role.CALLBACK, status="queued")
            await events.write(
                c,
                events.row(
                    ve.CallbackPlaced(placed.sid, request["to"], int(payload["agent_id"])),
                    interaction=i,
                ),
            )
        await self.emit(call, i, "call", await self.state(i.id))
        return {"sid": placed.sid}
