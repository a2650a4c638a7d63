"""The agent console's socket.io namespace ``/agent``, authenticated by the login cookie.

Protocol (client -> server, each acknowledged with ``{"ok": true, ...}`` or an error that is
also emitted as an ``error`` event {event, code, error}):
  presence {presence: available|away|offline, reason?}  (away reasons: break, lunch,
           training, missed_offers; "available" also ends a wrap-up)
  accept   {interaction_id}         -> ack {ok, interaction, messages[]}
  reject   {interaction_id}
  message  {interaction_id, text}   -> ack {ok, message_id}
  typing   {interaction_id}
  close    {interaction_id, note, disposition?}
  insert_article {interaction_id, article_id} -> ack {ok, article{id,title,url,answer}}, logged
  transfer {interaction_id, to_agent_id? | to_queue?}   (warm: the queue place is kept)
Server -> client: ``hello`` {user, presence, interactions[]}, ``offer``, ``offer_withdrawn``,
``assigned``, ``message``, ``customer_typing``, ``customer_left``, ``closed``, ``presence``,
``transferred`` {interaction_id, to_agent_id? | to_queue?}.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import socketio
from redis.asyncio import Redis
from sqlalchemy import select

from center.agent_ui.assist import Assist
from center.agent_ui.auth import token_from_cookie_header
from center.channels.validation import (
    PayloadError,
    as_dict,
    error_payload,
    id_field,
    text_field,
)
from center.config import Settings
from center.interactions import (
    InteractionError,
    InteractionService,
    interaction_json,
    message_json,
)
from center.liveness import Liveness, Owner
from center.notices import AGENT_NAMESPACE, agent_room
from center.queue.keys import Keys
from center.records import users
from center.records.enums import AwayReason, InteractionState, Presence
from center.records.models import Interaction, Message, User

log = logging.getLogger(__name__)


class AgentNamespace(socketio.AsyncNamespace):
    def __init__(
        self,
        service: InteractionService,
        redis: Redis,
        keys: Keys,
        settings: Settings,
        liveness: Liveness,
        assist: Assist | None = None,
    ) -> None:
        super().__init__(AGENT_NAMESPACE)
        self.liveness = liveness
        # A process that died held this agent's console: a survivor runs the grace check.
        liveness.handlers[Owner.AGENT] = self._offline_after_grace
        self.assist = assist
        self.service = service
        self.db = service.db
        self.redis = redis
        self.keys = keys
        self.settings = settings

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = token_from_cookie_header(environ.get("HTTP_COOKIE"))
        user = await users.user_for_token(self.db, token)
        if user is None:
            raise ConnectionRefusedError("login required")
        await self.save_session(sid, {"user_id": user.id})
        await self.enter_room(sid, agent_room(user.id))
        await self.liveness.connected(Owner.AGENT, user.id, sid)
        await self.emit(
            "hello",
            {
                "user": users.user_json(user),
                "presence": user.presence.value,
                "interactions": await self._assigned(user.id),
            },
            to=sid,
        )

    async def on_disconnect(self, sid: str, *_reason: Any) -> None:
        user_id = (await self.get_session(sid)).get("user_id")
        if user_id is None:
            return
        await self.liveness.disconnected(Owner.AGENT, user_id, sid)  # then the grace check

    async def _offline_after_grace(self, user_id: int) -> None:
        # No offers to an agent nobody is watching; a reload within the grace keeps presence.
        await asyncio.sleep(self.settings.agent_offline_grace_s)
        if await self.liveness.live_count(Owner.AGENT, user_id):
            return
        user = await users.get_user(self.db, user_id)
        if user is not None and user.presence is not Presence.OFFLINE:
            await self.service.set_presence(user, Presence.OFFLINE, "disconnected")
        # Nobody is serving the agent's customers: back to the queues at their places.
        await self.service.requeue_agent(user_id, "agent_disconnected")
        await self.liveness.settled(Owner.AGENT, user_id)

    # -- events ----------------------------------------------------------------------------

    async def on_presence(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def act(user: User, d: dict[str, Any]) -> dict[str, Any]:
            raw = d.get("presence")
            try:
                presence = Presence(raw)
            except ValueError:
                presence = None
            if presence is None or presence is Presence.WRAP_UP:
                raise PayloadError("malformed", "presence must be available, away or offline")
            reason = text_field(d, "reason", max_chars=40, required=False, allow_empty=True)
            if presence is Presence.AWAY and reason and reason not in set(AwayReason):
                codes = ", ".join(r.value for r in AwayReason)
                raise PayloadError("malformed", f"away reason must be one of {codes}")
            await self.service.set_presence(user, presence, reason or None)
            return {"presence": presence.value}

        return await self._handle(sid, "presence", data, act)

    async def on_accept(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def act(user: User, d: dict[str, Any]) -> dict[str, Any]:
            interaction, msgs = await self.service.accept(user, id_field(d, "interaction_id"))
            return {
                "interaction": interaction_json(interaction),
                "messages": [message_json(m) for m in msgs],
            }

        return await self._handle(sid, "accept", data, act)

    async def on_reject(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def act(user: User, d: dict[str, Any]) -> dict[str, Any]:
            await self.service.reject(user, id_field(d, "interaction_id"))
            return {}

        return await self._handle(sid, "reject", data, act)

    async def on_message(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def act(user: User, d: dict[str, Any]) -> dict[str, Any]:
            iid = id_field(d, "interaction_id")
            text = text_field(d, "text", max_chars=self.settings.max_message_chars)
            stored = await self.service.outbound(user, iid, text)
            return {"message_id": stored.message.id, "message": message_json(stored.message)}

        return await self._handle(sid, "message", data, act)

    async def on_typing(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def act(user: User, d: dict[str, Any]) -> dict[str, Any]:
            await self.service.agent_typing(user, id_field(d, "interaction_id"))
            return {}

        return await self._handle(sid, "typing", data, act)

    async def on_insert_article(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def act(user: User, d: dict[str, Any]) -> dict[str, Any]:
            if self.assist is None:
                raise PayloadError("unavailable", "no knowledge base is configured")
            article = await self.assist.insert(
                user, id_field(d, "interaction_id"), id_field(d, "article_id")
            )
            return {"article": article}

        return await self._handle(sid, "insert_article", data, act)

    async def on_close(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def act(user: User, d: dict[str, Any]) -> dict[str, Any]:
            iid = id_field(d, "interaction_id")
            note = text_field(d, "note", max_chars=4000, required=False, allow_empty=True)
            disposition = text_field(
                d, "disposition", max_chars=80, required=False, allow_empty=True
            )
            await self.service.close(user, iid, note=note, disposition=disposition or None)
            return {}

        return await self._handle(sid, "close", data, act)

    async def on_transfer(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def act(user: User, d: dict[str, Any]) -> dict[str, Any]:
            iid = id_field(d, "interaction_id")
            if ("to_agent_id" in d) == ("to_queue" in d):
                raise PayloadError("malformed", "give exactly one of to_agent_id or to_queue")
            if "to_agent_id" in d:
                to_agent = id_field(d, "to_agent_id")
                await self.service.transfer(user, iid, to_agent_id=to_agent)
                return {"to_agent_id": to_agent}
            queue = text_field(d, "to_queue", max_chars=80)
            await self.service.transfer(user, iid, to_queue=queue)
            return {"to_queue": queue}

        return await self._handle(sid, "transfer", data, act)

    # -- helpers ---------------------------------------------------------------------------

    async def _handle(self, sid: str, event: str, data: Any, act: Any) -> dict[str, Any]:
        """Run one event for the session's (freshly loaded) user; refuse bad input cleanly."""
        try:
            d = as_dict(data)
            user_id = (await self.get_session(sid)).get("user_id")
            user = await users.get_user(self.db, user_id) if user_id else None
            if user is None or not user.active:
                raise PayloadError("unauthorized", "login required")
            result = await act(user, d)
        except (PayloadError, InteractionError) as exc:
            payload = error_payload(event, exc.code, str(exc))
            await self.emit("error", payload, to=sid)
            return payload
        return {"ok": True, **result}

    async def _assigned(self, user_id: int) -> list[dict[str, Any]]:
        """The agent's open work, so a reloaded console picks up where it was."""
        async with self.db.read() as s:
            rows = list(
                await s.scalars(
                    select(Interaction)
                    .where(
                        Interaction.agent_id == user_id,
                        Interaction.state.in_(
                            [InteractionState.ASSIGNED, InteractionState.OFFERED]
                        ),
                    )
                    .order_by(Interaction.id)
                )
            )
            out = []
            for i in rows:
                msgs = await s.scalars(
                    select(Message).where(Message.interaction_id == i.id).order_by(Message.id)
                )
                out.append({**interaction_json(i), "messages": [message_json(m) for m in msgs]})
        return out
