"""The whole depth node against the bare DepthEstimator on the same frames, side by side.

One process: a random metric model (default the tiny `vitt`; `--encoder vits` for ViT-S) is
saved to a temporary .safetensors and loaded as a `DepthEstimator`; its bare `predict` is timed
on the frames, then the real `DepthNode` wraps that same estimator in this process under rclpy (own
executor thread, DDS on LOCALHOST, the caller's ROS_DOMAIN_ID) and a bench node feeds it
640×480 rgb8 Image + CameraInfo:

  closed loop  publish a frame, wait for its depth/image AND depth/points, then the next (one
               frame in flight, so transport and executor time add to the model time);
  open loop    publish at a fixed rate (--rate, default 1.5 × the bare rate, i.e. saturated)
               for --seconds: frames out per second = the node's throughput, ratio node / bare
               (goal ≥ 0.9), dropped frames (newest-wins mailbox), latency p50/p95 from publish
               to depth/points received.

Bare and node alternate frame by frame (load on a shared machine moves, and hits both alike),
and the depth → PointCloud2 build (organized_cloud + cloud_to_msg) at that size is timed against
the model time.

    ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_DOMAIN_ID=17 python bench/node_throughput.py
    python bench/node_throughput.py --encoder vits --device cuda --frames 200
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default="vitt", help="model preset (vitpico, vitt, vits, ...)")
    parser.add_argument("--input-size", type=int, default=518, help="network input short side")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N (node and bare alike)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "bf16"))
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: OMP_NUM_THREADS or torch's)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--frames", type=int, default=20,
                        help="timed frames, each run bare and then through the node")
    parser.add_argument("--warmup", type=int, default=3, help="untimed frames first")
    parser.add_argument("--rate", type=float, default=None,
                        help="open-loop publish rate in Hz (default 1.5 × the bare rate)")
    parser.add_argument("--seconds", type=float, default=10.0, help="open-loop duration")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds to wait for one frame's outputs before giving up")
    return parser.parse_args()


# --------------------------------------------------------------------------- inputs and model

def synthetic_frames(count: int, height: int, width: int) -> list[np.ndarray]:
    """Distinct RGB uint8 frames (moving gradients + noise), so no frame is trivially cached."""
    rng = np.random.default_rng(0)
    v, u = np.mgrid[0:height, 0:width]
    frames = []
    for i in range(count):
        base = np.stack([(u + 7 * i) % 256, (v + 3 * i) % 256, (u + v + 11 * i) % 256], axis=-1)
        noise = rng.integers(0, 32, size=(height, width, 3))
        frames.append(((base + noise) % 256).astype(np.uint8))
    return frames


def random_weights(encoder: str, input_size: int, directory: str) -> Path:
    """A random metric Depth Anything of `encoder` size saved as our .safetensors."""
    import torch

    from depth_anything_ros.model import save_model
    from depth_anything_ros.model.depth_anything import DepthAnything, ModelConfig

    torch.manual_seed(0)
    config = ModelConfig.preset(encoder, variant="metric", max_depth=20.0, input_size=input_size)
    path = Path(directory) / f"random_{encoder}.safetensors"
    save_model(DepthAnything(config), path, provenance={"bench": "random init, node_throughput"})
    return path


def intrinsics_for(width: int, height: int):
    from depth_anything_ros.geometry.camera import CameraIntrinsics

    focal = 0.8 * width
    return CameraIntrinsics(focal, focal, (width - 1) / 2, (height - 1) / 2, width, height)


# --------------------------------------------------------------------------- bare measurements

def bare_frame(estimator, rgb: np.ndarray) -> tuple[float, float]:
    """(seconds of one `predict` including pre/post-processing, its model forward seconds)."""
    start = time.perf_counter()
    result = estimator.predict(rgb)
    return time.perf_counter() - start, result.model_time_s


def cloud_build_seconds(depth: np.ndarray, rgb: np.ndarray, repeats: int = 10) -> float:
    """Median time of depth → organized cloud → PointCloud2 message, as the node does it."""
    from std_msgs.msg import Header

    from depth_anything_ros.geometry.pointcloud import organized_cloud
    from depth_anything_ros.ros.messages import cloud_to_msg

    intrinsics = intrinsics_for(depth.shape[1], depth.shape[0])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        cloud_to_msg(organized_cloud(depth, rgb, intrinsics), Header(frame_id="camera"))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# --------------------------------------------------------------------------- the node under test

def start_depth_node(context, estimator, args: argparse.Namespace):
    """The real DepthNode in this process around the bare run's estimator; (node, executor)."""
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.parameter import Parameter

    from depth_anything_ros.ros.node import DepthNode

    overrides = [
        Parameter("device", value=args.device),
        Parameter("precision", value=args.precision),
        Parameter("publish_points", value=True),
        Parameter("publish_colored", value=False),
    ]
    node = DepthNode(estimator=estimator, context=context, parameter_overrides=overrides)
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    executor.add_node(node)
    threading.Thread(target=executor.spin, name="depth_node_executor", daemon=True).start()
    return node, executor


