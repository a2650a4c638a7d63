"""Web chat: the customer's socket.io namespace ``/chat`` and its channel adapter.

Protocol (client -> server, all acknowledged with ``{"ok": true, ...}`` or an error):
  connect  auth {token?, name?, email?}    -> server emits ``welcome`` {token, customer_id,
                                               interaction?, messages[]}
  message  {text}                          -> ack {ok, message_id, interaction_id}
  typing   {}                              -> the assigned agent sees a typing indicator
  leave    {}                              -> ends the chat from the customer's side
  escalate {}                              -> "still need help": queue for an agent now
  article_opened {article_id}              -> the customer opened a suggested article
Server -> client: ``welcome``, ``articles`` {interaction_id, articles[]}, ``queued``
{position}, ``agent_joined`` {agent}, ``message`` {id, body, author, at}, ``agent_typing``,
``closed``, ``error`` {event, code, error}.

Deflection: when the knowledge base has answers for the first message, the chat is not
queued yet; the customer sees the articles and either asks for an agent (escalate, or any
further message) or leaves — after reading one that is logged as deflected, not abandoned.

A returning visitor presents their token and is the same customer. A customer whose chat
connections have all closed for ``chat_abandon_grace_s`` while waiting is abandoned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from redis.asyncio import Redis
from sqlalchemy import select

from center.channels.base import CustomerNotice
from center.channels.validation import (
    PayloadError,
    as_dict,
    error_payload,
    id_field,
    text_field,
)
from center.config import Settings
from center.interactions import InteractionError, InteractionService, message_json, rows
from center.liveness import Liveness, Owner
from center.notices import AgentNotice
from center.queue.keys import Keys
from center.queue.placement import PlacementRules, place
from center.records import customers
from center.records.enums import Channel, IdentityKind, InteractionState
from center.records.models import Interaction, Message

log = logging.getLogger(__name__)
NAMESPACE = "/chat"
# Free text -> suggested articles ({id, title, url, answer}); empty when none fit.
SuggestFn = Callable[[str], Awaitable[list[dict[str, Any]]]]


def customer_room(customer_id: int) -> str:
    return f"customer:{customer_id}"


class WebChatAdapter:
    channel = Channel.CHAT

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio

    async def deliver(self, interaction: Interaction, message: Message, agent_name: str) -> None:
        await self.sio.emit(
            "message",
            {**message_json(message), "author": agent_name},
            room=customer_room(interaction.customer_id),
            namespace=NAMESPACE,
        )

    async def notify(
        self, interaction: Interaction, notice: CustomerNotice, data: dict[str, Any]
    ) -> None:
        await self.sio.emit(
            notice.value, data, room=customer_room(interaction.customer_id), namespace=NAMESPACE
        )


class ChatNamespace(socketio.AsyncNamespace):
    def __init__(
        self,
        service: InteractionService,
        redis: Redis,
        keys: Keys,
        settings: Settings,
        liveness: Liveness,
        suggest: SuggestFn | None = None,
        placement: PlacementRules | None = None,
    ) -> None:
        super().__init__(NAMESPACE)
        self.liveness = liveness
        # A process that died held this customer's sockets: a survivor runs the grace check.
        liveness.handlers[Owner.CHAT] = self._gone_after_grace
        # Where new chats wait (configured rules; none: the default queue).
        self.placement = placement or PlacementRules()
        self.suggest = suggest
        self.service = service
        self.db = service.db
        self.redis = redis
        self.keys = keys
        self.settings = settings

    # -- connection ------------------------------------------------------------------------

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        auth = auth if isinstance(auth, dict) else {}
        token = auth.get("token")
        if not isinstance(token, str) or not 16 <= len(token) <= 200:
            token = secrets.token_urlsafe(24)
        identities = {IdentityKind.CHAT_VISITOR: token}
        email = auth.get("email")
        if isinstance(email, str) and email.strip():
            identities[IdentityKind.EMAIL] = email[:254]
        name = auth.get("name")
        name = name.strip()[: self.settings.max_name_chars] if isinstance(name, str) else None
        try:
            customer = await customers.resolve(
                self.db, identities, display_name=name or None, via="chat"
            )
        except customers.InvalidIdentity as exc:
            raise ConnectionRefusedError(str(exc)) from None
        await self.save_session(sid, {"customer_id": customer.id})
        await self.enter_room(sid, customer_room(customer.id))
        await self.liveness.connected(Owner.CHAT, customer.id, sid)
        interaction, messages = await self._open_chat(customer.id)
        await self.emit(
            "welcome",
            {
                "token": token,
                "customer_id": customer.id,
                "interaction": None
                if interaction is None
                else {"id": interaction.id, "state": interaction.state.value},
                "messages": [message_json(m) for m in messages],
            },
            to=sid,
        )

    async def on_disconnect(self, sid: str, *_reason: Any) -> None:
        session = await self.get_session(sid)
        customer_id = session.get("customer_id")
        if customer_id is None:
            return
        await self.liveness.disconnected(Owner.CHAT, customer_id, sid)  # then the grace check

    async def _gone_after_grace(self, customer_id: int) -> None:
        # A page reload reconnects within the grace period and is not an abandonment.
        await asyncio.sleep(self.settings.chat_abandon_grace_s)
        if await self.liveness.live_count(Owner.CHAT, customer_id):
            return
        interaction, _ = await self._open_chat(customer_id, with_messages=False)
        if interaction is not None:
            with contextlib.suppress(InteractionError):
                await self.service.customer_gone(interaction.id)
        await self.liveness.settled(Owner.CHAT, customer_id)

    # -- events ----------------------------------------------------------------------------

    async def on_message(self, sid: str, data: Any = None) -> dict[str, Any]:
        deflecting = False
        try:
            text = text_field(as_dict(data), "text", max_chars=self.settings.max_message_chars)
            customer_id = (await self.get_session(sid))["customer_id"]
            interaction, _ = await self._open_chat(customer_id, with_messages=False)
            if interaction is None:
                # A new chat: articles for the first message, if any, are shown before it
                # is queued; without any it is queued at once. One transaction either way.
                articles = await self._articles_for(text)
                where = place(self.placement, channel=Channel.CHAT, text=text)
                stored = await self.service.start(
                    customer_id,
                    Channel.CHAT,
                    text,
                    queue=where.queue,
                    priority=where.priority,
                    suggested=[a["id"] for a in articles],
                )
                interaction = stored.interaction
                if articles:
                    deflecting = True
                    await self.emit(
                        "articles",
                        {"interaction_id": interaction.id, "articles": articles},
                        room=customer_room(customer_id),
                    )
            else:
                stored = await self.service.inbound(interaction.id, text)
                # Any further message while articles are shown ("I still need help") goes
                # to the queue.
                if interaction.state is InteractionState.NEW:
                    await self.service.enqueue(interaction.id)
        except (PayloadError, InteractionError) as exc:
            return await self._refuse(sid, "message", exc)
        return {
            "ok": True,
            "message_id": stored.message.id,
            "interaction_id": interaction.id,
            "deflecting": deflecting,
        }

    async def _articles_for(self, text: str) -> list[dict[str, Any]]:
        if self.suggest is None:
            return []
        try:
            return await self.suggest(text)
        except Exception:  # the knowledge base must never stop a customer reaching us
            log.exception("suggestions failed; queueing directly")
            return []

    async def on_escalate(self, sid: str, data: Any = None) -> dict[str, Any]:
        customer_id = (await self.get_session(sid))["customer_id"]
        interaction, _ = await self._open_chat(customer_id, with_messages=False)
        if interaction is None or interaction.state is not InteractionState.NEW:
            return {"ok": True, "queued": False}
        try:
            position = await self.service.enqueue(interaction.id)
        except InteractionError as exc:
            return await self._refuse(sid, "escalate", exc)
        return {"ok": True, "queued": True, "position": position}

    async def on_article_opened(self, sid: str, data: Any = None) -> dict[str, Any]:
        try:
            article_id = id_field(as_dict(data), "article_id")
            customer_id = (await self.get_session(sid))["customer_id"]
            interaction, _ = await self._open_chat(customer_id, with_messages=False)
            if interaction is None:
                raise PayloadError("no_chat", "there is no open chat")
            await self.service.article_viewed(interaction.id, article_id)
        except (PayloadError, InteractionError) as exc:
            return await self._refuse(sid, "article_opened", exc)
        return {"ok": True}

    async def on_typing(self, sid: str, data: Any = None) -> dict[str, Any]:
        customer_id = (await self.get_session(sid))["customer_id"]
        interaction, _ = await self._open_chat(customer_id, with_messages=False)
        if interaction is not None and interaction.agent_id is not None:
            await self.service.bus.to_agent(
                interaction.agent_id,
                AgentNotice.CUSTOMER_TYPING,
                {"interaction_id": interaction.id},
            )
        return {"ok": True}

    async def on_leave(self, sid: str, data: Any = None) -> dict[str, Any]:
        customer_id = (await self.get_session(sid))["customer_id"]
        interaction, _ = await self._open_chat(customer_id, with_messages=False)
        if interaction is None:
            return {"ok": True}
        try:
            await self.service.customer_gone(interaction.id)
        except InteractionError as exc:
            return await self._refuse(sid, "leave", exc)
        return {"ok": True, "interaction_id": interaction.id}

    # -- helpers ---------------------------------------------------------------------------

    async def _open_chat(
        self, customer_id: int, *, with_messages: bool = True
    ) -> tuple[Interaction | None, list[Message]]:
        t = rows.INTERACTIONS  # (Core: every customer message asks this; see rows.py)
        async with self.db.read_step() as c:
            row = (
                await c.execute(
                    select(t)
                    .where(
                        t.c.customer_id == customer_id,
                        t.c.channel == Channel.CHAT,
                        t.c.ended_at.is_(None),
                    )
                    .order_by(t.c.id.desc())
                    .limit(1)
                )
            ).first()
            interaction = None if row is None else rows.as_interaction(row)
            if interaction is None or not interaction.state.is_open or not with_messages:
                return (interaction if interaction and interaction.state.is_open else None), []
            messages = await rows.messages(c, interaction.id)
        return interaction, messages

    async def _refuse(
        self, sid: str, event: str, exc: PayloadError | InteractionError
    ) -> dict[str, Any]:
        payload = error_payload(event, exc.code, str(exc))
        await self.emit("error", payload, to=sid)
        return payload
