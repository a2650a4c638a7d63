"""Background loops that survive errors but never a request to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import redis.exceptions
import sqlalchemy.exc

log = logging.getLogger(__name__)
T = TypeVar("T")

# A dependency away (Redis stopped, restarting, unreachable; the database likewise), as
# opposed to a bug: worth retrying, and worth telling a client as "unavailable".
REDIS_OUTAGE: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,  # includes a pool with no free connection in time
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
)
DB_OUTAGE: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,  # the engine's pool
)
OUTAGE_ERRORS = (*REDIS_OUTAGE, *DB_OUTAGE, ConnectionError)
# Between retries while a dependency is away: quick at first, then no busier than this.
BACKOFF_FIRST_S = 0.2
BACKOFF_MAX_S = 5.0


def outage_name(exc: BaseException) -> str:
    if isinstance(exc, REDIS_OUTAGE):
        return "Redis is unavailable"
    if isinstance(exc, DB_OUTAGE):
        return "the database is unavailable"
    return "a service the server depends on is unavailable"


def stopping() -> bool:
    """True when the current task has been asked to stop (cancelled).

    A loop that logs and carries on after ``except Exception`` must check this: a library
    may turn the CancelledError it received mid-call into another exception (a connection
    error), and the loop would then swallow the cancellation and never end -- an app whose
    shutdown awaits it hangs.
    """
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def pause(seconds: float) -> None:
    """``asyncio.sleep`` for background loops: raises CancelledError at once when the task
    was asked to stop, even if the request was swallowed on the way (redis-py has been seen
    to absorb a cancellation inside a pipeline and return normally)."""
    if stopping():
        raise asyncio.CancelledError
    await asyncio.sleep(seconds)


async def woken_or_after(wake: asyncio.Event, seconds: float) -> None:
    """Wait until ``wake`` is set (work arrived in this process) or ``seconds`` pass (work
    another process stored is found by the next look)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await wake.wait()


async def cancel_all(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Stop background tasks at shutdown: cancel them all, then wait for each to end."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Backoff:
    """Pacing for a loop step that failed: the delay doubles while a dependency stays away,
    an outage is logged once (not once per 100 ms step) and its end is logged too."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.delay = 0.0
        self.failures = 0

    def failed(self, exc: BaseException) -> float:
        """Record a failure; returns how long to wait before the next try."""
        if stopping():
            raise asyncio.CancelledError from None
        self.failures += 1
        if isinstance(exc, OUTAGE_ERRORS):
            if self.failures == 1:
                log.warning("%s: %s (%r); retrying", self.what, outage_name(exc), exc)
        else:
            log.error("%s failed", self.what, exc_info=exc)
        self.delay = min(BACKOFF_MAX_S, max(BACKOFF_FIRST_S, self.delay * 2))
        return self.delay

    def succeeded(self) -> None:
        if self.failures:
            log.warning("%s: working again after %d failed tries", self.what, self.failures)
        self.failures, self.delay = 0, 0.0


async def every(interval_s: float, step: Callable[[], Awaitable[object]], what: str) -> None:
    """Run ``step`` every ``interval_s`` until cancelled; an error never ends the loop, it
    only slows the retries (see Backoff) until the step works again."""
    backoff = Backoff(what)
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await pause(max(interval_s, backoff.failed(exc)))
            continue
        backoff.succeeded()
        await pause(interval_s)


async def until_done(action: Callable[[], Awaitable[T]], what: str) -> T:
    """Run ``action`` until it completes without an outage error (others propagate): for
    work that must not be dropped because Redis was away when it came due."""
    backoff = Backoff(what)
    while True:
        try:
            result = await action()
        except OUTAGE_ERRORS as exc:
            await pause(backoff.failed(exc))
            continue
        backoff.succeeded()
        return result
