"""Rate-limited logging per problem, shared by the node and its helpers (camera geometry,
metric scale): one line per distinct key per period, so a bad stream cannot flood /rosout."""
from __future__ import annotations

import threading
import time

from depth_anything_ros.ros.ros_logging import log_at


class ThrottledLog:
    """Log each distinct problem (key) at most once per period, so bad streams cannot flood."""

    def __init__(self, logger, period_s) -> None:
        self._logger = logger
        self._period_s = period_s  # callable → seconds (a live parameter)
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, level: str, key: str, text: str) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._period_s():
                return False
            self._last[key] = now
        log_at(self._logger, level, text)  # one call site per severity (rclpy insists)
        return True
