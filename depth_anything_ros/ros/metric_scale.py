"""The node's side of metric scale: the `sparse_depth` subscription, pairing by stamp, the
`imu` subscription (the floor's normal for a camera that tilts, `ground_normal: imu`), the
shared `ScaleCorrector` (depth_anything_ros.scale, also used by the bag job) and its
/diagnostics status.

Bad input never stops the node: a sparse depth of another size, frame_id or encoding, no
anchors, no usable IMU reading, a refused fit or an unusable camera_height each log one
throttled line naming the topic or parameter and the reason, and the frame is served with the
last scale (for up to `scale_max_age`) or unscaled — which the diagnostics status says.
"""
from __future__ import annotations

import math
import threading
import time
from collections import deque

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from sensor_msgs.msg import Image, Imu

from depth_anything_ros.geometry.camera_model import CameraModel
from depth_anything_ros.ros.input_qos import MatchedSubscription
from depth_anything_ros.ros.messages import stamp_ns
from depth_anything_ros.ros.params import NodeSettings
from depth_anything_ros.scale import (Correction, ScaleCorrector, ScaleSettings, camera_geometry,
                                      decode_sparse_depth)
from depth_anything_ros.scale.gravity import GravityConfig, GravityFilter, pitch_roll_of_up

SPARSE_BUFFER = 32  # sparse depth messages kept for pairing (≈ 1 s of a 30 Hz sensor)
IMU_QUEUE = 50  # an IMU publishes at 100-400 Hz; each reading only updates an average
ALIVE_S = 1.0  # a sensor silent this long is not waited for (sparse_depth_wait)
FALLING_BACK = {"unscaled": "publishing the model's own (unscaled) depth",
                "static": "using relative_scale/relative_shift",
                "no_metres": "no depth published (a relative model needs a scale)"}


def scale_settings(s: NodeSettings) -> ScaleSettings:
    """The corrector's settings from the node's parameters (same names, see params.py)."""
    return ScaleSettings(
        source=s.scale_source, camera_height=s.camera_height,
        camera_pitch_deg=s.camera_pitch_deg, camera_roll_deg=s.camera_roll_deg,
        smoothing_time_s=s.scale_smoothing, gate=s.scale_gate,
        reset_frames=s.scale_reset_frames, max_age_s=s.scale_max_age,
        min_anchors=s.scale_min_anchors, scale_model=s.scale_model,
        ground_max_correction=s.ground_max_correction)


def gravity_config(s: NodeSettings) -> GravityConfig:
    """The IMU average's settings from the node's parameters (ground_normal imu)."""
    return GravityConfig.from_options((s.imu_roll_deg, s.imu_pitch_deg, s.imu_yaw_deg),
                                      s.imu_smoothing, s.imu_orientation)


class SparseDepthBuffer:
    """The latest sparse depth messages, thread-safe; `nearest` pairs one with an image stamp,
    waiting a little for one that has not arrived yet."""

    def __init__(self, capacity: int = SPARSE_BUFFER) -> None:
        self._messages: deque[tuple[int, Image]] = deque(maxlen=capacity)
        self._arrived = threading.Condition()
        self._last_arrival: float | None = None  # monotonic time of the newest message

    def put(self, msg: Image) -> None:
        with self._arrived:
            self._messages.append((stamp_ns(msg.header.stamp), msg))
            self._last_arrival = time.monotonic()
            self._arrived.notify_all()

    def nearest(self, stamp_ns: int, tolerance_ns: int,
                wait_s: float = 0.0) -> tuple[Image | None, int | None]:
        """(message within the tolerance or None, |Δt| in ns of the nearest or None if empty).

        A lidar's projected scan often arrives after the camera frame it belongs to: with
        `wait_s`, a frame with no partner yet waits up to that long for one, but only while
        one may still come (the sensor sent something in the last `ALIVE_S`, nothing newer
        than the frame's window has arrived, and the frame is stamped)."""
        deadline = time.monotonic() + wait_s
        with self._arrived:
            while True:
                msg, gap = self._nearest(stamp_ns, tolerance_ns)
                if msg is not None or not self._worth_waiting(stamp_ns, tolerance_ns):
                    return msg, gap
                left = deadline - time.monotonic()
                if left <= 0 or not self._arrived.wait(left):
                    return self._nearest(stamp_ns, tolerance_ns)

    def _nearest(self, stamp_ns: int, tolerance_ns: int) -> tuple[Image | None, int | None]:
        if not self._messages:
            return None, None
        # the newest among equally near ones: a sensor that does not stamp (all zero)
        # must not be paired with the oldest message kept
        gap, msg = min(((abs(t - stamp_ns), m) for t, m in reversed(self._messages)),
                       key=lambda pair: pair[0])
        return (msg if gap <= tolerance_ns else None), gap

    def _worth_waiting(self, stamp_ns: int, tolerance_ns: int) -> bool:
        return (stamp_ns > 0 and self._last_arrival is not None
                and time.monotonic() - self._last_arrival < ALIVE_S
                and self._messages[-1][0] < stamp_ns + tolerance_ns)


