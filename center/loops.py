"""Background loops that survive errors but never a request to stop."""

from __future__ import annotations

import asyncio


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
