"""Thread hand-offs a test can observe instead of sleeping: "the other thread is blocked now"."""
from __future__ import annotations

import threading
import time
from typing import Callable


class WatchedCondition(threading.Condition):
    """A Condition telling the test when a thread waits on it (`waits`, `waiting`).

    `waiting` is set just before the waiter releases the lock, so a test that then takes the
    condition's lock (any `with cond:` in the code under test) runs after the waiter sleeps."""

    def __init__(self, lock=None) -> None:
        super().__init__(lock)
        self.waits = 0
        self.waiting = threading.Event()

    def wait(self, timeout=None):
        self.waits += 1
        self.waiting.set()
        return super().wait(timeout)


class WatchedSemaphore:
    """Wraps a Semaphore (keeping its count): `refusals` counts acquires that found no slot."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self.refusals = 0

    def acquire(self, blocking=True, timeout=None):
        got = self._inner.acquire(blocking, timeout)
        if not got:
            self.refusals += 1
        return got

    def release(self, n=1):
        self._inner.release(n)

    __enter__ = acquire

    def __exit__(self, *exc):
        self.release()


def wait_until(condition: Callable[[], bool], what: str | Callable[[], str],
               timeout: float = 20.0) -> None:
    """Poll `condition` until it holds; AssertionError naming `what` (text, or a function
    giving it at the time) after `timeout` seconds (generous: a loaded host is slow)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what() if callable(what) else what
        time.sleep(0.005)
