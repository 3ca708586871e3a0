"""Pairing each frame with its CameraInfo, deterministically, from a bag read up front."""
from __future__ import annotations

import bisect
import logging
from typing import Any

from depth_anything_ros.bag.messages import stamp_of

log = logging.getLogger(__name__)


class CameraInfoTable:
    """All CameraInfo of a topic, read up front (they are small). A frame is paired among the
    infos of its own frame_id when the topic has any (one topic can carry several cameras), else
    among all of them (a driver that names its info's frame differently, as depth_image_proc
    tolerates): exact header-stamp match first, else the latest one recorded at or before the
    frame, else the first one."""

    def __init__(self, entries: list[tuple[int, int, str, Any]]) -> None:
        """`entries`: (bag time, header stamp in ns, header frame_id, info) each."""
        self._all = _Timeline([(time, stamp, info) for time, stamp, _, info in entries])
        by_frame: dict[str, list[tuple[int, int, Any]]] = {}
        for time, stamp, frame_id, info in entries:
            by_frame.setdefault(frame_id, []).append((time, stamp, info))
        self._by_frame = {frame: _Timeline(group) for frame, group in by_frame.items()}

    def __len__(self) -> int:
        return len(self._all)

    def lookup(self, stamp_ns: int, bag_time: int, frame_id: str | None = None) -> Any | None:
        return self._by_frame.get(frame_id, self._all).lookup(stamp_ns, bag_time)


class _Timeline:
    """Infos by recording time and by header stamp."""

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
        stamp = stamp_of(info)
        entries.append((bag_time, stamp.ns, stamp.frame_id, info))
    return CameraInfoTable(entries)
