"""Metric scale in a bag job: the same `ScaleCorrector` as the node (depth_anything_ros.scale),
fed in bag order from `--sparse-depth-topic` or `--camera-height` (the floor's direction from
`--camera-pitch/--camera-roll`, or from an `--imu-topic` as the node's `ground_normal: imu`), or
from `--ground-frame`: the camera's height and the floor's direction from the bag's own static
transforms (`scale/mount.py`), looked up for each frame's frame_id.

Sparse depth is read lazily beside the main read by a second reader on the same bag (a window
of messages around the current frame, so a long bag costs no memory) and paired with each frame
by header stamp within `--sparse-depth-tolerance`. Frames without a usable fit keep the last
scale for `max_age_s`, then fall back to the model's own metres, as in the node; the summary
counts which frames were anchored, held or unscaled and why.
"""
from __future__ import annotations

import contextlib
import logging
import math
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from depth_anything_ros.bag.errors import BagError
from depth_anything_ros.bag.messages import Stamp, stamp_of
from depth_anything_ros.bag.options import BagJobOptions, BagSummary
from depth_anything_ros.bag.reader import open_reader
from depth_anything_ros.bag.topics import TopicPlan
from depth_anything_ros.geometry.camera_model import CameraModel
from depth_anything_ros.scale import (ScaleCorrector, camera_geometry,
                                      decode_sparse_depth)
from depth_anything_ros.scale.gravity import GravityConfig, GravityFilter
from depth_anything_ros.scale.mount import STATIC_ONLY, CameraMount, StaticTransforms

log = logging.getLogger(__name__)

WINDOW = 64  # sparse depth messages kept around the current frame


def topic_messages(reader: Any, topic: str) -> Iterator[tuple[int, Any]]:
    """(recording time in ns, message) of a topic in bag order; an unreadable message is
    skipped with a warning, as camera frames are."""
    connections = [c for c in reader.connections if c.topic == topic]
    for conn, bag_time, raw in reader.messages(connections=connections):
        try:
            msg = reader.deserialize(raw, conn.msgtype)
        except Exception as exc:  # noqa: BLE001 - one bad message is skipped
            log.warning("skipping unreadable %s message at bag time %d: %s", topic, bag_time,
                        exc)
            continue
        yield bag_time, msg


def stamped_messages(reader: Any, topic: str) -> Iterator[tuple[int, Any]]:
    """(stamp in ns, message) of a topic with headers, in bag order. A sensor that does not
    stamp (zero) is timed by its recording time, as its frames are (the node pairs such
    messages by arrival)."""
    for bag_time, msg in topic_messages(reader, topic):
        yield stamp_of(msg).ns or bag_time, msg


def static_transforms(reader: Any, topic: str, floor_frame: str) -> StaticTransforms:
    """Every transform on a bag's static-transform topic (a later one of the same child
    replaces an earlier one). BagError, naming the topic, for an unusable transform, or when
    none names `floor_frame`."""
    tree = StaticTransforms()
    for _, msg in topic_messages(reader, topic):
        for t in msg.transforms:
            v, q = t.transform.translation, t.transform.rotation
            try:
                tree.add(t.header.frame_id, t.child_frame_id, (v.x, v.y, v.z),
                         (q.x, q.y, q.z, q.w))
            except ValueError as exc:
                raise BagError(f"{topic}: {exc}") from None
    if floor_frame.lstrip("/") not in tree.frames:  # as the tree names frames
        raise BagError(f"--ground-frame {floor_frame}: no transform on {topic} names it (its "
                       f"frames: {', '.join(tree.frames) or 'none'}){STATIC_ONLY}")
    return tree


