"""The router's atomic steps: one Lua file each, loaded once, run by EVALSHA.

File names follow BullMQ: ``<name>-<number of KEYS>.lua``; each file's header lists its
KEYS, ARGV and return values.
"""

from __future__ import annotations

import re
from enum import IntEnum
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript

SCRIPT_DIR = Path(__file__).with_name("scripts")


class ErrorCode(IntEnum):
    NOT_FOUND = -1
    NOT_OFFERED = -2
    NOT_YOURS = -3
    EXPIRED = -4
    NOT_EXPIRED = -5
    ALREADY_ROUTED = -6
    NOT_ASSIGNED = -7
    NOT_WAITING = -8
    AGENT_UNAVAILABLE = -9


class RouterError(Exception):
    def __init__(self, code: ErrorCode) -> None:
        super().__init__(code.name.lower().replace("_", " "))
        self.code = code


INCLUDE = re.compile(r"^--@include (\w+)$", re.MULTILINE)


def _read_sources() -> dict[str, tuple[str, int]]:
    """Each step's source, with ``--@include <name>`` lines replaced by
    ``scripts/includes/<name>.lua`` (shared Lua functions, as BullMQ's includes)."""
    includes = {p.stem: p.read_text() for p in (SCRIPT_DIR / "includes").glob("*.lua")}
    sources: dict[str, tuple[str, int]] = {}
    for path in sorted(SCRIPT_DIR.glob("*.lua")):
        name, _, nkeys = path.stem.rpartition("-")
        source = INCLUDE.sub(lambda m: includes[m.group(1)], path.read_text())
        sources[name] = (source, int(nkeys))
    return sources


# Read at import time (not on the event loop); the scripts are part of the package.
SOURCES = _read_sources()


class Scripts:
    """The scripts registered on one Redis client; call as ``await scripts.run(name, ...)``."""

    def __init__(self, redis: Redis) -> None:
        self._scripts: dict[str, tuple[AsyncScript, int]] = {
            name: (redis.register_script(src), nkeys) for name, (src, nkeys) in SOURCES.items()
        }

    async def run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        script, nkeys = self._scripts[name]
        if len(keys) != nkeys:
            raise ValueError(f"{name} takes {nkeys} keys, got {len(keys)}")
        return await script(keys=keys, args=args)

    def queue(self, pipe: Pipeline, name: str, keys: list[str], args: list[Any]) -> None:
        """``name``'s EVALSHA added to a pipeline, with no SCRIPT EXISTS before it (what
        redis-py's pipelined scripts send on every execute, a round trip): a NOSCRIPT
        reply comes back as that command's result, and the caller runs it with ``run``."""
        script, nkeys = self._scripts[name]
        if len(keys) != nkeys:
            raise ValueError(f"{name} takes {nkeys} keys, got {len(keys)}")
        pipe.evalsha(script.sha, nkeys, *keys, *args)


def check(result: list[Any]) -> list[Any]:
    """Raise RouterError for a script's ``{error code}`` reply."""
    code = int(result[0])
    if code < 0:
        raise RouterError(ErrorCode(code))
    return result
