"""Each test runs above one large block of CPython's frame stack, which it would otherwise map and unmap thousands
of times.

CPython 3.11 keeps a thread's Python frames in chunks of 16 KiB that it maps (``mmap``) when a call does not fit
in the current one and unmaps when that call returns. A test's calls go deep (pytest, Chalice's test client, the
app, botocore's event hooks, moto's recursive parsers and serialisers) and cross a chunk's end back and forth:
``strace`` counted 11,600 ``mmap``/``munmap`` pairs a test in tests/test_admin.py, each with its page faults,
and the kernel's share was a third of the suite's CPU time. A frame that declares a large value stack takes a
chunk of its own sized to fit it (the next power of two), and the frames called from it fill the room left in
that chunk; the value stack it declares is never written, so its pages are never touched. Running each test's
protocol (setup, call, teardown) from such a frame leaves its calls in one chunk, mapped once a test.

Nothing a test does changes: frames sit at other addresses, and Python's recursion limit counts calls, not
bytes. Threads a test starts keep their own chunks (their frames are shallower).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# 512 KiB of declared value stack: the frame gets a 1 MiB chunk, and its callees the other half of it (a test's
# deepest stacks hold a few hundred frames of well under 1 KiB each).
ROOM_SLOTS = 512 * 1024 // 8


def _call(function: Callable[..., T], *args: object) -> T:
    return function(*args)


_call.__code__ = _call.__code__.replace(co_stacksize=_call.__code__.co_stacksize + ROOM_SLOTS)


def call_with_room(function: Callable[..., T], *args: object) -> T:
    """``function(*args)``, called from a frame that reserves a chunk of the frame stack with room for its callees."""
    return _call(function, *args)
