"""Wiring voice into the app: the IVR file, the call services, the adapter, routes, socket."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import socketio
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from center.agent_ui.console_sockets import ConsoleSockets
from center.channels.base import CustomerNotice
from center.channels.twilio import TWILIO_SETTINGS
from center.channels.twilio import setup as twilio_setup
from center.channels.voice import ivr_config, store
from center.channels.voice.bridge import Bridge, VoiceError
from center.channels.voice.calls import VoiceCalls
from center.channels.voice.lifecycle import Lifecycle, TicketMaker
from center.channels.voice.namespace import SUPERVISORS, VOICE_NAMESPACE, VoiceNamespace
from center.channels.voice.web import BRIDGE, CALLS, LIFECYCLE, routes
from center.config import Settings
from center.interactions import InteractionService
from center.knowledge_base.search import answer as kb_answer
from center.loops import cancel_all
from center.notices import agent_room
from center.outbox import Item, OutboxKind, register_sender
from center.queue.config import ConfigError, QueueConfig
from center.queue.keys import Keys
from center.records import users
from center.records.enums import AwayReason, Channel, Presence
from center.records.models import Interaction, Message, VoiceCall, VoiceLeg
from center.tickets.service import CUSTOMER
from center.tickets.web import OUTBOX_WORKER, TICKETS

log = logging.getLogger(__name__)


async def _quietly(step: Awaitable[None]) -> None:
    """A background REST step whose failure the bridge has already logged and told."""
    try:
        await step
    except VoiceError as exc:
        log.info("background call step: %s", exc)


class CallbackSender:
    """The outbox's sender of calls: a callback's outbound call (placed at most once)."""

    idempotent = False  # (Twilio does not dedupe call creation)

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge

    async def send(self, item: Item) -> dict[str, Any]:
        return await self.bridge.place_callback(item.payload)


class VoiceAdapter:
    """The interaction service's port to a call: an agent joined -> bridge; closed with
    the call still connected -> end it."""

    channel = Channel.VOICE

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge

    async def deliver(self, interaction: Interaction, message: Message, agent_name: str) -> None:
        # (A line typed in a call's pane is the agent's note: stored, nothing to send.)
        return None

    async def notify(
        self, interaction: Interaction, notice: CustomerNotice, data: dict[str, Any]
    ) -> None:
        if notice is CustomerNotice.AGENT_JOINED:
            self.bridge.assigned(interaction)
        elif notice is CustomerNotice.CLOSED:
            self.bridge.background(self._end(interaction), f"end-{interaction.id}")

    async def _end(self, i: Interaction) -> None:
        async with self.bridge.db.read_step() as c:
            call = await store.call_for_interaction(c, i.id)
        if call is not None and call.stage == store.Stage.BRIDGED.value:
            try:
                await self.bridge.end(call, i)
            except Exception as exc:  # (told to the agent by the bridge already)
                log.info("ending closed call %s: %s", i.id, exc)


async def setup(
    app: web.Application,
    settings: Settings,
    *,
    service: InteractionService,
    sio: socketio.AsyncServer,
    keys: Keys,
    sockets: ConsoleSockets,
    queues: QueueConfig,
    make_ticket: TicketMaker | None = None,
) -> None:
    """Load ``CENTER_IVR_FILE`` (a bad file stops the start, naming file:line, exit 2)."""
    try:
        ivr = await ivr_config.load(
            settings.ivr_file,
            queues=queues.names(),
            skills=queues.skills,
            zone=settings.timezone,
        )
    except ConfigError as exc:
        print(f"center: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    rest = twilio_setup(app, settings)
    db = service.db

    async def answer(question: str, locale: str | None) -> tuple[int, str, float] | None:
        found = await kb_answer(db, question, locale=locale)
        if found is None:
            return None
        return found.article_id, found.text, found.confidence

    async def emit(call: VoiceCall, i: Interaction, event: str, data: dict[str, Any]) -> None:
        payload = {"interaction_id": i.id, **data}
        if i.agent_id is not None:
            await sio.emit(event, payload, room=agent_room(i.agent_id), namespace=VOICE_NAMESPACE)
        await sio.emit(event, payload, room=SUPERVISORS, namespace=VOICE_NAMESPACE)

    async def voicemail_ticket(
        conn: AsyncConnection, call: VoiceCall, i: Interaction, m: Message
    ) -> int | None:
        """A voicemail is a ticket (the tickets desk's service, issue 11), in the step that
        records it: created with the call attached, the message as the customer's."""
        tickets = app.get(TICKETS)
        if tickets is None:
            return None
        t = await tickets.create(
            conn,
            customer_id=i.customer_id,
            subject=f"Voicemail from {call.from_number}",
            queue=i.queue,
            interaction_id=i.id,
            actor=CUSTOMER,
        )
        await tickets.customer_message(conn, t.id, message_id=m.id, interaction_id=i.id)
        return t.id

    calls = VoiceCalls(service, keys, ivr, answer=answer)
    lifecycle = Lifecycle(calls)
    lifecycle.make_ticket = make_ticket or voicemail_ticket
    bridge = Bridge(db, rest, app[TWILIO_SETTINGS], ivr, emit)

    async def changed(call: VoiceCall, i: Interaction) -> None:
        await emit(call, i, "call", await bridge.state(i.id))

    lifecycle.notify = changed

    async def agent_leg_ended(leg: VoiceLeg, call: VoiceCall, i: Interaction) -> None:
        if call.stage != store.Stage.BRIDGED.value or leg.user_id is None:
            return
        if leg.status == "completed":
            # The agent hung up their phone: the call is over for the caller too (the
            # survey), unless another agent's leg is still on it.
            async with db.read_step() as c:
                legs = await store.legs(c, call.id)
            others = [
                x for x in legs if x.role == store.Role.AGENT.value and x.id != leg.id
                and x.ended_at is None
            ]  # fmt: skip
            if not others:
                bridge.background(_quietly(bridge.end(call, i)), f"end-{i.id}")
            return
        agent = await users.get_user(db, leg.user_id)
        if agent is None:
            return

        failed = leg.status == "failed"  # (Twilio refused the dial, or the number)
        why = "your phone could not be reached" if failed else "your phone did not answer"
        reason = AwayReason.PHONE_UNREACHABLE if failed else AwayReason.PHONE_NOT_ANSWERED
        set_away = (await service.router.presences([agent.id])) == [Presence.AVAILABLE]

        async def transfer() -> None:
            # Away first (redirect on no answer): freed by the transfer, an available
            # agent would be offered this call, or the next, on the same silent phone. An
            # agent who chose away, or went offline, keeps their choice.
            if set_away:
                await service.set_presence(agent, Presence.AWAY, reason.value)
            await service.transfer(agent, i.id, to_queue=i.queue)

        then = "; you are away until you choose Available" if set_away else ""
        requeue = bridge.requeue_unanswered(agent, i.id, transfer, why=why, then=then)
        bridge.background(requeue, f"requeue-{i.id}")

    lifecycle.agent_leg_ended = agent_leg_ended
    bridge.leg_failed = agent_leg_ended  # (a dial Twilio refused: as a leg never answered)
    service.register(VoiceAdapter(bridge))
    register_sender(app, OutboxKind.CALL, CallbackSender(bridge))

    def wake() -> None:
        worker = app.get(OUTBOX_WORKER)
        if worker is not None:
            worker.wake()

    bridge.wake = wake
    sio.register_namespace(VoiceNamespace(service, bridge, sockets=sockets))
    app[CALLS], app[LIFECYCLE], app[BRIDGE] = calls, lifecycle, bridge
    app.add_routes(routes)

    async def settle(_app: web.Application) -> AsyncIterator[None]:
        # (After the database is migrated: the sweep at start dials what a stopped
        # process owed.)
        sweep = asyncio.create_task(bridge.run(settings.voice_bridge_check_s), name="owed-bridges")
        yield
        await cancel_all([sweep])
        await bridge.settle()

    app.cleanup_ctx.append(settle)
