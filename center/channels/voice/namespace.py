"""The call controls' socket.io namespace ``/voice`` (agents and supervisors, login cookie).

Client -> server (each acknowledged ``{"ok": true, "call": {...}}`` or an error, also
emitted as ``error`` {event, code, error}):
  call     {interaction_id}                    -> the call's state (stage, legs)
  hold     {interaction_id, on: bool}          the caller on hold / back
  transfer {interaction_id, to_agent_id? | to_queue?}   warm: to an agent (offered to them
           while the caller stays with you; ``leave`` once introduced) or back to a queue
           (the caller on the hold loop, keeping the place)
  leave    {interaction_id}                    drop out of the conference
  hangup   {interaction_id}                    end the call (the caller hears the survey)
  monitor  {interaction_id, mode: listen|whisper|barge}   supervisors and admins only
           (again, with another mode: the same leg switches)
  calls    {}                                  supervisors and admins: ``{"calls": [...]}``,
           the calls connected to an agent now (the board's rows; ``call`` pushes follow)
Server -> client: ``call`` {interaction_id, stage, legs[] ...} after every change,
``call_error`` {interaction_id, action, status, code, error} when Twilio refused something.
Agents are in room ``agent:<id>``; supervisors and admins also in ``supervisors``.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import StrictBool

from center.agent_ui.console_sockets import ConsoleSockets
from center.channels.validation import PayloadError, error_payload
from center.channels.voice.bridge import Bridge, VoiceError
from center.interactions import InteractionError, InteractionService, rows
from center.notices import agent_room
from center.payloads import InteractionRef, NoArguments, Transfer, parse
from center.records import users
from center.records.models import User
from center.sockets import Namespace

log = logging.getLogger(__name__)
VOICE_NAMESPACE = "/voice"
SUPERVISORS = "supervisors"


class HoldRequest(InteractionRef):
    on: StrictBool


class MonitorRequest(InteractionRef):
    mode: Literal["listen", "whisper", "barge"]


class VoiceNamespace(Namespace):
    def __init__(
        self, service: InteractionService, bridge: Bridge, *, sockets: ConsoleSockets
    ) -> None:
        super().__init__(VOICE_NAMESPACE)
        self.service = service
        self.bridge = bridge
        self.sockets = sockets
        self.db = service.db

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        user = await self.sockets.admit(sid, self.namespace, environ)
        await self.save_session(sid, {"user_id": user.id})
        await self.enter_room(sid, agent_room(user.id))
        if user.role.sees_all:
            await self.enter_room(sid, SUPERVISORS)

    async def on_call(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def act(user: User, d: Any) -> dict[str, Any]:
            ref = parse(InteractionRef, d)
            state = await self.bridge.state(ref.interaction_id)
            await self._may_see(user, ref.interaction_id)
            return {"call": state}

        return await self._handle(sid, "call", data, act)

    async def on_hold(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def act(user: User, d: Any) -> dict[str, Any]:
            h = parse(HoldRequest, d)
            return {"call": await self.bridge.hold(user, h.interaction_id, h.on)}

        return await self._handle(sid, "hold", data, act)

    async def on_transfer(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def act(user: User, d: Any) -> dict[str, Any]:
            t = parse(Transfer, d)
            if t.to_agent_id is not None:
                # The caller stays in the conference with this agent until the other one
                # accepts and joins (warm); then this agent leaves.
                await self.service.transfer(user, t.interaction_id, to_agent_id=t.to_agent_id)
            else:
                if await self.service.router.queue_definition(t.to_queue) is None:
                    raise PayloadError("not_found", f"no queue {t.to_queue!r}")
                _call, i = await self.bridge.to_hold_loop(user, t.interaction_id)
                try:
                    await self.service.transfer(user, t.interaction_id, to_queue=t.to_queue)
                except InteractionError:
                    self.bridge.assigned(i)  # back into the conference with this agent
                    raise
            return {"call": await self.bridge.state(t.interaction_id)}

        return await self._handle(sid, "transfer", data, act)

    async def on_leave(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def act(user: User, d: Any) -> dict[str, Any]:
            return {"call": await self.bridge.leave(user, parse(InteractionRef, d).interaction_id)}

        return await self._handle(sid, "leave", data, act)

    async def on_hangup(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def act(user: User, d: Any) -> dict[str, Any]:
            iid = parse(InteractionRef, d).interaction_id
            return {"call": await self.bridge.hang_up(user, iid)}

        return await self._handle(sid, "hangup", data, act)

    async def on_monitor(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def act(user: User, d: Any) -> dict[str, Any]:
            m = parse(MonitorRequest, d)
            if not user.role.sees_all:
                raise PayloadError("forbidden", "only supervisors and admins monitor calls")
            return {"call": await self.bridge.monitor(user, m.interaction_id, m.mode)}

        return await self._handle(sid, "monitor", data, act)

    async def on_calls(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def act(user: User, d: Any) -> dict[str, Any]:
            parse(NoArguments, d)
            if not user.role.sees_all:
                raise PayloadError("forbidden", "only supervisors and admins see every call")
            return {"calls": await self.bridge.live()}

        return await self._handle(sid, "calls", data, act)

    async def _may_see(self, user: User, interaction_id: int) -> None:
        if user.role.sees_all:
            return
        async with self.db.read_step() as c:
            i = await rows.interaction(c, interaction_id)
        if i.agent_id != user.id:
            raise PayloadError("forbidden", "this call is not yours")

    async def _handle(self, sid: str, event: str, data: Any, act: Any) -> dict[str, Any]:
        try:
            user_id = (await self.get_session(sid)).get("user_id")
            user = await users.get_user(self.db, user_id) if user_id else None
            if user is None or not user.active:
                raise PayloadError("unauthorized", "login required")
            result = await act(user, data)
        except (PayloadError, InteractionError, VoiceError) as exc:
            payload = error_payload(event, exc.code, str(exc))
            await self.emit("error", payload, to=sid)
            return payload
        return {"ok": True, **result}
