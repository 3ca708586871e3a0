"""The latest CameraInfo per frame_id (plus a short history for exact-stamp matching).

Never "the first CameraInfo forever" (REFERENCE.md §9): a new calibration or resolution takes
effect with the next message.
"""
from __future__ import annotations

import threading
from collections import deque

from sensor_msgs.msg import CameraInfo

HISTORY = 30  # per frame_id; enough for a camera_info lagging its image by ~1 s at 30 Hz


class CameraInfoCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_frame: dict[str, deque[CameraInfo]] = {}

    def put(self, msg: CameraInfo) -> None:
        with self._lock:
            self._by_frame.setdefault(msg.header.frame_id, deque(maxlen=HISTORY)).append(msg)

    def lookup(self, frame_id: str, stamp, exact: bool) -> CameraInfo | None:
        """Latest info for `frame_id`; with `exact`, only one whose stamp equals `stamp`."""
        with self._lock:
            history = self._by_frame.get(frame_id)
            if not history:
                return None
            if not exact:
                return history[-1]
            for msg in reversed(history):
                if (msg.header.stamp.sec, msg.header.stamp.nanosec) == (stamp.sec, stamp.nanosec):
                    return msg
            return None

    def frame_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._by_frame)

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._by_frame)
