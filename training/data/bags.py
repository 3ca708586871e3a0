"""Bag datasets: train on your robot's own recordings, read directly with rosbags (no ROS).

* Unlabeled: every frame of an image topic (``sensor_msgs/Image`` or ``CompressedImage``) —
  the input of the ``pseudo_label`` stage.
* Labeled: image + depth topics, paired by header stamp: exact by default, or the nearest depth
  within ``tolerance`` seconds. Depth must be a raw ``Image`` in 32FC1 (m) or 16UC1 (mm).
* Optional ``camera_info`` topic: intrinsics of the info with the image's stamp (else the latest
  one before it), from P when set (rectified), otherwise K. Without one, the image topic's
  sibling ``<ns>/camera_info`` is used when the bag has it (the bag tool's rule).

Construction scans the bag once (deserialising headers) and keeps only (time, stamp) indices;
``dataset[i]`` seeks to that message, so a bag of any size costs little memory. The reader is
opened lazily in each process, so DataLoader workers each get their own.
"""

from __future__ import annotations

import bisect
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from depth_anything_ros.bag.errors import BagError
from depth_anything_ros.bag.messages import decode_rgb, stamp_of
from depth_anything_ros.bag.reader import open_reader, topic_types
from depth_anything_ros.bag.topics import (CAMERA_INFO_TYPE, IMAGE_TYPE, IMAGE_TYPES,
                                           default_camera_info_topic)
from depth_anything_ros.conversions import decode_depth
from depth_anything_ros.training.data.samples import DepthDataset, Sample, make_sample

log = logging.getLogger(__name__)


class BagDatasetError(ValueError):
    """A bag cannot serve as a dataset; the message names the bag, the topic and the reason."""


@dataclass(frozen=True)
class _Entry:
    """Where one message is: bag time (ns) and its rank among messages at that time."""

    time: int
    rank: int
    stamp: int


