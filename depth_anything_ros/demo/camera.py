"""A synthetic camera driver: pre-rendered frames out as Image (rgb8) + CameraInfo at a steady rate.

Like a real driver it stamps each frame with its own clock and gives Image and CameraInfo the
same header; like most drivers it publishes with the sensor-data QoS (best effort), which the
depth node must accept. Before the measured run it shows the first frame over and over
("warm-up") so the node can load its model; those stamps are never scored.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence

from rclpy.context import Context
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from depth_anything_ros.demo.frames import DemoFrame
from depth_anything_ros.ros.messages import image_msg

FRAME_ID = "camera_optical_frame"


def stamp_ns(stamp) -> int:
    """builtin_interfaces/Time → integer nanoseconds (the key that matches frames across topics)."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def camera_info_for(frame: DemoFrame, header: Header) -> CameraInfo:
    """A pinhole CameraInfo without distortion whose K and P carry the frame's intrinsics."""
    info = CameraInfo(header=header, height=frame.height, width=frame.width)
    info.distortion_model = "plumb_bob"
    info.d = [0.0] * 5
    info.k = [frame.fx, 0.0, frame.cx, 0.0, frame.fy, frame.cy, 0.0, 0.0, 1.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [frame.fx, 0.0, frame.cx, 0.0, 0.0, frame.fy, frame.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


class SyntheticCamera(Node):
    """Publishes ``image`` and ``camera_info``; remembers which frame each run stamp carried."""

    def __init__(self, frames: Sequence[DemoFrame], rate_hz: float, *, name: str = "demo_camera",
                 context: Context | None = None):
        super().__init__(name, context=context)
        if not frames:
            raise ValueError("the synthetic camera needs at least one frame")
        self._frames = list(frames)
        self._image_pub = self.create_publisher(Image, "image", qos_profile_sensor_data)
        self._info_pub = self.create_publisher(CameraInfo, "camera_info", qos_profile_sensor_data)
        self._lock = threading.Lock()
        self._running = False
        self._next = 0
        self.published: dict[int, int] = {}  # run stamp (ns) → frame index
        self.publish_times_s: list[float] = []  # run stamps, seconds
        self._warmup_stamps: set[int] = set()
        self.finished = threading.Event()
        self._timer = self.create_timer(1.0 / rate_hz, self._tick)

    def start_run(self) -> None:
        """Leave warm-up: from the next tick publish frames 0..N-1 once each, then stop."""
        with self._lock:
            self._running, self._next = True, 0

    def stop(self) -> None:
        """Publish nothing more (Ctrl-C or the end of the run)."""
        with self._lock:
            self._running = False
            self._timer.cancel()
        self.finished.set()

    def frame_for_stamp(self, stamp: int) -> int | None:
        """Index of the frame published in the run with this stamp (None: warm-up or unknown)."""
        with self._lock:
            return self.published.get(stamp)

    def warmup_stamp(self, stamp: int) -> bool:
        """Whether this stamp was one of the warm-up frames (published before the run)."""
        with self._lock:
            return stamp in self._warmup_stamps

    def last_run_stamp(self) -> int | None:
        with self._lock:
            return max(self.published) if self.published else None

    def snapshot(self) -> dict:
        """Counts and times of what was published (safe while the timer still runs)."""
        with self._lock:
            return {
                "published_stamps": list(self.published),
                "publish_times_s": list(self.publish_times_s),
                "warmup_published": len(self._warmup_stamps),
                "frames_available": len(self._frames),
            }

    def _tick(self) -> None:
        with self._lock:
            if self.finished.is_set():
                return
            index = self._next if self._running else 0
            header = Header(frame_id=FRAME_ID, stamp=self.get_clock().now().to_msg())
            key = stamp_ns(header.stamp)
            if self._running:
                self.published[key] = index
                self.publish_times_s.append(key * 1e-9)
                self._next += 1
            else:
                self._warmup_stamps.add(key)
            last = self._running and self._next >= len(self._frames)
        frame = self._frames[index]
        image = image_msg(header, frame.height, frame.width, "rgb8", frame.width * 3, frame.rgb)
        # CameraInfo first, so the node already holds this frame's intrinsics when the image lands.
        self._info_pub.publish(camera_info_for(frame, header))
        self._image_pub.publish(image)
        if last:
            self.stop()