class SparseDepthStream:
    """A topic's messages in bag order, read ahead just far enough to pair each frame stamp."""

    def __init__(self, reader: Any, topic: str, tolerance_ns: int) -> None:
        self._messages = stamped_messages(reader, topic)
        self._window: deque[tuple[int, Any]] = deque(maxlen=WINDOW)
        self._tolerance_ns = tolerance_ns
        self._done = False

    def nearest(self, stamp_ns: int) -> tuple[Any | None, int | None]:
        """(message within the tolerance or None, |Δt| in ns of the nearest or None if none
        read yet). Frames must come in stamp order (a bag's camera does); a frame stamped zero
        asks by its recording time."""
        while not self._done and (not self._window
                                  or self._window[-1][0] <= stamp_ns + self._tolerance_ns):
            self._read_one()
        while len(self._window) > 1 and self._window[0][0] < stamp_ns - self._tolerance_ns:
            self._window.popleft()  # too old for this frame, so for every later one
        if not self._window:
            return None, None
        gap, msg = min(((abs(t - stamp_ns), m) for t, m in self._window), key=lambda p: p[0])
        return (msg if gap <= self._tolerance_ns else None), gap

    def _read_one(self) -> None:
        stamped = next(self._messages, None)
        if stamped is None:
            self._done = True
        else:
            self._window.append(stamped)


class ImuStream:
    """An Imu topic's accelerometer (or orientation) in bag order, fed into the node's
    `GravityFilter` up to each frame's stamp (so a frame gets the average as of its own stamp,
    as in the node)."""

    def __init__(self, reader: Any, topic: str, config: GravityConfig) -> None:
        self._messages = stamped_messages(reader, topic)
        self._pending: tuple[int, Any] | None = None  # read, not yet due
        self._gravity = GravityFilter(config)

    def up(self, stamp_ns: int) -> tuple[tuple[float, float, float] | None, str | None]:
        """The floor's normal in the optical frame at `stamp_ns`, or (None, why not). Frames
        must come in stamp order; a frame stamped zero asks by its recording time."""
        while True:
            if self._pending is None:
                self._pending = next(self._messages, None)
                if self._pending is None:
                    break
            at, msg = self._pending
            if at > stamp_ns:
                break
            self._gravity.add_imu(at * 1e-9, msg)
            self._pending = None
        return self._gravity.up(stamp_ns * 1e-9)


