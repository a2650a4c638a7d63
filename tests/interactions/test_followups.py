"""Follow-ups (agent suggestions) run beside the conversation: one at a time per
interaction, the newest request replacing any waiting one, failures contained."""

from __future__ import annotations

import asyncio

from center.interactions.followups import Followups, Job


async def test_a_burst_runs_the_first_and_the_newest_only() -> None:
    f = Followups()
    ran: list[tuple[int, int]] = []
    gate = asyncio.Event()

    def job(key: int, n: int) -> Job:
        async def run() -> None:
            ran.append((key, n))
            if n == 0:
                await gate.wait()

        return run

    for n in range(5):  # five messages while the first search is still running
        f.submit(1, job(1, n))
    f.submit(2, job(2, 0))  # another conversation is not held up by the first
    await asyncio.sleep(0.01)
    assert ran == [(1, 0), (2, 0)]
    gate.set()
    await f.idle()
    assert ran == [(1, 0), (2, 0), (1, 4)]


async def test_a_failing_follow_up_does_not_stop_the_next() -> None:
    f = Followups()
    ran: list[str] = []

    async def boom() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("search backend down")

    async def fine() -> None:
        ran.append("fine")

    f.submit("i", boom)
    f.submit("i", fine)
    await f.idle()
    assert ran == ["fine"]


async def test_close_cancels_running_work() -> None:
    f = Followups()
    started = asyncio.Event()
    finished: list[bool] = []

    async def slow() -> None:
        started.set()
        await asyncio.sleep(30)
        finished.append(True)

    f.submit(1, slow)
    await started.wait()
    await asyncio.wait_for(f.aclose(), 2)
    assert finished == []
    f.submit(1, slow)  # usable again, nothing stuck under the key
    await started.wait()
    await f.aclose()
