"""A one-slot mailbox: the newest frame wins, older unprocessed ones are dropped and counted.

The executor thread `put`s in O(1) and never blocks on inference; the worker `take`s the newest
frame. So no backlog can build and latency stays bounded when frames arrive faster than the
model runs (DESIGN.md § Data flow).
"""
from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestMailbox(Generic[T]):
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._closed = False
        self.received = 0
        self.dropped = 0  # overwritten before the worker took them

    def put(self, item: T) -> bool:
        """Store `item`, replacing any untaken one; returns True if one was replaced (dropped)."""
        with self._cond:
            replaced = self._item is not None
            if replaced:
                self.dropped += 1
            self._item = item
            self.received += 1
            self._cond.notify()
            return replaced

    def take(self, timeout: float | None = None) -> T | None:
        """The newest item (removing it), or None after `timeout` seconds or once closed."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        """Wake a waiting `take` for shutdown."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
