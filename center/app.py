"""The aiohttp application factory: wires every component; socket.io attached.

Resources live in ``cleanup_ctx`` so that start-up and shutdown happen in order and once:
database (migrated), Redis, the router's background loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import web

from center import fastjson, loops, sockets
from center.agent_ui import api as agent_api
from center.agent_ui import auth, history_api, queues_api, supervisor
from center.agent_ui.assist import Assist
from center.agent_ui.console_sockets import ConsoleSockets
from center.agent_ui.login_limits import LOGIN_LIMITS, LoginLimits
from center.agent_ui.namespace import AgentNamespace
from center.appkeys import DB, QUEUE_CONFIG, REDIS, ROUTER, SERVICE, SETTINGS, SIO, STATS
from center.channels.email import web as email_web
from center.channels.sms import setup as sms_setup
from center.channels.twilio.setup import setup as twilio_setup
from center.channels.voice.setup import setup as voice_setup
from center.channels.webchat import ChatNamespace, WebChatAdapter
from center.config import Settings
from center.errors import json_errors
from center.headers import install as install_headers
from center.interactions import InteractionService
from center.knowledge_base import web as kb_web
from center.liveness import Liveness
from center.notices import AgentBus
from center.queue import config as queue_config
from center.queue.keys import Keys
from center.queue.router import Router, RouterOptions
from center.records.db import Database
from center.redisconn import (
    CLIENT_OPTIONS,
    EmbeddedRedis,
    EmbeddedRedisError,
    PoolOptions,
    client,
    start_embedded,
)
from center.reports.stats import StatsService
from center.security import OriginPolicy
from center.tickets import web as tickets_web

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "agent_ui" / "static"
EMBEDDED = web.AppKey("embedded_redis", EmbeddedRedis)
NAMESPACES = web.AppKey("namespaces", list)
LIVENESS = web.AppKey("liveness", Liveness)
# The connections upgraded to a websocket (socket.io), to close at shutdown.
WEBSOCKETS = web.AppKey("websockets", weakref.WeakSet)


async def create_app(settings: Settings | None = None) -> web.Application:
    settings = settings or Settings()
    try:
        queues = await queue_config.load(settings.queues_file)
    except queue_config.ConfigError as exc:
        # Refuse to start on a bad queue file, before anything is started: the message
        # names the file and line; exit code 2 like a usage error.
        print(f"center: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    origins = OriginPolicy.from_settings(settings)
    # Cross-site state changes refused on every REST route (center/security.py).
    app = web.Application(client_max_size=2 * 1024 * 1024, middlewares=[origins.middleware()])
    app.middlewares.insert(0, json_errors)  # outermost: it answers for all the others
    app[SETTINGS] = settings
    app[QUEUE_CONFIG] = queues

    redis_url = settings.redis_url
    if not redis_url:
        try:
            embedded = await start_embedded(
                settings.data_dir / "redis" / "center.rdb", settings.redis_server
            )
        except EmbeddedRedisError as exc:
            print(f"center: {exc}", file=sys.stderr)  # one line: what to install or set
            raise SystemExit(2) from exc
        app[EMBEDDED] = embedded
        redis_url = embedded.url

    keys = Keys(settings.redis_prefix)
    db = Database(settings.resolved_database_url, schema=settings.database_schema or None)
    pool = PoolOptions.from_settings(settings)
    redis = client(redis_url, pool, decode_responses=True)
    sio = sockets.Server(
        async_mode="aiohttp",
        client_manager=sockets.RedisManager(
            redis_url,
            channel=keys.socketio_channel,
            publisher=redis,
            redis_options={**CLIENT_OPTIONS, "socket_connect_timeout": pool.connect_timeout_s},
        ),
        # ([] would switch socket.io's Origin check off.) Consoles' and widget's origins;
        # the console namespaces narrow it to the consoles' (ConsoleSockets.admit).
        cors_allowed_origins=origins.allows_socket,
        max_http_buffer_size=256 * 1024,
        handler_timeout_s=settings.socket_handler_timeout_s,
        json=fastjson,  # every packet in and out, and the Redis fan-out, through orjson
    )
    router = Router(
        redis,
        keys,
        options=RouterOptions(
            offer_timeout_ms=int(settings.offer_timeout_s * 1000),
            max_missed=settings.max_missed_offers,
            sweep_interval_s=settings.sweep_interval_s,
            wrap_up_ms=int(settings.wrap_up_s * 1000),
        ),
    )
    service = InteractionService(db, router, AgentBus(sio))
    service.register(WebChatAdapter(sio, redis, keys))
    # Knowledge base in conversations: deflection before queueing, suggestions for agents.
    assist = Assist(db, service.bus)
    service.listeners.append(assist.for_agent)
    liveness = Liveness(redis, keys, ttl_s=settings.heartbeat_ttl_s)
    console_sockets = ConsoleSockets(
        sio,
        db,
        redis,
        keys,
        origins,
        session_ttl_s=settings.session_ttl_hours * 3600,
        check_interval_s=settings.session_check_interval_s,
    )
    liveness.on_peer_lost.append(service.reconcile)
    namespaces = [
        ChatNamespace(
            service,
            redis,
            keys,
            settings,
            liveness,
            suggest=assist.for_customer,
            placement=queues.rules,
        ),
        AgentNamespace(
            service, redis, keys, settings, liveness, assist=assist, sockets=console_sockets
        ),
        supervisor.SupervisorNamespace(
            supervisor.snapshot_source(app), db, redis, keys, sockets=console_sockets
        ),
    ]
    for ns in namespaces:
        sio.register_namespace(ns)
    sio.attach(app)

    app[DB], app[REDIS], app[SIO], app[ROUTER], app[SERVICE] = db, redis, sio, router, service
    app[NAMESPACES] = namespaces
    app[LIVENESS] = liveness
    app[auth.CONSOLE_SOCKETS] = console_sockets
    app[LOGIN_LIMITS] = LoginLimits(redis, keys, settings)
    # (Reading the zone's file off the event loop.)
    zone = await asyncio.to_thread(ZoneInfo, settings.timezone)
    app[STATS] = StatsService(db, redis, keys, zone=zone)
    app.cleanup_ctx.append(_resources)
    app[WEBSOCKETS] = weakref.WeakSet()
    app.on_response_prepare.append(_track_websocket)
    app.on_shutdown.append(_close_sockets)
    app.add_routes(auth.routes)
    app.add_routes(agent_api.routes)
    app.add_routes(queues_api.routes)
    app.add_routes(supervisor.routes)
    app.add_routes(history_api.routes)
    # Twilio (center/channels/twilio/): settings, webhook validator, the REST client; SMS.
    twilio_setup(app, settings)
    sms_setup(app, settings, service, queues.rules)
    # Voice (center/channels/voice/): the IVR, call webhooks, the /voice namespace.
    await voice_setup(
        app, settings, service=service, sio=sio, keys=keys, sockets=console_sockets, queues=queues
    )
    kb_web.setup(app)
    tickets_web.setup(app)  # tickets, the outbox worker, the SLA loop (issue 11)
    email_web.setup(app)  # the email channel: SMTP listener, IMAP, replies (issue 11)
    app.add_routes(_pages)
    _add_static(app)
    install_headers(app)
    return app


def _add_static(app: web.Application) -> None:
    # aiohttp resolves the directory on disk once, at start-up.
    app.router.add_static("/static", STATIC, name="static")


async def _resources(app: web.Application) -> AsyncIterator[None]:
    db, redis, router, service = app[DB], app[REDIS], app[ROUTER], app[SERVICE]
    await db.migrate()
    await redis.ping()
    # File queues with the database's over them, before waiting work is re-queued.
    await queues_api.apply(app)
    restored = await service.recover()
    if restored:
        log.info("re-queued %d waiting interactions from the database", restored)
    liveness = app[LIVENESS]
    tasks = [
        asyncio.create_task(router.run(), name="router-loop"),
        asyncio.create_task(liveness.run(), name="liveness"),
        asyncio.create_task(app[auth.CONSOLE_SOCKETS].run(), name="console-sessions"),
    ]
    if app[SETTINGS].reconcile_interval_s > 0:
        audit = service.audit_forever(
            app[SETTINGS].reconcile_interval_s, app[SETTINGS].reconcile_missing_after_s
        )
        tasks.append(asyncio.create_task(audit, name="reconcile"))
    yield
    await loops.cancel_all(tasks)
    await liveness.stop()
    await service.followups.aclose()
    for ns in app[NAMESPACES]:
        await ns.settle_overdue()
        if isinstance(ns, supervisor.SupervisorNamespace):  # its publisher; the others'
            await ns.close()  # grace checks were liveness tasks, stopped above
    await redis.aclose()
    await db.dispose()
    embedded = app.get(EMBEDDED)
    if embedded is not None:
        await asyncio.to_thread(embedded.stop)


async def _track_websocket(request: web.Request, response: web.StreamResponse) -> None:
    if isinstance(response, web.WebSocketResponse) and request.transport is not None:
        request.app[WEBSOCKETS].add(request.transport)


async def _close_sockets(app: web.Application) -> None:
    """Close every socket.io connection at shutdown; the clients reconnect to another
    process behind the load balancer.

    Saying goodbye is not enough: aiohttp stops reading from every connection before this
    runs (its pre-shutdown), so a websocket's closing handshake never completes and its
    handler held the shutdown for the whole shutdown timeout (aiohttp's default: 60 s).
    Once socket.io has sent its close packets, the transports are closed outright; the
    closes are handed to the process's peers wholesale (``Liveness.leave``)."""
    await app[LIVENESS].leave()
    sio = app[SIO]
    if sio.eio.sockets:
        await sio.eio.disconnect()
    for transport in list(app[WEBSOCKETS]):
        transport.close()
    await sio.shutdown()
    # socket.io's pub/sub listener would otherwise retry (and log) against the Redis that
    # the cleanup below closes.
    if isinstance(sio.manager, sockets.RedisManager):
        await sio.manager.stop_counting()
    listener = getattr(sio.manager, "thread", None)
    if isinstance(listener, asyncio.Task):
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
    listening = getattr(sio.manager, "redis", None)
    if listening is not None:
        with contextlib.suppress(Exception):  # (closing: nothing to do if it fails)
            await listening.aclose()


_pages = web.RouteTableDef()


def _page(name: str) -> web.FileResponse:
    return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})


@_pages.get("/")
async def index(_request: web.Request) -> web.Response:
    raise web.HTTPFound("/agent")


@_pages.get("/agent")
async def agent_page(_request: web.Request) -> web.FileResponse:
    return _page("agent.html")


@_pages.get("/supervisor")
async def supervisor_page(_request: web.Request) -> web.FileResponse:
    return _page("supervisor.html")


@_pages.get("/chat")
async def chat_page(_request: web.Request) -> web.FileResponse:
    return _page("chat.html")


@_pages.get("/healthz")
async def health(request: web.Request) -> web.Response:
    await request.app[REDIS].ping()
    return web.json_response({"ok": True})
