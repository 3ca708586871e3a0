"""Soak test: the real depth_node (shipped model) on a 30 Hz camera for a long run.

Three processes, as on a robot: `depth_node` (the installed console script, its log in
--out), a camera (`demo/camera_process.py`, rgb8 + CameraInfo at --rate, best-effort sensor
data) and this script, which subscribes to depth/image and depth/points (so the node builds
clouds), records each output's age (receipt − header stamp, one host clock) and samples the
node's RSS from /proc every --sample seconds. After the run it prints:

  RSS after warm-up → at the end, and the growth in % (goal < 5 %)
  latency p50/p95 over the first and the last --window seconds after warm-up (no creep)
  frames the camera sent, frames the node received / dropped (newest-wins) / published
  (from its /diagnostics), outputs received here, and whether the node crashed

DDS stays on this host; a private ROS_DOMAIN_ID is drawn unless one is set.

    python bench/node_soak.py                      # 600 s (the acceptance run)
    python bench/node_soak.py --duration 120       # quick check
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of camera run")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds excluded at the start (default: 10 %% of the run, 10-60 s)")
    parser.add_argument("--window", type=float, default=None,
                        help="latency window at start and end (default: 20 %% of the run, ≤ 60 s)")
    parser.add_argument("--rate", type=float, default=30.0, help="camera frames per second")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--sample", type=float, default=2.0, help="RSS sampling period (s)")
    parser.add_argument("--camera-reliability", choices=("best_effort", "reliable"),
                        default="best_effort", help="camera QoS (default: sensor data, as most "
                        "drivers; the node's input_reliability auto follows it)")
    parser.add_argument("--fastdds-profile", type=Path, default=None, metavar="XML",
                        help="Fast DDS profile for node and camera, e.g. "
                        "config/fastdds_large_shm_localhost.xml")
    parser.add_argument("--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="extra depth_node parameter (repeatable), e.g. points_stride:=2")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for depth_node.log and soak.json (default: a temp folder)")
    return parser.parse_args()


def rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class Listener:
    """depth/image and depth/points ages, and the node's latest /diagnostics values."""

    def __init__(self, context) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image, PointCloud2

        self.node = rclpy.create_node("soak_listener", context=context)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.lock = threading.Lock()
        self.depth: list[tuple[float, float]] = []  # (receipt monotonic-ish wall s, age s)
        self.points = 0
        self.diagnostics: dict[str, str] = {}
        self.node.create_subscription(Image, "depth/image", self._on_depth, qos)
        self.node.create_subscription(PointCloud2, "depth/points", self._on_points, qos)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)

    def _on_depth(self, msg) -> None:
        now = time.time()
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        with self.lock:
            self.depth.append((now, now - stamp))

    def _on_points(self, msg) -> None:
        with self.lock:
            self.points += 1

    def _on_diag(self, msg) -> None:
        for status in msg.status:
            if "depth_node" in status.name:
                with self.lock:
                    self.diagnostics = {kv.key: kv.value for kv in status.values}


def percentiles(ages: list[float]) -> str:
    if not ages:
        return "no outputs"
    p50, p95 = np.percentile(np.array(ages) * 1e3, [50, 95])
    return f"p50 {p50:.0f} ms / p95 {p95:.0f} ms ({len(ages)} outputs)"


