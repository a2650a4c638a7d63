"""Web chat: the customer's socket.io namespace ``/chat`` and its channel adapter.

Protocol (client -> server, all acknowledged with ``{"ok": true, ...}`` or an error):
  connect  auth {token?, name?, email?,    -> server emits ``welcome`` {token, customer_id,
                 identity_hash?}               interaction? {id, state, agent, position},
                                               messages[], transcript[]}
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

A returning visitor presents their token and is the same customer; an e-mail is only a
claim unless the host site signed it (chat_identity.py). ``transcript`` is what the widget
showed live (chat_transcript.py), so a reload looks the same. A customer whose chat
connections have all closed for ``chat_abandon_grace_s`` has left: abandoned while waiting,
otherwise the agent is told. Once they have left, that chat is no longer theirs to write in
(a new message starts a new chat).
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

from center.channels import chat_identity, chat_transcript
from center.channels.base import CustomerNotice
from center.channels.validation import PayloadError, error_payload
from center.config import Settings
from center.interactions import InteractionError, InteractionService, message_json, rows
from center.liveness import Liveness, Owner
from center.notices import AgentNotice
from center.payloads import ArticleOpened, ChatMessage, NoArguments, parse
from center.queue.keys import Keys
from center.queue.placement import PlacementRules, place
from center.records import customers
from center.records.enums import Channel, IdentityKind, InteractionState
from center.records.events import EventType
from center.records.models import Customer, Event, Interaction, Message
from center.sockets import Namespace

log = logging.getLogger(__name__)
NAMESPACE = "/chat"
# Free text -> suggested articles ({id, title, url, answer}); empty when none fit.
SuggestFn = Callable[[str], Awaitable[list[dict[str, Any]]]]


def customer_room(customer_id: int) -> str:
    return f"customer:{customer_id}"


class WebChatAdapter:
    channel = Channel.CHAT

    def __init__(
        self, sio: socketio.AsyncServer, redis: Redis | None = None, keys: Keys | None = None
    ) -> None:
        self.sio = sio
        self.redis = redis
        self.keys = keys

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
        if notice is CustomerNotice.QUEUED and self.redis is not None and self.keys is not None:
            # For a reload's transcript (the record never learns the position).
            position = data.get("position")
            if isinstance(position, int):
                await chat_transcript.remember_position(
                    self.redis, self.keys, interaction.id, position
                )
        await self.sio.emit(
            notice.value, data, room=customer_room(interaction.customer_id), namespace=NAMESPACE
        )


class ChatNamespace(Namespace):
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
        try:
            who = chat_identity.from_auth(
                auth,
                secret=self.settings.chat_identity_secret.get_secret_value(),
                max_name_chars=self.settings.max_name_chars,
            )
            customer, token = await self._resolve(who)
        except (chat_identity.RefusedIdentity, customers.InvalidIdentity) as exc:
            raise ConnectionRefusedError(str(exc)) from None
        await self.save_session(sid, {"customer_id": customer.id})
        await self.enter_room(sid, customer_room(customer.id))
        await self.liveness.connected(Owner.CHAT, customer.id, sid)
        await self.emit("welcome", await self._welcome(customer.id, token), to=sid)

    async def _resolve(self, who: chat_identity.VisitorIdentities) -> tuple[Customer, str]:
        """The customer, and the visitor token this browser keeps from now on."""
        found = await customers.resolve_detailed(
            self.db, who.verified, claimed=who.claimed, display_name=who.name, via="chat"
        )
        if IdentityKind.CHAT_VISITOR in found.conflicts:
            # The host site vouched for someone other than this browser's token's owner
            # (another user signed in on it): this browser gets a token of the signed-in
            # customer's, and the old one stays with its owner.
            who = who.with_token(secrets.token_urlsafe(24))
            found = await customers.resolve_detailed(
                self.db, who.verified, claimed=who.claimed, display_name=who.name, via="chat"
            )
        return found.customer, who.token

    async def _welcome(self, customer_id: int, token: str) -> dict[str, Any]:
        interaction = await self._open_chat(customer_id)
        body: dict[str, Any] = {"token": token, "customer_id": customer_id}
        if interaction is None:
            return {**body, "interaction": None, "messages": [], "transcript": []}
        told = await chat_transcript.told_positions(self.redis, self.keys, interaction.id)
        async with self.db.read() as s:
            summary, messages, entries = await chat_transcript.build(s, interaction, told)
        return {
            **body,
            "interaction": summary,
            "messages": [message_json(m) for m in messages],
            "transcript": entries,
        }

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
        interaction = await self._open_chat(customer_id)
        if interaction is not None:
            with contextlib.suppress(InteractionError):
                await self.service.customer_gone(interaction.id)
        await self.liveness.settled(Owner.CHAT, customer_id)

    # -- events ----------------------------------------------------------------------------

    async def on_message(self, sid: str, data: Any = None) -> dict[str, Any]:
        deflecting = False
        try:
            text = parse(ChatMessage, data, max_chars=self.settings.max_message_chars).text
            customer_id = (await self.get_session(sid))["customer_id"]
            # Into the open chat, found in the step that stores the message; else a new one.
            stored = await self.service.inbound_open(customer_id, Channel.CHAT, text)
            if stored is None:
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
                interaction = stored.interaction
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
        if (refused := await self._no_arguments(sid, "escalate", data)) is not None:
            return refused
        customer_id = (await self.get_session(sid))["customer_id"]
        interaction = await self._open_chat(customer_id)
        if interaction is None or interaction.state is not InteractionState.NEW:
            return {"ok": True, "queued": False}
        try:
            position = await self.service.enqueue(interaction.id)
        except InteractionError as exc:
            return await self._refuse(sid, "escalate", exc)
        return {"ok": True, "queued": True, "position": position}

    async def on_article_opened(self, sid: str, data: Any = None) -> dict[str, Any]:
        try:
            article_id = parse(ArticleOpened, data).article_id
            customer_id = (await self.get_session(sid))["customer_id"]
            interaction = await self._open_chat(customer_id)
            if interaction is None:
                raise PayloadError("no_chat", "there is no open chat")
            # Only what this chat was shown: any other id would count as self-service
            # that never happened (the deflection figures).
            if article_id not in await self._suggested(interaction.id):
                raise PayloadError("not_found", f"article {article_id} was not suggested here")
            await self.service.article_viewed(interaction.id, article_id)
        except (PayloadError, InteractionError) as exc:
            return await self._refuse(sid, "article_opened", exc)
        return {"ok": True}

    async def on_typing(self, sid: str, data: Any = None) -> dict[str, Any]:
        if (refused := await self._no_arguments(sid, "typing", data)) is not None:
            return refused
        customer_id = (await self.get_session(sid))["customer_id"]
        interaction = await self._open_chat(customer_id)
        if interaction is not None and interaction.agent_id is not None:
            await self.service.bus.to_agent(
                interaction.agent_id,
                AgentNotice.CUSTOMER_TYPING,
                {"interaction_id": interaction.id},
            )
        return {"ok": True}

    async def on_leave(self, sid: str, data: Any = None) -> dict[str, Any]:
        if (refused := await self._no_arguments(sid, "leave", data)) is not None:
            return refused
        customer_id = (await self.get_session(sid))["customer_id"]
        interaction = await self._open_chat(customer_id)
        if interaction is None:
            return {"ok": True}
        try:
            await self.service.customer_gone(interaction.id)
        except InteractionError as exc:
            return await self._refuse(sid, "leave", exc)
        return {"ok": True, "interaction_id": interaction.id}

    # -- helpers ---------------------------------------------------------------------------

    async def _open_chat(self, customer_id: int) -> Interaction | None:
        """The customer's open chat, if any (one they have left is not theirs any more)."""
        async with self.db.read_step() as c:
            return await rows.open_conversation(c, customer_id, Channel.CHAT)

    async def _no_arguments(self, sid: str, event: str, data: Any) -> dict[str, Any] | None:
        """The refusal for a payload of an event that takes none (an object or nothing)."""
        try:
            parse(NoArguments, data)
        except PayloadError as exc:
            return await self._refuse(sid, event, exc)
        return None

    async def _suggested(self, interaction_id: int) -> set[int]:
        async with self.db.read() as s:
            rows = await s.scalars(
                select(Event.data).where(
                    Event.interaction_id == interaction_id,
                    Event.type == EventType.ARTICLE_SUGGESTED.value,
                )
            )
            return {int(i) for data in rows for i in data.get("article_ids", [])}

    async def _refuse(
        self, sid: str, event: str, exc: PayloadError | InteractionError
    ) -> dict[str, Any]:
        payload = error_payload(event, exc.code, str(exc))
        await self.emit("error", payload, to=sid)
        return payload
