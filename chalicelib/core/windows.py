"""Fixed, clock-aligned windows, and the one way events are counted in them.

A window is ``Window(limit, seconds)`` (:mod:`chalicelib.config`); window ``index`` is ``now // seconds``, so every
container agrees on it without coordination. Counts live in one of two places:

- :class:`WindowCounter`, an item of its own per subject and window (send quotas, the per-network failure
  budgets): its key names the window and TTL removes it after the window, so a new window starts from zero
  without a read;
- :class:`EmbeddedCount`, two attributes of an item that exists anyway (an identifier's failed codes, an
  account's second-factor failures): the count and the index of the window it counts, so the item never grows
  and a count from an earlier window reads as zero.

Either way the limit is a write condition, never a read followed by a write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.config import Window
from chalicelib.core.expressions import TTL, Item, Update, read_number


class FixedWindow:
    """The window of ``window`` that ``now`` falls in: its ``index``, the ``seconds_left`` in it, when it ends."""

    def __init__(self, window: Window, now: int) -> None:
        self.window = window
        self.limit = window.limit
        self.index = now // window.seconds
        self.seconds_left = (self.index + 1) * window.seconds - now
        self.ends_at = now + self.seconds_left


class WindowCounter(FixedWindow):
    """At most ``window.limit`` events per window, counted in an item of its own (``<subject>/<name>@<index>``),
    which TTL removes after the window: no counter outlives its window whatever the use."""

    def __init__(self, name: str, window: Window, now: int) -> None:
        super().__init__(window, now)
        self.name = name

    def key(self, subject_key: str) -> str:
        return f"{subject_key}/{self.name}@{self.index}"

    def count_one(self, by: int = 1, limited: bool = True) -> Update:
        """Count ``by`` events (negative: take them back); counting up is refused once the limit is reached,
        unless the event has happened already and is only being recorded (``limited=False``)."""
        update = Update()
        count = update.name("n")
        update.set(f"{count} = if_not_exists({count}, {update.value(0)}) + {update.value(by)}")
        update.set(f"{update.name(TTL)} = {update.value(self.ends_at)}")
        if by > 0 and limited:
            update.require(f"attribute_not_exists({count}) OR {count} < {update.value(self.limit)}")
        return update

    def exhausted(self, item: Item) -> bool:
        return self.window.enabled and read_number(item, "n") >= self.limit


class EmbeddedCount(FixedWindow):
    """Events of the current window counted in attributes ``count`` and ``at`` (the window's index) of a map at
    ``path`` in an item (``()``: the item itself)."""

    def __init__(self, window: Window, now: int, path: tuple[str, ...], count: str, at: str) -> None:
        super().__init__(window, now)
        self._path = path
        self._count = count
        self._at = at

    def current(self, holder: Mapping[str, Any]) -> int:
        """The count in ``holder`` (the item, or the map at ``path``, as read), zero if of an earlier window."""
        return read_number(holder, self._count) if self.in_window(holder) else 0

    def in_window(self, holder: Mapping[str, Any]) -> bool:
        return self._at in holder and read_number(holder, self._at) == self.index

    def spent(self, holder: Mapping[str, Any]) -> bool:
        return self.current(holder) >= self.limit

    def left(self, update: Update) -> str:
        """The condition that the count is below the limit (one from an earlier window counts as zero)."""
        count, at = update.name(*self._path, self._count), update.name(*self._path, self._at)
        index = update.value(self.index)
        return f"attribute_not_exists({at}) OR {at} <> {index} OR {count} < {update.value(self.limit)}"

    def count(self, update: Update, fresh: bool, limited: bool) -> None:
        """One more event. ``fresh`` assumes none counted in this window yet, and the condition checks that
        assumption; ``limited`` also refuses the event once the limit is reached."""
        count, at = update.name(*self._path, self._count), update.name(*self._path, self._at)
        if fresh:
            update.set(f"{count} = {update.value(1)}, {at} = {update.value(self.index)}")
            update.require(f"attribute_not_exists({at}) OR {at} <> {update.value(self.index)}")
        else:
            update.set(f"{count} = {count} + {update.value(1)}")
            same = f"{at} = {update.value(self.index)}"
            update.require(f"{same} AND {count} < {update.value(self.limit)}" if limited else same)

    def clear(self, update: Update) -> None:
        update.remove(*self._path, self._count)
        update.remove(*self._path, self._at)