class BagScale:
    """Per job: the corrector (its filter state runs through the bag in order) and its tally."""

    def __init__(self, options: BagJobOptions, relative: bool, summary: BagSummary,
                 sparse: SparseDepthStream | None, imu: ImuStream | None = None,
                 transforms: StaticTransforms | None = None) -> None:
        self._options = options
        self._summary = summary
        self._sparse = sparse
        self._imu = imu
        self._transforms = transforms
        self._relative = relative
        # --ground-frame: camera frame_id → (its mount, its own corrector), so two cameras
        # interleaved on one topic (different heights) do not pull one scale filter between them
        self._cameras: dict[str, tuple[CameraMount, ScaleCorrector]] = {}
        self._corrector = ScaleCorrector(options.scale_settings(), relative=relative)
        self._reasons: dict[str, list] = {}  # problem key → [frames, first reason]

    @classmethod
    @contextlib.contextmanager
    def open(cls, input_path: Path, plan: TopicPlan, options: BagJobOptions, relative: bool,
             summary: BagSummary) -> Iterator[BagScale | None]:
        """A BagScale for the job (None when no scale source was asked for)."""
        if options.scale_source == "none":
            yield None
            return
        reader = None
        if plan.sparse_depth_topic is not None or plan.imu_topic is not None or (
                plan.tf_static_topic is not None):
            reader = open_reader(input_path)
        try:
            sparse = (None if plan.sparse_depth_topic is None else SparseDepthStream(
                reader, plan.sparse_depth_topic, int(options.sparse_depth_tolerance * 1e9)))
            imu = (None if plan.imu_topic is None else ImuStream(
                reader, plan.imu_topic, options.gravity_config()))
            transforms = (None if plan.tf_static_topic is None else static_transforms(
                reader, plan.tf_static_topic, options.ground_frame))
            scale = cls(options, relative, summary, sparse, imu, transforms)
            yield scale
            scale.finish()
        finally:
            if reader is not None:
                reader.close()

    def to_metres(self, prediction: np.ndarray, stamp: Stamp, camera: CameraModel | None,
                  units: float = 1.0, bag_time_ns: int = 0) -> tuple[np.ndarray | None, str | None]:
        """(depth in metres, None) or (None, why this frame has no metric depth); `camera` is
        the frame's camera model by the node's rules (the ground plane needs it); `units` the
        focal factor already in the prediction (`ScaleCorrector.correct`). A frame stamped zero
        (a driver that does not stamp) is timed by its `bag_time_ns` for the filter."""
        sparse, missing = (self._sparse_for(stamp, bag_time_ns) if self._sparse is not None
                           else (None, None))
        intrinsics, rays = (camera_geometry(camera) if self._options.scale_source == "ground_plane"
                            else (None, None))
        up = None
        if self._transforms is not None:
            up = self._mount_of(stamp).up
        if self._imu is not None:
            up, missing = self._imu.up(stamp.ns or bag_time_ns)
        out = self._corrector.correct(prediction, (stamp.ns or bag_time_ns) * 1e-9,
                                      sparse_depth=sparse,
                                      intrinsics=intrinsics, rays=rays, missing=missing,
                                      units=units, up=up)
        summary = self._summary
        summary.scales.append(out.factor if out.depth is not None else math.nan)
        summary.scale_states[out.state] = summary.scale_states.get(out.state, 0) + 1
        if out.reason is not None:
            entry = self._reasons.setdefault(out.problem_key, [0, out.reason])
            if not entry[0]:
                where = self._options.sparse_depth_topic or "ground plane"
                if out.code == "no_gravity":
                    where = self._options.imu_topic
                log.warning("%s (%s from frame %s on; later ones are counted in the summary)",
                            out.located(where), out.state, stamp.name)
            entry[0] += 1
        if out.depth is None:
            return None, f"no metric depth: {out.reason}"
        return out.depth, None

    def _mount_of(self, stamp: Stamp) -> CameraMount:
        """The mount of this frame's camera (`--ground-frame`); the corrector becomes that
        camera's own (its settings hold the mount's height, its filter only that camera's
        frames). BagError (the job stops: every frame would be refused alike) when the static
        transforms do not place the camera."""
        frame = stamp.frame_id.lstrip("/")
        if frame not in self._cameras:
            topic, floor = self._options.tf_static_topic, self._options.ground_frame
            if not frame:
                raise BagError(f"--ground-frame: frame {stamp.name} has no frame_id, so its "
                               f"camera cannot be found in {topic}")
            try:
                mount = self._transforms.camera_mount(floor, frame)
            except LookupError as exc:
                raise BagError(f"--ground-frame: {topic}: {exc}") from None
            self._cameras[frame] = (mount, ScaleCorrector(
                self._options.scale_settings(camera_height=mount.camera_height),
                relative=self._relative))
            self._summary.camera_mounts.append(mount.describe())
            log.info("camera mount from %s: %s", topic, mount.describe())
            for hint in self._transforms.warnings(floor, frame):
                log.warning("--ground-frame: %s", hint)
        mount, self._corrector = self._cameras[frame]
        return mount

    def finish(self) -> None:
        self._summary.scale_reasons = {reason: n for n, reason in self._reasons.values()}

    def _sparse_for(self, stamp: Stamp, bag_time_ns: int) -> tuple[np.ndarray | None, str | None]:
        msg, gap = self._sparse.nearest(stamp.ns or bag_time_ns)
        if msg is None:
            tolerance = self._options.sparse_depth_tolerance
            if gap is None:
                return None, "no sparse depth message in the bag"
            return None, (f"no sparse depth within --sparse-depth-tolerance {tolerance:g} s of "
                          f"the frame (nearest {gap * 1e-9:.3f} s away)")
        return decode_sparse_depth(str(msg.encoding), int(msg.height), int(msg.width),
                                   int(msg.step), bool(msg.is_bigendian), msg.data,
                                   str(msg.header.frame_id), stamp.frame_id)