class BagDataset(DepthDataset):
    """``bag:<path>?image=<topic>[&depth=<topic>&camera_info=<topic>&tolerance=<s>&every=<k>]``."""

    def __init__(
        self,
        path: str | Path,
        image_topic: str,
        depth_topic: str | None = None,
        *,
        camera_info_topic: str | None = None,
        tolerance: float = 0.0,
        every: int = 1,
        max_frames: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.image_topic, self.depth_topic, self.info_topic = (
            image_topic,
            depth_topic,
            camera_info_topic,
        )
        self.labeled = depth_topic is not None
        self.spec = f"bag:{self.path}?image={image_topic}" + (
            f"&depth={depth_topic}" if depth_topic else ""
        )
        if tolerance < 0 or every < 1:
            raise BagDatasetError(
                f"{self.path}: tolerance must be ≥ 0 and every ≥ 1, got {tolerance}, {every}"
            )
        self._reader, self._pid = None, None
        reader = self._get_reader()
        self._image_type = self._topic_type(reader, image_topic, IMAGE_TYPES)
        images = self._scan(reader, image_topic)
        if depth_topic is not None:
            self._topic_type(reader, depth_topic, (IMAGE_TYPE,))
            images, depths = self._pair(images, self._scan(reader, depth_topic), tolerance)
        else:
            depths = [None] * len(images)
        self._infos: list[tuple[int, np.ndarray]] = []
        if camera_info_topic is None:  # as the bag tool: the image's sibling, when recorded
            sibling = default_camera_info_topic(image_topic)
            if topic_types(reader).get(sibling) == CAMERA_INFO_TYPE:
                camera_info_topic = self.info_topic = sibling
        if camera_info_topic is not None:
            self._topic_type(reader, camera_info_topic, (CAMERA_INFO_TYPE,))
            self._infos = self._scan_infos(reader, camera_info_topic)
        self._info_stamps = [stamp for stamp, _ in self._infos]
        pairs = list(zip(images, depths))[::every]
        self._pairs = pairs[:max_frames] if max_frames is not None else pairs
        if not self._pairs:
            raise BagDatasetError(f"{self.path}: no frames on {image_topic}")

    # -- reading -----------------------------------------------------------------------------
    def _get_reader(self) -> Any:
        if self._reader is None or self._pid != os.getpid():
            try:
                self._reader, self._pid = open_reader(self.path), os.getpid()
            except BagError as error:
                raise BagDatasetError(str(error)) from None
        return self._reader

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_reader"], state["_pid"] = None, None
        return state

    def _connections(self, reader: Any, topic: str) -> list:
        return [c for c in reader.connections if c.topic == topic]

    def _topic_type(self, reader: Any, topic: str, allowed: tuple[str, ...]) -> str:
        types = topic_types(reader)
        if topic not in types:
            known = ", ".join(sorted(types)) or "none"
            raise BagDatasetError(f"{self.path}: no topic {topic} (topics: {known})")
        msgtype = types[topic]
        if msgtype not in allowed:
            raise BagDatasetError(
                f"{self.path}: topic {topic} has type {msgtype}, expected {' or '.join(allowed)}"
            )
        return msgtype

    def _scan(self, reader: Any, topic: str) -> list[_Entry]:
        entries, last_time, rank = [], None, 0
        for connection, time, raw in reader.messages(connections=self._connections(reader, topic)):
            rank = rank + 1 if time == last_time else 0
            last_time = time
            msg = reader.deserialize(raw, connection.msgtype)
            entries.append(_Entry(int(time), rank, stamp_of(msg).ns))
        return entries

    def _scan_infos(self, reader: Any, topic: str) -> list[tuple[int, np.ndarray]]:
        infos = []
        for connection, _time, raw in reader.messages(connections=self._connections(reader, topic)):
            msg = reader.deserialize(raw, connection.msgtype)
            p, k = np.asarray(msg.p, float).reshape(3, 4), np.asarray(msg.k, float).reshape(3, 3)
            use_p = p[0, 0] > 0 and p[1, 1] > 0
            fx, fy, cx, cy = (
                (p[0, 0], p[1, 1], p[0, 2], p[1, 2])
                if use_p
                else (k[0, 0], k[1, 1], k[0, 2], k[1, 2])
            )
            infos.append((stamp_of(msg).ns, np.array([fx, fy, cx, cy], np.float32)))
        return sorted(infos, key=lambda item: item[0])

    def _pair(
        self, images: list[_Entry], depths: list[_Entry], tolerance: float
    ) -> tuple[list, list]:
        """Each image with the depth nearest in stamp within ``tolerance`` (s); others dropped."""
        if not depths:
            raise BagDatasetError(f"{self.path}: no messages on depth topic {self.depth_topic}")
        ordered = sorted(depths, key=lambda e: e.stamp)
        stamps = [e.stamp for e in ordered]
        limit = int(round(tolerance * 1e9))
        kept_images, kept_depths = [], []
        for image in images:
            i = bisect.bisect_left(stamps, image.stamp)
            candidates = [j for j in (i - 1, i) if 0 <= j < len(stamps)]
            best = min(candidates, key=lambda j: abs(stamps[j] - image.stamp))
            if abs(stamps[best] - image.stamp) <= limit:
                kept_images.append(image)
                kept_depths.append(ordered[best])
        if not kept_images:
            raise BagDatasetError(
                f"{self.path}: no {self.image_topic} frame has a {self.depth_topic} frame within "
                f"{tolerance} s of its stamp (set tolerance to pair nearest stamps)"
            )
        if len(kept_images) < len(images):
            log.info(
                "%s: %d of %d images have no depth within %.3f s; skipped",
                self.path,
                len(images) - len(kept_images),
                len(images),
                tolerance,
            )
        return kept_images, kept_depths

    def _message(self, topic: str, entry: _Entry) -> Any:
        reader = self._get_reader()
        messages = reader.messages(
            connections=self._connections(reader, topic), start=entry.time, stop=entry.time + 1
        )
        for rank, (connection, _time, raw) in enumerate(messages):
            if rank == entry.rank:
                return reader.deserialize(raw, connection.msgtype)
        raise BagDatasetError(f"{self.path}: message on {topic} at t={entry.time} ns vanished")

    def __len__(self) -> int:
        return len(self._pairs)

    def __getitem__(self, index: int) -> Sample:
        image_entry, depth_entry = self._pairs[self._check_index(index)]
        msg = self._message(self.image_topic, image_entry)
        try:
            rgb = decode_rgb(msg, self._image_type)
        except ValueError as error:
            raise BagDatasetError(
                f"{self.path}: {self.image_topic} at stamp {image_entry.stamp} ns: {error}"
            ) from None
        rgb = np.ascontiguousarray(rgb)
        depth = None
        if depth_entry is not None:
            d = self._message(self.depth_topic, depth_entry)
            try:
                depth = decode_depth(
                    d.encoding,
                    int(d.height),
                    int(d.width),
                    int(d.step),
                    bool(d.is_bigendian),
                    d.data,
                )
            except ValueError as error:
                raise BagDatasetError(
                    f"{self.path}: {self.depth_topic} at stamp {depth_entry.stamp} ns: {error}"
                ) from None
            if depth.shape != rgb.shape[:2]:
                raise BagDatasetError(
                    f"{self.path}: {self.depth_topic} at stamp {depth_entry.stamp} ns is "
                    f"{depth.shape[1]}x{depth.shape[0]} but {self.image_topic} is "
                    f"{rgb.shape[1]}x{rgb.shape[0]} (WxH)"
                )
        sec, nanosec = divmod(image_entry.stamp, 1_000_000_000)
        return make_sample(
            rgb, f"{sec}_{nanosec:09d}", depth, self._intrinsics_for(image_entry.stamp)
        )

    def _intrinsics_for(self, stamp: int) -> np.ndarray | None:
        if not self._infos:
            return None
        i = bisect.bisect_right(self._info_stamps, stamp) - 1
        return self._infos[max(i, 0)][1]
