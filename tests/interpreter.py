"""Two settings of the interpreter that the suite's process runs under, each worth a sixth to a third of a test's
CPU time.

Neither changes what a test does; both change only how much CPython does around it.

**Room on the frame stack.** CPython 3.11 keeps a thread's Python frames in chunks of 16 KiB that it maps
(``mmap``) when a call does not fit in the current one and unmaps when that call returns. A test's calls go deep
(pytest, Chalice's test client, the app, botocore's event hooks, moto's recursive parsers and serialisers) and
cross a chunk's end back and forth: ``strace`` counted 11,600 ``mmap``/``munmap`` pairs a test in
tests/test_admin.py, each with its page faults, and the kernel's time was a third of that file's CPU time. A frame
that declares a large value stack takes a chunk of its own sized to fit it (the next power of two), and the frames
called from it fill the room left in that chunk; the value stack it declares is never written, so its pages are
never touched. Each test's protocol (setup, call, teardown) runs from such a frame (:func:`call_with_room`), and
its calls stay in one chunk, mapped once a test. Frames sit at other addresses, nothing else; Python's recursion
limit counts calls, not bytes. Threads a test starts keep their own chunks (their frames are shallower).

**A garbage collector that leaves the imports alone.** The cyclic collector walks every tracked object of the
generations it collects; once the tests are collected the process holds a quarter of a million objects of
imported modules (moto's, botocore's, Hypothesis', Streamlit's, the tests' own) that live until it exits, and with
the default thresholds (a young collection every 700 allocations) the collector took nearly a fifth of the tests'
CPU time. :func:`settle_heap` moves what exists once the tests are collected out of the collector's reach
(``gc.freeze``), and collects the young generation every :data:`YOUNG_COLLECTION` allocations. Cyclic garbage a
test leaves is still collected, a little later; no test relies on when (none calls the collector or watches a
finaliser).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# 512 KiB of declared value stack: the frame gets a 1 MiB chunk, and its callees the other half of it (a test's
# deepest stacks hold a few hundred frames of well under 1 KiB each).
ROOM_SLOTS = 512 * 1024 // 8
# Allocations between collections of the young generation (CPython's default: 700); the older generations keep
# their default ratios to it.
YOUNG_COLLECTION = 10_000


def _call(function: Callable[..., T], *args: object) -> T:
    return function(*args)


_call.__code__ = _call.__code__.replace(co_stacksize=_call.__code__.co_stacksize + ROOM_SLOTS)


def call_with_room(function: Callable[..., T], *args: object) -> T:
    """``function(*args)``, called from a frame that reserves a chunk of the frame stack with room for its callees."""
    return _call(function, *args)


def settle_heap() -> None:
    """Collect what collection left behind, keep every object alive now out of later collections, and collect the
    young generation less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION, middle, old)
