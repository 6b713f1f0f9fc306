"""The UI's single source of time, kept in its own module so tests can replace it.

``app.py`` is re-executed on every Streamlit run, so patching a function defined there would not stick; a
function in an imported module does.
"""

from __future__ import annotations

import time


def now() -> float:
    """Seconds on a monotonic clock: only differences are meaningful (cooldowns, countdowns).

    Monotonic because the values are compared within one server process and must not jump when the wall
    clock is adjusted.
    """
    return time.monotonic()
