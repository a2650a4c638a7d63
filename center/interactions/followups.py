"""Follow-up work that must not hold up a conversation: run it beside, latest wins.

Knowledge-base suggestions for an agent are recomputed on each customer message. Awaiting
them before acknowledging the message made the customer wait for a search, and a burst of
messages queued one search per message. Here each interaction has at most one follow-up
running and one waiting: a newer request replaces the waiting one, since only the newest
view of the conversation is worth computing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Hashable

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


class Followups:
    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Task[None]] = {}
        self._waiting: dict[Hashable, Job] = {}

    def submit(self, key: Hashable, job: Job) -> None:
        if key in self._running:
            self._waiting[key] = job  # replaces an older waiting job for the same key
            return
        self._running[key] = asyncio.create_task(self._drain(key, job), name=f"followup-{key}")

    async def _drain(self, key: Hashable, job: Job) -> None:
        try:
            while True:
                try:
                    await job()
                except Exception:  # a helper feature must never break the conversation
                    log.exception("follow-up for %s failed", key)
                next_job = self._waiting.pop(key, None)
                if next_job is None:
                    return
                job = next_job
        finally:
            self._running.pop(key, None)

    async def idle(self) -> None:
        """Wait until nothing is running (for tests)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def aclose(self) -> None:
        self._waiting.clear()
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
