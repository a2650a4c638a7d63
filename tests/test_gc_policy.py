"""A serving process freezes what each full collection leaves, and collects everything
once per interval, which frees cycles that became garbage after they were frozen.
(In a fresh interpreter: the test process's own collector is left alone.)"""

from __future__ import annotations

import subprocess
import sys

PROGRAM = """
import gc, weakref
from center import gc_policy

gc_policy.install()
gc.collect()  # a full collection: what it leaves is frozen
assert gc.get_freeze_count() > 0

class Node:
    pass

a, b = Node(), Node()
a.other, b.other = b, a  # a reference cycle, alive through the next full collection
gc.collect()
gone = weakref.ref(a)
del a, b  # garbage now, but frozen: only a cycle collection can free it
gc.collect()
print("after a full collection:", "kept" if gone() is not None else "freed")
gc_policy.collect_everything()
print("after the interval's collection:", "kept" if gone() is not None else "freed")
"""


def test_frozen_cycles_are_freed_by_the_intervals_full_collection() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60, check=True
    ).stdout.splitlines()
    assert out == [
        "after a full collection: kept",  # (frozen: what keeps full collections short)
        "after the interval's collection: freed",
    ]
