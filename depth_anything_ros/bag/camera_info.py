"""Pairing each frame with its CameraInfo, deterministically, from a bag read up front."""
from __future__ import annotations

import bisect
import logging
from typing import Any

from depth_anything_ros.bag.messages import stamp_of

log = logging.getLogger(__name__)


class CameraInfoTable:
    """All CameraInfo of a topic, read up front (they are small): exact header-stamp match
    first, else the latest one recorded at or before the frame, else the first one."""

    def __init__(self, entries: list[tuple[int, int, Any]]) -> None:
        entries = sorted(entries, key=lambda e: e[0])
        self._times = [bag_time for bag_time, _, _ in entries]
        self._infos = [info for _, _, info in entries]
        self._by_stamp = {stamp_ns: info for _, stamp_ns, info in entries}

    def __len__(self) -> int:
        return len(self._infos)

    def lookup(self, stamp_ns: int, bag_time: int) -> Any | None:
        if not self._infos:
            return None
        if stamp_ns in self._by_stamp:
            return self._by_stamp[stamp_ns]
        i = bisect.bisect_right(self._times, bag_time) - 1
        return self._infos[max(i, 0)]


def read_camera_infos(reader: Any, topic: str | None) -> CameraInfoTable:
    """All readable CameraInfo of `topic` (an empty table for None); bad ones are logged."""
    if topic is None:
        return CameraInfoTable([])
    conns = [c for c in reader.connections if c.topic == topic]
    entries = []
    for conn, bag_time, raw in reader.messages(connections=conns):
        try:
            info = reader.deserialize(raw, conn.msgtype)
        except Exception as exc:  # noqa: BLE001 - a malformed message is skipped, not fatal
            log.warning("skipping unreadable CameraInfo on %s at bag time %d: %s", topic, bag_time, exc)
            continue
        entries.append((bag_time, stamp_of(info).ns, info))
    return CameraInfoTable(entries)
