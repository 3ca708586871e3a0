"""The in-process ROS ends of the node benchmark: a camera publishing real frames and a
receiver that times each frame's depth image + cloud (CLOCK_MONOTONIC stamps, so latency can be
read in any process)."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
TUM = Path(os.environ.get("DAR_TUM_DIR", ROOT / ".." / "shared" / "data" / "tum_fr1_rpy"))
FRAME_ID = "camera_optical_frame"


def camera_frames(height: int, width: int, count: int = 8) -> list[np.ndarray]:
    """The first `count` TUM fr1_rpy frames (resized if another size is asked), else synthetic."""
    import cv2

    listing = TUM / "rgb.txt"
    if listing.is_file():
        names = [line.split()[1] for line in listing.read_text().splitlines()
                 if line and not line.startswith("#")][:count]
        frames = [cv2.cvtColor(cv2.imread(str(TUM / n)), cv2.COLOR_BGR2RGB) for n in names]
        return [f if f.shape[:2] == (height, width) else cv2.resize(f, (width, height))
                for f in frames]
    rng = np.random.default_rng(0)
    v, u = np.mgrid[0:height, 0:width]
    return [((np.stack([(u + 7 * i) % 256, (v + 3 * i) % 256, (u + v) % 256], -1)
              + rng.integers(0, 32, (height, width, 3))) % 256).astype(np.uint8)
            for i in range(count)]


def camera_info_msg(width: int, height: int):
    from sensor_msgs.msg import CameraInfo

    f = 0.8 * width
    info = CameraInfo(width=width, height=height, distortion_model="plumb_bob", d=[0.0] * 5)
    info.k = [f, 0.0, (width - 1) / 2, 0.0, f, (height - 1) / 2, 0.0, 0.0, 1.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [f, 0.0, (width - 1) / 2, 0.0, 0.0, f, (height - 1) / 2, 0.0, 0.0, 0.0, 1.0, 0.0]
    info.header.frame_id = FRAME_ID
    return info


class Camera:
    """Publishes reliable Image (rgb8) + CameraInfo at a rate while started; each stamp is the
    CLOCK_MONOTONIC publish time (so receivers in any process can compute latency)."""

    def __init__(self, context, namespace: str, frames: list[np.ndarray]) -> None:
        from rclpy.node import Node
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, Image

        from depth_anything_ros.ros.messages import image_msg

        self.node = Node("bench_camera", namespace=namespace, context=context)
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.node.create_publisher(Image, "image", qos)
        self.info_pub = self.node.create_publisher(CameraInfo, "camera_info", qos)
        height, width = frames[0].shape[:2]
        self.info = camera_info_msg(width, height)
        self.messages = [image_msg(self.info.header, height, width, "rgb8", width * 3, f)
                         for f in frames]
        self.published = 0
        self._rate = 0.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def start(self, rate: float) -> None:
        self._rate = rate
        self._wake.set()

    def pause(self) -> None:
        self._rate = 0.0

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(5)

    def _loop(self) -> None:
        index = 0
        while not self._stop.is_set():
            if self._rate <= 0:
                self._wake.wait(0.05)
                self._wake.clear()
                continue
            start = time.monotonic()
            msg = self.messages[index % len(self.messages)]
            msg.header.stamp.sec, msg.header.stamp.nanosec = int(start), int(start % 1 * 1e9)
            msg.header.frame_id = FRAME_ID
            self.info.header = msg.header
            self.info_pub.publish(self.info)
            self.image_pub.publish(msg)
            self.published += 1
            index += 1
            period = 1.0 / self._rate if self._rate > 0 else 0.05
            time.sleep(max(0.0, start + period - time.monotonic()))


class Receiver:
    """Collects (completion time, latency) of frames whose depth/image and depth/points both
    arrived."""

    def __init__(self, context, namespace: str, on_complete=None) -> None:
        from rclpy.node import Node
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image, PointCloud2

        self.node = Node("bench_subscriber", namespace=namespace, context=context)
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(Image, "depth/image", lambda m: self._got(m, 0), qos)
        self.node.create_subscription(PointCloud2, "depth/points", lambda m: self._got(m, 1), qos)
        self._partial: dict[tuple[int, int], set] = {}
        self._lock = threading.Lock()
        self.completed: list[tuple[float, float]] = []
        self._on_complete = on_complete

    def connected(self) -> bool:
        return all(self.node.count_publishers(self.node.resolve_topic_name(t)) > 0
                   for t in ("depth/image", "depth/points"))

    def _got(self, msg, kind: int) -> None:
        now = time.monotonic()
        key = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        with self._lock:
            seen = self._partial.setdefault(key, set())
            seen.add(kind)
            if len(seen) < 2:
                return
            del self._partial[key]
            entry = (now, now - (key[0] + key[1] * 1e-9))
            self.completed.append(entry)
        if self._on_complete is not None:
            self._on_complete(*entry)


def spin_in_thread(executor) -> threading.Thread:
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    return thread
