"""When a serving process collects its whole heap.

CPython runs a full collection whenever the objects that survived the younger generations
since the last one reach a quarter of the old generation: each walks the whole heap and
stalls every socket of the process meanwhile. A process holding thousands of sockets has
a large heap that grows as they connect: at 8,000 (bench/connections.py) the full
collections took 10.9 s of CPU in a minute, the last ones 1.1 s each, with nothing to
free in them.

So the survivors of every full collection are frozen (``gc.freeze``: left out of later
collections, still freed by reference counting): the next one walks only what is newer.
What that costs: an object frozen while alive that later becomes garbage in a reference
cycle is not freed by those collections. ``every`` bounds that: once per interval
everything is unfrozen, collected once (one full stall per interval, not one per quarter
of growth), and frozen again.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

log = logging.getLogger(__name__)
FULL_EVERY_S = 600.0


def _freeze_survivors(phase: str, info: dict[str, Any]) -> None:
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()


def install() -> None:
    """Freeze what every full collection leaves (idempotent)."""
    if _freeze_survivors not in gc.callbacks:
        gc.callbacks.append(_freeze_survivors)


def uninstall() -> None:
    if _freeze_survivors in gc.callbacks:
        gc.callbacks.remove(_freeze_survivors)


def collect_everything() -> int:
    """Unfreeze, collect the whole heap once, freeze what is left: what it freed."""
    gc.unfreeze()
    started = time.perf_counter()
    freed = gc.collect()
    gc.freeze()
    log.info(
        "full collection of the frozen heap: %d freed in %.0f ms",
        freed,
        (time.perf_counter() - started) * 1000,
    )
    return freed


async def every(interval_s: float = FULL_EVERY_S) -> None:
    """``collect_everything`` once per ``interval_s``, for as long as the process serves."""
    while True:
        await asyncio.sleep(interval_s)
        collect_everything()
