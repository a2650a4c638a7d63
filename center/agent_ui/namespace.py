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
Server -> client: ``hello`` {user, presence, interactions[], offers[]} (offers: those still
open, as ``offer`` with ``remaining_ms``), ``offer``, ``offer_withdrawn``,
``assigned``, ``message``, ``customer_typing``, ``customer_left``, ``closed``, ``presence``,
``transferred`` {interaction_id, to_agent_id? | to_queue?}.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from center.agent_ui.assist import Assist
from center.agent_ui.console_sockets import ConsoleSockets
from center.channels.validation import PayloadError, error_payload
from center.config import Settings
from center.interactions import (
    InteractionError,
    InteractionService,
    interaction_json,
    message_json,
)
from center.liveness import Liveness, Owner
from center.notices import AGENT_NAMESPACE, agent_room
from center.payloads import (
    AgentMessage,
    CloseWork,
    InsertArticle,
    InteractionRef,
    PresenceChange,
    Transfer,
    parse,
)
from center.queue.keys import Keys
from center.records import users
from center.records.enums import InteractionState, Presence
from center.records.models import Interaction, Message, User
from center.sockets import Namespace

log = logging.getLogger(__name__)


class AgentNamespace(Namespace):
    def __init__(
        self,
        service: InteractionService,
        redis: Redis,
        keys: Keys,
        settings: Settings,
        liveness: Liveness,
        assist: Assist | None = None,
        *,
        sockets: ConsoleSockets,
    ) -> None:
        super().__init__(AGENT_NAMESPACE)
        self.sockets = sockets
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
        # Our pages only, a live session; recorded under it so that logout ends it.
        user = await self.sockets.admit(sid, self.namespace, environ)
        # The user is kept with the socket for its events: an account changes only by
        # deactivation, and that (like logout and expiry) ends the socket itself, on every
        # process (console_sockets.py); no event needs a fresh read of the same row.
        await self.save_session(sid, {"user_id": user.id, "user": user})
        await self.enter_room(sid, agent_room(user.id))
        await self.liveness.connected(Owner.AGENT, user.id, sid)
        await self.emit(
            "hello",
            {
                "user": users.user_json(user),
                "presence": user.presence.value,
                "interactions": await self._assigned(user.id),
                "offers": await self._pending_offers(user.id),
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
        async def act(user: User, d: Any) -> dict[str, Any]:
            change = parse(PresenceChange, d)
            await self.service.set_presence(user, change.state, change.reason or None)
            return {"presence": change.presence}

        return await self._handle(sid, "presence", data, act)

    async def on_accept(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def act(user: User, d: Any) -> dict[str, Any]:
            ref = parse(InteractionRef, d)
            interaction, msgs = await self.service.accept(user, ref.interaction_id)
            return {
                "interaction": interaction_json(interaction),
                "messages": [message_json(m) for m in msgs],
            }

        return await self._handle(sid, "accept", data, act)

    async def on_reject(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def act(user: User, d: Any) -> dict[str, Any]:
            await self.service.reject(user, parse(InteractionRef, d).interaction_id)
            return {}

        return await self._handle(sid, "reject", data, act)

    async def on_message(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def act(user: User, d: Any) -> dict[str, Any]:
            m = parse(AgentMessage, d, max_chars=self.settings.max_message_chars)
            stored = await self.service.outbound(user, m.interaction_id, m.text)
            return {"message_id": stored.message.id, "message": message_json(stored.message)}

        return await self._handle(sid, "message", data, act)

    async def on_typing(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def act(user: User, d: Any) -> dict[str, Any]:
            await self.service.agent_typing(user, parse(InteractionRef, d).interaction_id)
            return {}

        return await self._handle(sid, "typing", data, act)

    async def on_insert_article(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def act(user: User, d: Any) -> dict[str, Any]:
            ref = parse(InsertArticle, d)
            if self.assist is None:
                raise PayloadError("unavailable", "no knowledge base is configured")
            article = await self.assist.insert(user, ref.interaction_id, ref.article_id)
            return {"article": article}

        return await self._handle(sid, "insert_article", data, act)

    async def on_close(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def act(user: User, d: Any) -> dict[str, Any]:
            c = parse(CloseWork, d)
            await self.service.close(
                user, c.interaction_id, note=c.note or "", disposition=c.disposition or None
            )
            return {}

        return await self._handle(sid, "close", data, act)

    async def on_transfer(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def act(user: User, d: Any) -> dict[str, Any]:
            t = parse(Transfer, d)
            if t.to_agent_id is not None:
                await self.service.transfer(user, t.interaction_id, to_agent_id=t.to_agent_id)
                return {"to_agent_id": t.to_agent_id}
            # Only a queue in effect: work sent to a name no queue has would wait unseen.
            if await self.service.router.queue_definition(t.to_queue) is None:
                raise PayloadError("not_found", f"no queue {t.to_queue!r}")
            await self.service.transfer(user, t.interaction_id, to_queue=t.to_queue)
            return {"to_queue": t.to_queue}

        return await self._handle(sid, "transfer", data, act)

    # -- helpers ---------------------------------------------------------------------------

    async def _handle(self, sid: str, event: str, data: Any, act: Any) -> dict[str, Any]:
        """Run one event for the socket's user; refuse bad input cleanly."""
        try:
            user = (await self.get_session(sid)).get("user")
            if user is None or not user.active:
                raise PayloadError("unauthorized", "login required")
            result = await act(user, data)
        except (PayloadError, InteractionError) as exc:
            payload = error_payload(event, exc.code, str(exc))
            await self.emit("error", payload, to=sid)
            return payload
        return {"ok": True, **result}

    async def _pending_offers(self, user_id: int) -> list[dict[str, Any]]:
        """Offers to this agent still open in Redis, with the time left: a console reloaded
        while an offer showed gets it back, instead of the offer running out unseen and
        counting as missed. The record names the candidates; Redis (where the offer lives
        and expires) says which are still on offer. An offer recorded after the query below
        reaches this socket as an ``offer`` event: it joined the agent's room first."""
        async with self.db.read() as s:
            rows = await _held(s, user_id, [InteractionState.OFFERED])
            previews = {
                i.id: await s.scalar(
                    select(Message.body)
                    .where(Message.interaction_id == i.id)
                    .order_by(Message.id.desc())
                    .limit(1)
                )
                for i in rows
            }
        router = self.service.router
        live = await router.live_states([i.id for i in rows]) if rows else []
        now = router.clock.now_ms()
        out = []
        for i, state in zip(rows, live, strict=True):
            deadline = int(float(state.get("deadline") or 0))
            if state.get("state") != "offered" or state.get("agent") != str(user_id):
                continue
            if deadline <= now:
                continue  # (expired: the sweep withdraws it in a moment)
            out.append(
                {
                    **interaction_json(i),
                    "deadline_ms": deadline,
                    "remaining_ms": deadline - now,
                    "timeout_s": router.options.offer_timeout_ms / 1000,
                    "preview": (previews[i.id] or "")[:200],
                }
            )
        return out

    async def _assigned(self, user_id: int) -> list[dict[str, Any]]:
        """The agent's open work, so a reloaded console picks up where it was."""
        async with self.db.read() as s:
            rows = await _held(s, user_id, [InteractionState.ASSIGNED, InteractionState.OFFERED])
            out = []
            for i in rows:
                msgs = await s.scalars(
                    select(Message).where(Message.interaction_id == i.id).order_by(Message.id)
                )
                out.append({**interaction_json(i), "messages": [message_json(m) for m in msgs]})
        return out


async def _held(s: AsyncSession, user_id: int, states: list[InteractionState]) -> list[Interaction]:
    """The agent's interactions in ``states``, oldest first."""
    query = select(Interaction).where(
        Interaction.agent_id == user_id, Interaction.state.in_(states)
    )
    return list(await s.scalars(query.order_by(Interaction.id)))