def main() -> int:
    args = parse_args()
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    from depth_anything_ros.demo.node_process import (
        demo_environment, log_tail, start_depth_node, stop_depth_node)

    warmup = args.warmup if args.warmup is not None else min(60.0, max(10.0, 0.1 * args.duration))
    window = args.window if args.window is not None else min(60.0, 0.2 * args.duration)
    out = args.out or Path(tempfile.mkdtemp(prefix="node_soak_"))
    out.mkdir(parents=True, exist_ok=True)
    env = demo_environment()
    if args.fastdds_profile is not None:
        for name in ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE"):
            env[name] = str(args.fastdds_profile.resolve())
        env["RMW_FASTRTPS_USE_QOS_FROM_XML"] = "0"
    os.environ.update({k: env[k] for k in ("ROS_AUTOMATIC_DISCOVERY_RANGE",
                                            "ROS_LOCALHOST_ONLY", "ROS_DOMAIN_ID")})
    params: dict[str, object] = {"device": "cpu", "publish_points": True}
    for item in args.param:
        name, _, value = item.partition(":=")
        params[name] = value
    print(f"soak: {args.duration:.0f} s of a {args.width}x{args.height} camera at {args.rate:g} Hz "
          f"({args.camera_reliability}) into depth_node (shipped model, {params}); "
          f"Fast DDS profile {args.fastdds_profile or 'stock'}; "
          f"ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}; "
          f"warm-up {warmup:.0f} s, latency windows {window:.0f} s; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; logs in {out}", flush=True)
    node = start_depth_node(params, env, out / "depth_node.log")
    context = rclpy.Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    listener = Listener(context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(listener.node)
    threading.Thread(target=executor.spin, daemon=True).start()
    camera_log = open(out / "camera.json", "w+")  # noqa: SIM115 — read back after the run
    camera = subprocess.Popen(  # stdout to a file: its JSON outgrows a pipe on long runs
        [sys.executable, "-m", "depth_anything_ros.demo.camera_process", "--topic", "/image",
         "--info-topic", "/camera_info", "--width", str(args.width), "--height",
         str(args.height), "--rate", str(args.rate), "--seconds", str(args.duration),
         "--reliability", args.camera_reliability, "--wait", "120"],
        env=env, stdout=camera_log, stderr=subprocess.DEVNULL, text=True)
    rss: list[tuple[float, int]] = []
    crashed = None
    started, next_report = time.time(), time.time() + 30.0
    try:
        while camera.poll() is None:
            value = rss_bytes(node.pid)
            if value is not None:
                rss.append((time.time(), value))
            if time.time() >= next_report and rss:  # progress: a long run is not silent
                next_report += 30.0
                with listener.lock:
                    outputs = len(listener.depth)
                print(f"  {time.time() - started:5.0f} s: RSS {rss[-1][1] / 2**20:.1f} MB, "
                      f"{outputs} depth images so far", flush=True)
            if node.poll() is not None:
                tail = log_tail(out / "depth_node.log")
                crashed = f"depth_node exited with {node.returncode}:\n{tail}"
                camera.terminate()
                break
            time.sleep(args.sample)
        camera.wait(timeout=60)
        time.sleep(2.0)  # the last outputs
    finally:
        exit_code = stop_depth_node(node)
        executor.shutdown(timeout_sec=2.0)
        listener.node.destroy_node()
        context.try_shutdown()
    camera_log.seek(0)
    lines = [line for line in camera_log.read().splitlines() if line.startswith("{")]
    camera_log.close()
    sent = json.loads(lines[-1])["sent"] if lines else []
    if not sent:
        print(f"camera failed (exit status {camera.returncode}); crashed: {crashed}")
        return 1
    start, end = sent[0] * 1e-9, sent[-1] * 1e-9
    measured_from = start + warmup
    with listener.lock:
        depth = list(listener.depth)
        points, diag = listener.points, dict(listener.diagnostics)
    first = [age for t, age in depth if measured_from <= t < measured_from + window]
    last = [age for t, age in depth if end - window <= t <= end + 1.0]
    after = [(t, v) for t, v in rss if t >= measured_from]
    result = {
        "duration_s": end - start, "camera_frames": len(sent),
        "camera_rate_hz": len(sent) / max(end - start, 1e-9),
        "node_frames_received": diag.get("frames_received"),
        "node_frames_dropped": diag.get("frames_dropped"),
        "node_frames_published": diag.get("frames_published"),
        "depth_received": len(depth), "points_received": points,
        "rss_after_warmup_mb": after[0][1] / 2**20 if after else None,
        "rss_end_mb": after[-1][1] / 2**20 if after else None,
        "rss_max_mb": max(v for _, v in rss) / 2**20 if rss else None,
        "latency_start": percentiles(first), "latency_end": percentiles(last),
        "crashed": crashed, "node_exit_code": exit_code,
    }
    growth = (100.0 * (after[-1][1] - after[0][1]) / after[0][1] if len(after) > 1
              else float("nan"))
    result["rss_growth_percent"] = growth
    (out / "soak.json").write_text(json.dumps(result, indent=1))
    print(f"frames: camera sent {len(sent)} ({result['camera_rate_hz']:.1f} Hz); node received "
          f"{diag.get('frames_received')}, dropped {diag.get('frames_dropped')} (newest wins), "
          f"published {diag.get('frames_published')}; here {len(depth)} depth images, "
          f"{points} clouds")
    print(f"RSS: {result['rss_after_warmup_mb']:.1f} MB after warm-up → "
          f"{result['rss_end_mb']:.1f} MB at the end: {growth:+.2f} % "
          f"(max {result['rss_max_mb']:.1f} MB)" if after else "RSS: no samples")
    print(f"latency (stamp → received) first {window:.0f} s: {result['latency_start']}")
    print(f"latency (stamp → received) last {window:.0f} s:  {result['latency_end']}")
    print(f"crashes: {'none' if crashed is None else crashed}; node exit status on SIGINT: "
          f"{exit_code}")
    return 0 if crashed is None and exit_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
