"""Redis connection: a configured server, or an embedded real redis-server.

The embedded server (center.embedded_redis) is the zero-configuration default; it is a child
process speaking the real protocol over a unix socket, so everything (Lua scripts, pub/sub)
behaves as in production. Several ``center serve`` processes need a shared
``CENTER_REDIS_URL`` instead.

Every client here uses a *blocking* pool: redis-py's default asyncio pool refuses with
``MaxConnectionsError`` once its cap is reached (a burst of 500 arrivals/s did), where
waiting a moment for a connection is what a burst needs. Replies and connects are bounded
(``socket_timeout``/``socket_connect_timeout``) so that a stalled or stopped Redis turns into
an error callers can report and retry instead of a call that never returns; commands are
never retried by redis-py itself, since a timed-out command may still run once Redis
resumes, and running it again (an offer, say) would do it twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.driver_info import DriverInfo
from redis.utils import get_lib_version

from center.embedded_redis import EmbeddedRedis, EmbeddedRedisError

if TYPE_CHECKING:
    from center.config import Settings

__all__ = [
    "CLIENT_OPTIONS",
    "EmbeddedRedis",
    "EmbeddedRedisError",
    "PoolOptions",
    "client",
    "connect",
    "start_embedded",
]

# redis-py looks its own version up in package metadata (file I/O) for every new connection
# unless given one: resolve it once, at import, off the event loop.
CLIENT_OPTIONS: dict[str, Any] = {
    "driver_info": DriverInfo(name="redis-py", lib_version=get_lib_version()),
}


@dataclass(frozen=True)
class PoolOptions:
    """Pool size and time bounds (the defaults match Settings')."""

    size: int = 100
    # How long a command waits for a free connection when all ``size`` are busy.
    timeout_s: float = 5.0
    # How long a reply may take; None: forever (only for a pub/sub listener, idle by nature).
    socket_timeout_s: float | None = 3.0
    connect_timeout_s: float = 2.0

    @classmethod
    def from_settings(cls, settings: Settings) -> PoolOptions:
        return cls(
            size=settings.redis_pool_size,
            timeout_s=settings.redis_pool_timeout_s,
            socket_timeout_s=settings.redis_socket_timeout_s,
            connect_timeout_s=settings.redis_connect_timeout_s,
        )

    def connection_kwargs(self) -> dict[str, Any]:
        return {
            **CLIENT_OPTIONS,
            "socket_timeout": self.socket_timeout_s,
            "socket_connect_timeout": self.connect_timeout_s,
            "retry": Retry(NoBackoff(), 0),
        }


def client(url: str, pool: PoolOptions | None = None, **options: Any) -> Redis:
    """A client on its own blocking pool (closed with the client)."""
    pool = pool or PoolOptions()
    kwargs = {**pool.connection_kwargs(), **options}
    return Redis.from_pool(
        BlockingConnectionPool.from_url(
            url, max_connections=pool.size, timeout=pool.timeout_s, **kwargs
        )
    )


async def connect(url: str, pool: PoolOptions | None = None) -> Redis:
    redis = client(url, pool, decode_responses=True)
    await redis.ping()
    return redis


async def start_embedded(dbfile: Path, executable: str = "") -> EmbeddedRedis:
    embedded = EmbeddedRedis(dbfile, executable=executable)
    await asyncio.to_thread(embedded.start)
    return embedded
