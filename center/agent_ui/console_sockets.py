"""Console sockets (``/agent``, ``/supervisor``) tied to the login session they opened with.

A socket is authenticated once, at connect, by the cookie; without this it would outlive
the session: still changing presence after ``POST /api/logout``, still receiving offers and
statistics after the user was deactivated. So:

- each socket is recorded in Redis under its user as ``<session key>|<namespace>|<sid>``
  (``Keys.user_sockets``); logging out disconnects that session's sockets through
  ``sio.disconnect``, which the AsyncRedisManager relays to whichever process holds them;
- each process also re-checks, every ``session_check_interval_s``, the sessions of the
  sockets it holds, and disconnects those whose session ended any other way: expired, the
  user deactivated (``users.deactivate_user``, from any process or tool), or a logout whose
  relayed disconnect was lost (pub/sub is fire-and-forget).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import socketio
from redis.asyncio import Redis

from center.agent_ui.auth import token_from_cookie_header
from center.loops import pause, stopping
from center.queue.keys import Keys
from center.records import users
from center.records.db import Database
from center.records.enums import Role
from center.records.models import User
from center.security import OriginPolicy

log = logging.getLogger(__name__)


class ConsoleSockets:
    def __init__(
        self,
        sio: socketio.AsyncServer,
        db: Database,
        redis: Redis,
        keys: Keys,
        origins: OriginPolicy,
        *,
        session_ttl_s: float,
        check_interval_s: float,
    ) -> None:
        self.sio = sio
        self.db = db
        self.redis = redis
        self.keys = keys
        self.origins = origins
        self.session_ttl_s = session_ttl_s
        self.check_interval_s = check_interval_s
        # This process's console sockets: (namespace, sid) -> session key.
        self._local: dict[tuple[str, str], str] = {}

    async def admit(self, sid: str, namespace: str, environ: dict[str, Any], *roles: Role) -> User:
        """The user a console socket belongs to, recorded under its session; or
        ConnectionRefusedError (another site's page, no login, the wrong role)."""
        if not self.origins.console_environ(environ):
            raise ConnectionRefusedError("cross-site connection refused")
        token = token_from_cookie_header(environ.get("HTTP_COOKIE"))
        user = await users.user_for_token(self.db, token)
        if user is None or token is None:
            raise ConnectionRefusedError("login required")
        if roles and user.role not in roles:
            raise ConnectionRefusedError("not allowed for your role")
        key = users.session_key(token)
        self._local[(namespace, sid)] = key
        member = f"{key}|{namespace}|{sid}"
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.sadd(self.keys.user_sockets(user.id), member)
            # Bounded by the longest a session lives; members of closed sockets go with it.
            pipe.expire(self.keys.user_sockets(user.id), int(self.session_ttl_s) + 60)
            await pipe.execute()
        return user

    async def end_session(self, user_id: int, session: str | None = None) -> int:
        """Disconnect, on every process, the user's sockets opened with ``session`` (all of
        them when None); the number of sockets told to go."""
        key = self.keys.user_sockets(user_id)
        members: set[str] = await self.redis.smembers(key)
        ending = [m for m in members if session is None or m.startswith(session + "|")]
        if not ending:
            return 0
        await self.redis.srem(key, *ending)
        for member in ending:
            _, namespace, sid = member.split("|", 2)
            await self.sio.disconnect(sid, namespace=namespace)
        return len(ending)

    async def check_once(self) -> int:
        """Disconnect this process's console sockets whose session has ended."""
        manager = self.sio.manager
        for namespace, sid in list(self._local):
            if manager.eio_sid_from_sid(sid, namespace) is None:
                del self._local[(namespace, sid)]  # closed meanwhile, or refused at connect
        # (A socket still in its connect handler is not connected yet: the next round.)
        ready = {e: k for e, k in self._local.items() if manager.is_connected(e[1], e[0])}
        if not ready:
            return 0
        live = await users.live_sessions(self.db, set(ready.values()))
        ended = [entry for entry, key in ready.items() if key not in live]
        for namespace, sid in ended:
            self._local.pop((namespace, sid), None)
            await self.sio.disconnect(sid, namespace=namespace)
        return len(ended)

    async def run(self) -> None:
        """The periodic check; runs until cancelled, surviving database or Redis errors."""
        while True:
            await pause(self.check_interval_s)
            try:
                ended = await self.check_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                if stopping():
                    raise asyncio.CancelledError from None
                log.exception("console session check failed")
                continue
            if ended:
                log.info("disconnected %d console sockets whose session ended", ended)