@dataclass
class Pending:
    published: float
    got: set = field(default_factory=set)


class Feeder:
    """Publishes Image + CameraInfo and collects depth/image and depth/points by stamp."""

    def __init__(self, context, frames: list[np.ndarray]):
        from rclpy.node import Node
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, Image, PointCloud2

        from depth_anything_ros.ros.messages import image_msg

        self.node = Node("node_throughput_bench", context=context)
        self._image_msg = image_msg
        self.frames = frames
        reliable = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.node.create_publisher(Image, "image", reliable)
        self.info_pub = self.node.create_publisher(CameraInfo, "camera_info", reliable)
        self.node.create_subscription(Image, "depth/image", lambda m: self._got(m, "depth"),
                                      reliable)
        self.node.create_subscription(PointCloud2, "depth/points",
                                      lambda m: self._got(m, "points"), reliable)
        self.lock = threading.Lock()
        self.done = threading.Condition(self.lock)
        self.pending: dict[int, Pending] = {}
        self.latencies: list[float] = []
        self.completed = 0
        self.next_id = 1
        height, width = frames[0].shape[:2]
        self.info = self._camera_info(CameraInfo, width, height)

    def _camera_info(self, cls, width: int, height: int):
        k = intrinsics_for(width, height)
        info = cls(width=width, height=height, distortion_model="plumb_bob", d=[0.0] * 5)
        info.k = [k.fx, 0.0, k.cx, 0.0, k.fy, k.cy, 0.0, 0.0, 1.0]
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        info.p = [k.fx, 0.0, k.cx, 0.0, 0.0, k.fy, k.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
        return info

    def prime_camera_info(self, settle_s: float = 0.5) -> None:
        """Publish the CameraInfo ahead of the first image: the node pairs by frame_id, and an
        info racing its image on another topic would leave the first frame without points."""
        from std_msgs.msg import Header

        self.info.header = Header(frame_id="camera_optical_frame")
        self.info_pub.publish(self.info)
        time.sleep(settle_s)

    def publish(self) -> int:
        """Publish the next frame (stamp.sec = its id); returns the id."""
        from std_msgs.msg import Header

        with self.lock:
            frame_id, self.next_id = self.next_id, self.next_id + 1
            self.pending[frame_id] = Pending(time.perf_counter())
        rgb = self.frames[frame_id % len(self.frames)]
        header = Header(frame_id="camera_optical_frame")
        header.stamp.sec = frame_id
        self.info.header = header
        self.info_pub.publish(self.info)
        height, width = rgb.shape[:2]
        self.image_pub.publish(self._image_msg(header, height, width, "rgb8", width * 3, rgb))
        return frame_id

    def _got(self, msg, kind: str) -> None:
        now = time.perf_counter()
        with self.lock:
            entry = self.pending.get(msg.header.stamp.sec)
            if entry is None:
                return
            entry.got.add(kind)
            if entry.got == {"depth", "points"}:
                del self.pending[msg.header.stamp.sec]
                self.latencies.append(now - entry.published)
                self.completed += 1
                self.done.notify_all()

    def wait_for(self, frame_id: int, timeout: float) -> bool:
        with self.lock:
            return self.done.wait_for(lambda: frame_id not in self.pending, timeout)

    def reset(self) -> None:
        with self.lock:
            self.pending.clear()
            self.latencies.clear()
            self.completed = 0


def wait_for_subscribers(feeder: Feeder, timeout: float) -> None:
    """DDS discovery: the node must see our subscriptions (lazy) and we its subscription."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (feeder.image_pub.get_subscription_count() > 0
                and feeder.node.count_publishers("depth/points") > 0):
            return
        time.sleep(0.05)
    raise RuntimeError("depth node did not connect to image/depth/points within "
                       f"{timeout:.0f} s (ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID')})")


def closed_loop(feeder: Feeder, count: int, warmup: int, timeout: float) -> float | None:
    """Frames/s when each frame is published as soon as the previous one's outputs arrived."""
    for _ in range(warmup):
        if not feeder.wait_for(feeder.publish(), timeout):
            raise RuntimeError(f"no depth/image + depth/points within {timeout} s (warm-up)")
    feeder.reset()
    if count == 0:
        return None
    start = time.perf_counter()
    for _ in range(count):
        if not feeder.wait_for(feeder.publish(), timeout):
            raise RuntimeError(f"no depth/image + depth/points within {timeout} s")
    return count / (time.perf_counter() - start)


def node_frame(feeder: Feeder, timeout: float) -> float:
    """Seconds from publishing one frame to having its depth/image and depth/points."""
    start = time.perf_counter()
    if not feeder.wait_for(feeder.publish(), timeout):
        raise RuntimeError(f"no depth/image + depth/points within {timeout} s")
    return time.perf_counter() - start


def open_loop(feeder: Feeder, rate: float, seconds: float, drain: float) -> dict:
    """Publish at `rate` Hz for `seconds`; then wait `drain` s for the last outputs."""
    feeder.reset()
    period = 1.0 / rate
    published = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        feeder.publish()
        published += 1
        time.sleep(max(0.0, start + published * period - time.perf_counter()))
    elapsed = time.perf_counter() - start
    time.sleep(drain)
    with feeder.lock:
        latencies = sorted(feeder.latencies)
        completed = feeder.completed
    return {
        "published": published, "completed": completed, "dropped": published - completed,
        "in_hz": published / elapsed, "out_hz": completed / elapsed,
        "p50_ms": 1000 * percentile(latencies, 50), "p95_ms": 1000 * percentile(latencies, 95),
    }


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


# --------------------------------------------------------------------------- main

def main() -> None:
    args = parse_args()
    import rclpy
    import torch

    from depth_anything_ros.inference import DepthEstimator

    if args.threads:
        torch.set_num_threads(args.threads)
    frames = synthetic_frames(8, args.height, args.width)
    with tempfile.TemporaryDirectory(prefix="node_throughput_") as tmp:
        weights = random_weights(args.encoder, args.input_size, tmp)
        estimator = DepthEstimator.from_weights(weights, device=args.device,
                                                precision=args.precision)
    for i in range(args.warmup):
        estimator.predict(frames[i % len(frames)])
    depth = estimator.predict(frames[0]).values
    cloud_s = cloud_build_seconds(depth, frames[0])

    context = rclpy.Context()
    rclpy.init(context=context)
    rounds = []  # per frame: (bare seconds, node seconds, model forward seconds)
    try:
        node, executor = start_depth_node(context, estimator, args)
        feeder = Feeder(context, frames)
        executor.add_node(feeder.node)
        wait_for_subscribers(feeder, timeout=20.0)
        feeder.prime_camera_info()
        closed_loop(feeder, 0, args.warmup, args.timeout)
        # Frame by frame, bare then node, so load changes on a shared machine hit both alike.
        for i in range(args.frames):
            bare_time, model_s = bare_frame(estimator, frames[i % len(frames)])
            rounds.append((bare_time, node_frame(feeder, args.timeout), model_s))
        node_fps = len(rounds) / sum(n for _, n, _ in rounds)
        bare_rate = len(rounds) / sum(b for b, _, _ in rounds)
        rate = args.rate or 1.5 * bare_rate
        opened = open_loop(feeder, rate, args.seconds, drain=min(args.timeout, 5.0 / node_fps))
        dropped_in_node = node.dropped_frames
        node.stop_worker()
        executor.shutdown(timeout_sec=2.0)
        node.destroy_node()
        feeder.node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)

    bare_ms = 1000 * statistics.median(b for b, _, _ in rounds)
    node_ms = 1000 * statistics.median(n for _, n, _ in rounds)
    model_s = statistics.median(m for _, _, m in rounds)
    print(f"node_throughput: {args.encoder} random metric, input_size {args.input_size}, "
          f"{args.width}x{args.height} rgb8, device {estimator.device}, {args.precision}, "
          f"torch threads {torch.get_num_threads()}, {args.frames} paired frames")
    print(f"  bare DepthEstimator.predict : {bare_rate:8.2f} fps  (median {bare_ms:.1f} ms/frame)")
    print(f"  node, saturated (open loop) : {opened['out_hz']:8.2f} fps  (fed at "
          f"{opened['in_hz']:.2f} Hz; ratio node / bare {opened['out_hz'] / bare_rate:.3f}, "
          "goal >= 0.9)")
    print(f"  node, closed loop           : {node_fps:8.2f} fps  (median {node_ms:.1f} ms/frame, one "
          "frame in flight: image+camera_info published -> depth/image and depth/points received;"
          f" ratio {node_fps / bare_rate:.3f}, median-based {bare_ms / node_ms:.3f})")
    print(f"  model forward (median)      : {1000 * model_s:8.2f} ms")
    size = f"{args.width}x{args.height}"
    print(f"  cloud build {size:<16}: {1000 * cloud_s:8.2f} ms  (organized_cloud + "
          f"cloud_to_msg) = {cloud_s / model_s:.3f} x model time")
    print(f"  open loop                   : {opened['published']} published, "
          f"{opened['completed']} completed, {opened['dropped']} dropped ({dropped_in_node} "
          f"counted by the node's mailbox); latency p50 {opened['p50_ms']:.0f} ms, "
          f"p95 {opened['p95_ms']:.0f} ms (publish -> depth/points received)")


if __name__ == "__main__":
    main()
