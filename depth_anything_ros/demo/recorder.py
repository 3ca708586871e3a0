"""The demo's listener: receives the node's outputs as any consumer would and scores them.

Each depth image is matched by its header stamp to the synthetic frame that carried the same
stamp (the node keeps the input header), then scored against that frame's ground truth right
away, so only numbers are kept, plus the newest few images and clouds for the preview.
PointCloud2 is read through its ``fields`` (name, offset, datatype), as RViz reads it.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from rclpy.context import Context
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from depth_anything_ros.conversions import decode_depth
from depth_anything_ros.demo.camera import stamp_ns
from depth_anything_ros.demo.frames import DemoFrame
from depth_anything_ros.geometry.pointcloud import unpack_rgb
from depth_anything_ros.metrics import depth_metrics, valid_depth_mask

log = logging.getLogger(__name__)

# How many of the newest run images / clouds stay in memory for the preview.
KEEP_FOR_PREVIEW = 6
_POINTFIELD_DTYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 8: "f8"}


@dataclass
class DepthRecord:
    """One received depth image: when, which synthetic frame, and how good."""

    stamp_ns: int
    receipt_s: float
    frame_index: int | None
    metrics: dict[str, float] | None = None
    valid_fraction: float | None = None  # valid-GT pixels that also have a finite prediction


def cloud_arrays(msg: PointCloud2) -> tuple[np.ndarray, np.ndarray | None]:
    """PointCloud2 → xyz float32 (height, width, 3) and, with an ``rgb`` field, RGB uint8 (h, w, 3)."""
    fields = {f.name: f for f in msg.fields}
    missing = [name for name in ("x", "y", "z") if name not in fields]
    if missing:
        raise ValueError(f"depth/points: PointCloud2 has no field(s) {missing}")
    order = ">" if msg.is_bigendian else "<"
    names, formats, offsets = [], [], []
    for name in ("x", "y", "z", "rgb"):
        if name in fields:
            names.append(name)
            formats.append(order + _POINTFIELD_DTYPES[fields[name].datatype])
            offsets.append(fields[name].offset)
    dtype = np.dtype({"names": names, "formats": formats, "offsets": offsets,
                      "itemsize": msg.point_step})
    raw = np.frombuffer(msg.data, np.uint8)
    needed = msg.row_step * msg.height
    if raw.size < needed or msg.row_step < msg.width * msg.point_step:
        raise ValueError(f"depth/points: {raw.size} data bytes for {msg.height} rows of "
                         f"{msg.row_step} bytes ({msg.width} points of {msg.point_step} bytes)")
    rows = raw[:needed].reshape(msg.height, msg.row_step)[:, : msg.width * msg.point_step]
    points = np.ascontiguousarray(rows).view(dtype).reshape(msg.height, msg.width)
    xyz = np.stack([points["x"], points["y"], points["z"]], axis=-1).astype(np.float32)
    rgb = unpack_rgb(points["rgb"].astype(np.float32)) if "rgb" in names else None
    return xyz, rgb


class DepthRecorder(Node):
    """Subscribes to depth/image, depth/camera_info and depth/points (reliable, as the node offers)."""

    def __init__(
        self,
        frames: Sequence[DemoFrame],
        frame_for_stamp: Callable[[int], int | None],
        is_warmup_stamp: Callable[[int], bool],
        *,
        name: str = "demo_recorder",
        context: Context | None = None,
    ):
        super().__init__(name, context=context)
        self._is_warmup_stamp = is_warmup_stamp
        self._frames = frames
        self._frame_for_stamp = frame_for_stamp
        self._lock = threading.Lock()
        self.first_output = threading.Event()  # any depth image, warm-up included
        self.depth_records: list[DepthRecord] = []
        self.info_receipts: dict[int, float] = {}  # run stamp → receipt time (s)
        self.info_intrinsics_ok: int = 0
        self.points_receipts: dict[int, float] = {}
        self.warmup_outputs = 0
        self.unknown_stamps = 0  # outputs whose stamp no published frame carried
        self.frame_ids: set[str] = set()
        self.decode_errors: list[str] = []
        self._depth_images: OrderedDict[int, np.ndarray] = OrderedDict()
        self._clouds: OrderedDict[int, tuple[np.ndarray, np.ndarray | None]] = OrderedDict()
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.create_subscription(Image, "depth/image", self._on_depth, qos)
        self.create_subscription(CameraInfo, "depth/camera_info", self._on_info, qos)
        self.create_subscription(PointCloud2, "depth/points", self._on_points, qos)

    # --- callbacks (executor thread) ---------------------------------------------------------
    def _on_depth(self, msg: Image) -> None:
        receipt = time.time()
        self.first_output.set()
        key = stamp_ns(msg.header.stamp)
        index = self._frame_for_stamp(key)
        with self._lock:
            self.frame_ids.add(msg.header.frame_id)
        if index is None:
            warmup = self._is_warmup_stamp(key)
            with self._lock:
                if warmup:
                    self.warmup_outputs += 1
                else:
                    self.unknown_stamps += 1
            return
        record = DepthRecord(key, receipt, index)
        try:
            depth = decode_depth(msg.encoding, msg.height, msg.width, msg.step,
                                 bool(msg.is_bigendian), msg.data)
            record.metrics, record.valid_fraction = self._score(depth, self._frames[index].depth)
        except ValueError as exc:
            self._note_error(f"depth/image at stamp {key}: {exc}")
            depth = None
        with self._lock:
            self.depth_records.append(record)
            if depth is not None:
                _keep_newest(self._depth_images, key, depth)

    def _on_info(self, msg: CameraInfo) -> None:
        receipt = time.time()
        key = stamp_ns(msg.header.stamp)
        index = self._frame_for_stamp(key)
        if index is None:
            return
        frame = self._frames[index]
        same = (msg.width, msg.height) != (frame.width, frame.height) or np.allclose(
            [msg.k[0], msg.k[4], msg.k[2], msg.k[5]], [frame.fx, frame.fy, frame.cx, frame.cy],
            rtol=1e-5)
        with self._lock:
            self.info_receipts[key] = receipt
            self.info_intrinsics_ok += int(same)

    def _on_points(self, msg: PointCloud2) -> None:
        receipt = time.time()
        key = stamp_ns(msg.header.stamp)
        if self._frame_for_stamp(key) is None:
            return
        try:
            cloud = cloud_arrays(msg)
        except (ValueError, KeyError) as exc:
            self._note_error(f"depth/points at stamp {key}: {exc}")
            cloud = None
        with self._lock:
            self.points_receipts[key] = receipt
            if cloud is not None:
                _keep_newest(self._clouds, key, cloud)

    # --- results (main thread) ---------------------------------------------------------------
    @staticmethod
    def _score(pred: np.ndarray, gt: np.ndarray) -> tuple[dict[str, float] | None, float]:
        if pred.shape != gt.shape:
            raise ValueError(f"depth image is {pred.shape[1]}x{pred.shape[0]}, the camera "
                             f"frame was {gt.shape[1]}x{gt.shape[0]}")
        gt_valid = valid_depth_mask(gt)
        both = gt_valid & np.isfinite(pred) & (pred > 0)
        fraction = float(both.sum() / max(int(gt_valid.sum()), 1))
        return (depth_metrics(pred, gt, both) if both.any() else None), fraction

    def _note_error(self, text: str) -> None:
        with self._lock:
            if len(self.decode_errors) < 20:
                self.decode_errors.append(text)
        log.warning("%s", text)

    def snapshot(self) -> dict:
        """Copies of everything counted so far (safe while callbacks still run)."""
        with self._lock:
            return {
                "depth_records": list(self.depth_records),
                "info_receipts": dict(self.info_receipts),
                "info_intrinsics_ok": self.info_intrinsics_ok,
                "points_receipts": dict(self.points_receipts),
                "warmup_outputs": self.warmup_outputs,
                "unknown_stamps": self.unknown_stamps,
                "frame_ids": sorted(self.frame_ids),
                "decode_errors": list(self.decode_errors),
            }

    def has_all_outputs(self, stamp: int) -> bool:
        """Whether depth/image, depth/camera_info and depth/points with this stamp all arrived."""
        with self._lock:
            return (stamp in self.points_receipts and stamp in self.info_receipts
                    and any(r.stamp_ns == stamp for r in self.depth_records[-5:]))

    def output_count(self) -> int:
        with self._lock:
            return len(self.depth_records) + len(self.points_receipts) + len(self.info_receipts)

    def preview_sample(self) -> tuple[int, np.ndarray, np.ndarray, np.ndarray | None] | None:
        """(frame index, depth, cloud xyz, cloud rgb) of the newest stamp with both depth and cloud."""
        with self._lock:
            for key in reversed(self._depth_images):
                if key in self._clouds:
                    xyz, rgb = self._clouds[key]
                    return self._frame_for_stamp(key), self._depth_images[key], xyz, rgb
            if self._depth_images:  # no cloud arrived (publish_points off?): show depth alone
                key = next(reversed(self._depth_images))
                depth = self._depth_images[key]
                empty = np.full(depth.shape + (3,), np.nan, np.float32)
                return self._frame_for_stamp(key), depth, empty, None
        return None


def _keep_newest(store: OrderedDict, key: int, value) -> None:
    store[key] = value
    while len(store) > KEEP_FOR_PREVIEW:
        store.popitem(last=False)
