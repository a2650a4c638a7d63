"""The supervisor's live statistics: REST reads and the socket.io namespace ``/supervisor``.

REST (supervisor or admin; 401/403 JSON otherwise):
  GET /api/supervisor/stats   {at_ms, queues: [per queue and channel, see center.reports.stats]}
  GET /api/supervisor/agents  {at_ms, agents: [presence, away reason, time in state, load]}

Socket.io ``/supervisor``: the login cookie authenticates as on ``/agent``; anyone but a
supervisor or admin is refused at connect. Server -> client: ``stats`` {at_ms, queues,
agents}, once at connect (the current snapshot, so a new console is not blank) and then at
most once a second to the room of all supervisors.

Many processes may serve supervisors: each second, only the process that takes the Redis
lock ``stats_lock`` computes the snapshot, and it emits to the room through the
AsyncRedisManager, so supervisors connected to every process get the same push.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from center.agent_ui import queues_api
from center.agent_ui.auth import require_user
from center.agent_ui.console_sockets import ConsoleSockets
from center.appkeys import DB, QUEUE_CONFIG, ROUTER, STATS
from center.loops import Backoff, pause
from center.notices import SUPERVISOR_NAMESPACE, SUPERVISORS_ROOM
from center.queue.keys import Keys
from center.records.db import Database
from center.records.enums import Role
from center.reports.stats import Snapshot
from center.sockets import Namespace

log = logging.getLogger(__name__)
ROOM = SUPERVISORS_ROOM
SUPERVISOR_ROLES = (Role.SUPERVISOR, Role.ADMIN)
# The lock is first taken for this long (a snapshot takes milliseconds; this only bounds a
# stalled process), then re-armed for one interval from the moment of the push: pushes are
# at least an interval apart however long each computation took.
COMPUTE_BUDGET_MS = 5_000
routes = web.RouteTableDef()

SnapshotSource = Callable[[], Awaitable[Snapshot]]


def snapshot_source(app: web.Application) -> SnapshotSource:
    """The current snapshot for this app: queues in effect (file + database), router clock."""

    async def current() -> Snapshot:
        defs = await queues_api.effective(app[DB], app[QUEUE_CONFIG])
        return await app[STATS].snapshot(defs, app[ROUTER].clock.now_ms())

    return current


@routes.get("/api/supervisor/stats")
async def stats(request: web.Request) -> web.Response:
    await require_user(request, *SUPERVISOR_ROLES)
    snap = (await snapshot_source(request.app)()).json()
    return web.json_response({"at_ms": snap["at_ms"], "queues": snap["queues"]})


@routes.get("/api/supervisor/agents")
async def agents(request: web.Request) -> web.Response:
    await require_user(request, *SUPERVISOR_ROLES)
    snap = (await snapshot_source(request.app)()).json()
    return web.json_response({"at_ms": snap["at_ms"], "agents": snap["agents"]})


class SupervisorNamespace(Namespace):
    def __init__(
        self,
        snapshot: SnapshotSource,
        db: Database,
        redis: Redis,
        keys: Keys,
        *,
        sockets: ConsoleSockets,
        interval_s: float = 1.0,
    ) -> None:
        super().__init__(SUPERVISOR_NAMESPACE)
        self.sockets = sockets
        self.snapshot = snapshot
        self.db = db
        self.redis = redis
        self.keys = keys
        self.interval_s = interval_s
        self._token = secrets.token_hex(8)  # names this process as the lock's holder
        self._local: set[str] = set()  # supervisors' sockets on this process
        self._publisher: asyncio.Task[None] | None = None
        # The last snapshot this process computed, and when (loop time): a console that
        # connects within the interval gets it instead of a computation of its own, so a
        # wave of reconnects after a deploy does not compute once per console.
        self._last: tuple[float, dict[str, Any]] | None = None

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        # Our pages only, a live session of a supervisor; ended at logout.
        user = await self.sockets.admit(sid, self.namespace, environ, *SUPERVISOR_ROLES)
        snap = await self._recent()  # (first: a failure here leaves nothing to undo)
        await self.save_session(sid, {"user_id": user.id})
        await self.enter_room(sid, ROOM)
        self._local.add(sid)
        self._start()
        await self.emit("stats", snap, to=sid)

    async def on_disconnect(self, sid: str, *_reason: Any) -> None:
        self._local.discard(sid)

    async def _recent(self) -> dict[str, Any]:
        now = asyncio.get_running_loop().time()
        if self._last is None or now - self._last[0] >= self.interval_s:
            self._last = (now, (await self.snapshot()).json())
        return self._last[1]

    def _start(self) -> None:
        # Started by the first supervisor on this process; idles while none is connected.
        if self._publisher is None or self._publisher.done():
            self._publisher = asyncio.create_task(self._publish(), name="supervisor-stats")

    async def close(self) -> None:
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher
            self._publisher = None

    async def _publish(self) -> None:
        # Polls the lock four times an interval, so a push follows soon after the window
        # reopens without any process waiting on another. A failure (Redis away) slows the
        # polls down until a push works again; it never ends the loop.
        backoff = Backoff("supervisor statistics push")
        while True:
            await pause(max(self.interval_s / 4, backoff.delay))
            if not self._local:
                continue
            try:
                await self.publish_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                backoff.failed(exc)
            else:
                backoff.succeeded()

    async def publish_once(self) -> bool:
        """Compute and push to every supervisor, unless a process did so this interval."""
        lock = self.keys.stats_lock
        if not await self.redis.set(lock, self._token, nx=True, px=COMPUTE_BUDGET_MS):
            return False
        try:
            snap = (await self.snapshot()).json()
            self._last = (asyncio.get_running_loop().time(), snap)
            await self.emit("stats", snap, room=ROOM)
        finally:
            await self.redis.pexpire(lock, max(1, int(self.interval_s * 1000)))
        return True