class MetricScale:
    """Owned by the node: `to_metres` per frame (worker thread), `diagnostics` (timer)."""

    def __init__(self, node, settings: NodeSettings, relative: bool, log) -> None:
        self._relative = relative
        self._log = log  # ThrottledLog(level, key, text)
        self._node_name = node.get_fully_qualified_name()
        self._clock = node.get_clock()
        self._corrector = ScaleCorrector(
            scale_settings(settings), relative=relative,
            fallback=(settings.relative_scale, settings.relative_shift))
        self._sparse = SparseDepthBuffer()
        self._last: Correction | None = None
        self._lock = threading.Lock()
        self.topic = None
        self.imu_topic = None
        self._gravity = None  # GravityFilter, with ground_normal imu
        self._gravity_lock = threading.Lock()  # not _lock: a fit must not hold up the IMU
        self._up = None  # the floor normal of the latest frame (ground_normal imu)
        if settings.ground_normal == "imu" and settings.scale_source != "ground_plane":
            log("warn", "scale:ground_normal", "parameter 'ground_normal' is 'imu', but "
                f"scale_source is '{settings.scale_source}': the IMU is only read for "
                "scale_source ground_plane, so no 'imu' subscription is made")
        if settings.scale_source == "ground_plane" and settings.ground_normal == "imu":
            self.imu_topic = node.resolve_topic_name("imu")
            self._gravity = GravityFilter(gravity_config(settings))
            self.imu_input = MatchedSubscription(node, Imu, self.imu_topic, self._imu,
                                                 IMU_QUEUE, settings.input_reliability)
        if settings.scale_source == "sparse_depth":
            self.topic = node.resolve_topic_name("sparse_depth")
            # like the camera inputs: reliability follows the publishers under "auto"
            self.input = MatchedSubscription(node, Image, self.topic, self._sparse.put,
                                             settings.input_queue_size,
                                             settings.input_reliability)

    def update_settings(self, settings: NodeSettings) -> None:
        with self._lock:
            self._corrector.update_settings(scale_settings(settings))
        if self._gravity is not None:
            with self._gravity_lock:
                self._gravity.config = gravity_config(settings)

    def _imu(self, msg: Imu) -> None:
        time_ns = stamp_ns(msg.header.stamp) or self._clock.now().nanoseconds
        with self._gravity_lock:
            self._gravity.add_imu(time_ns * 1e-9, msg)

    def to_metres(self, values: np.ndarray, header, camera: CameraModel | None, s: NodeSettings,
                  units: float = 1.0) -> np.ndarray | None:
        """Depth in metres for this frame (None: a relative model had no scale at all).
        `units`: the focal factor already in `values` (`ScaleCorrector.correct`). A frame
        stamped zero (a driver that does not stamp) is timed by the node's clock for the
        filter, so smoothing and `scale_max_age` still work."""
        sparse, missing = (self._sparse_for(header, s) if s.scale_source == "sparse_depth"
                           else (None, None))
        intrinsics, rays = camera_geometry(camera) if s.scale_source == "ground_plane" \
            else (None, None)
        time_ns = stamp_ns(header.stamp) or self._clock.now().nanoseconds
        up = None
        if self._gravity is not None:
            with self._gravity_lock:
                up, missing = self._gravity.up(time_ns * 1e-9)
        with self._lock:
            self._up = up
            out = self._corrector.correct(values, time_ns * 1e-9, sparse_depth=sparse,
                                          intrinsics=intrinsics, rays=rays, missing=missing,
                                          units=units, up=up)
            self._last = out
        if out.reason is not None:
            where = self.topic if s.scale_source == "sparse_depth" else "ground_plane"
            if out.code == "camera_height":
                where = "parameter 'camera_height'"
            elif out.code == "no_gravity":
                where = self.imu_topic
            action = (f"holding the last scale {out.factor:.3g}" if out.state == "held"
                      else FALLING_BACK.get(out.state, out.state))
            self._log("warn", f"scale:{out.problem_key}", f"{out.located(where)}; {action}")
        return out.depth

    def _sparse_for(self, header, s: NodeSettings) -> tuple[np.ndarray | None, str | None]:
        """The paired sparse depth in metres, or (None, why not)."""
        msg, gap = self._sparse.nearest(stamp_ns(header.stamp), int(s.sparse_depth_tolerance * 1e9),
                                        s.sparse_depth_wait)
        if msg is None:
            if gap is None:
                return None, "no sparse depth received yet"
            return None, (f"no sparse depth within sparse_depth_tolerance = "
                          f"{s.sparse_depth_tolerance:g} s of the image stamp (nearest "
                          f"{gap * 1e-9:.3f} s away)")
        return decode_sparse_depth(msg.encoding, msg.height, msg.width, msg.step,
                                   bool(msg.is_bigendian), msg.data, msg.header.frame_id,
                                   header.frame_id)

    def diagnostics(self) -> list[DiagnosticStatus]:
        """One status for the scale (none when source is none and the model is metric)."""
        with self._lock:
            settings, last, up = self._corrector.settings, self._last, self._up
        if settings.source == "none" and not self._relative:
            return []
        values = {"scale_source": settings.source}
        if self._gravity is not None:  # what the IMU says of the camera: check its rotation
            pitch, roll = pitch_roll_of_up(up) if up is not None else (math.nan, math.nan)
            values.update(imu_camera_pitch_deg=f"{pitch:.1f}", imu_camera_roll_deg=f"{roll:.1f}")
        if last is None:
            level, message = DiagnosticStatus.OK, "waiting for frames"
        else:
            values.update(last.summary(self._relative))
            if last.state in ("anchored", "off"):
                level = DiagnosticStatus.OK
                message = f"{last.state}: scale {last.scale:.4g}"
            elif last.state == "held":
                level = DiagnosticStatus.WARN
                message = f"holding scale {last.scale:.4g}: {last.reason}"
            else:
                level = DiagnosticStatus.WARN
                message = f"{FALLING_BACK.get(last.state, last.state)}: {last.reason}"
        return [DiagnosticStatus(
            level=level, name=f"{self._node_name}: metric scale", message=message,
            hardware_id="", values=[KeyValue(key=k, value=v) for k, v in values.items()])]
