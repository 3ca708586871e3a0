"""What fraction of a camera's frames reach a subscriber on the same host, per transport setup.

Each case runs two processes, as on a robot: the camera (`demo/camera_process.py`: distinct
frames at --rate for --seconds, with the publisher QoS of the case) and a listener (this script
with --listen: a subscription with the case's QoS that records the stamps it receives). Cases:

  stock-be        best-effort camera (REP-2003 sensor data), best-effort subscriber, Fast DDS's
                  default transports (512 KiB shared-memory segments)
  stock-rel/be    reliable camera, best-effort subscriber (the node's old default)
  stock-rel/rel   reliable camera, reliable subscriber (what input_reliability auto picks)
  xml-be          as stock-be, both processes with config/fastdds_large_shm_localhost.xml (32 MiB
                  segments; the README's figures were measured with fastdds_large_shm.xml)
  jpeg-be         best-effort camera publishing JPEG CompressedImage, best-effort subscriber

for each --sizes entry. Prints received/sent per case. DDS stays on this host (LOCALHOST) on the
caller's ROS_DOMAIN_ID.

    ROS_DOMAIN_ID=17 python bench/camera_transport.py
    python bench/camera_transport.py --sizes 640x480 --cases stock-be,xml-be --seconds 5  # quick
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "config" / "fastdds_large_shm_localhost.xml"  # DDS stays on this machine
CASES = {  # name: (camera QoS, listener QoS, Fast DDS profile, format)
    "stock-be": ("best_effort", "best_effort", None, "raw"),
    "stock-rel/be": ("reliable", "best_effort", None, "raw"),
    "stock-rel/rel": ("reliable", "reliable", None, "raw"),
    "xml-be": ("best_effort", "best_effort", PROFILE, "raw"),
    "jpeg-be": ("best_effort", "best_effort", None, "jpeg"),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="640x480,1280x720", help="WxH,WxH,...")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated case names")
    parser.add_argument("--rate", type=float, default=30.0, help="camera frames per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="camera run length")
    parser.add_argument("--listen", default=None, help=argparse.SUPPRESS)  # listener mode: topic
    parser.add_argument("--reliability", default="best_effort", help=argparse.SUPPRESS)
    parser.add_argument("--format", default="raw", help=argparse.SUPPRESS)
    return parser.parse_args()


def listen(topic: str, reliability: str, fmt: str, seconds: float) -> None:
    """Listener mode: print the stamps received within `seconds` (after the first) as JSON."""
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import CompressedImage, Image

    rclpy.init()
    node = rclpy.create_node("transport_listener")
    qos = (qos_profile_sensor_data if reliability == "best_effort"
           else QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))
    stamps: list[int] = []
    kind, name = (CompressedImage, topic + "/compressed") if fmt == "jpeg" else (Image, topic)
    node.create_subscription(kind, name, lambda m: stamps.append(
        m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec), qos)
    deadline = time.monotonic() + seconds
    try:  # until the bench sends SIGINT (the camera is done) or the deadline
        while time.monotonic() < deadline and rclpy.ok():
            rclpy.spin_once(node, timeout_sec=0.05)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    print(json.dumps({"received": stamps}), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


def environment(profile: Path | None) -> dict[str, str]:
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", ROS_LOCALHOST_ONLY="1",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    for name in ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE"):
        env.pop(name, None)
        if profile is not None:
            env[name] = str(profile)
    if profile is not None:
        env["RMW_FASTRTPS_USE_QOS_FROM_XML"] = "0"
    return env


def run_case(case: str, width: int, height: int, rate: float, seconds: float) -> dict:
    camera_qos, listener_qos, profile, fmt = CASES[case]
    env = environment(profile)
    topic = f"/transport_bench/{case.replace('/', '_').replace('-', '_')}_{width}x{height}"
    listener = subprocess.Popen(
        [sys.executable, __file__, "--listen", topic, "--reliability", listener_qos,
         "--format", fmt, "--seconds", str(seconds + 25)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    camera = subprocess.run(
        [sys.executable, "-m", "depth_anything_ros.demo.camera_process", "--topic", topic,
         "--width", str(width), "--height", str(height), "--rate", str(rate),
         "--seconds", str(seconds), "--reliability", camera_qos, "--format", fmt],
        env=env, capture_output=True, text=True, timeout=seconds + 60, check=False)
    time.sleep(1.0)  # frames still in flight
    listener.send_signal(signal.SIGINT)
    out, err = listener.communicate(timeout=30)
    if camera.returncode != 0:
        raise RuntimeError(f"{case}: camera failed: {camera.stderr[-1500:]}")
    sent = json.loads(camera.stdout.strip().splitlines()[-1])
    lines = [line for line in out.splitlines() if line.startswith("{")]
    received = set(json.loads(lines[-1])["received"]) if lines else set()
    got = len(received & set(sent["sent"]))
    return {"case": case, "size": f"{width}x{height}", "sent": len(sent["sent"]),
            "received": got, "fraction": got / max(1, len(sent["sent"])),
            "camera_rate_hz": sent["rate"], "bytes": sent["bytes"], "listener_ok": bool(lines),
            "listener_error": "" if lines else err[-500:]}


def main() -> int:
    args = parse_args()
    if args.listen:
        listen(args.listen, args.reliability, args.format, args.seconds)
        return 0
    print(f"camera {args.rate:g} Hz for {args.seconds:g} s per case, ROS_DOMAIN_ID="
          f"{os.environ.get('ROS_DOMAIN_ID', '0')}, load average {os.getloadavg()[0]:.1f}")
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.split("x"))
        for case in args.cases.split(","):
            r = run_case(case, width, height, args.rate, args.seconds)
            note = "" if r["listener_ok"] else f"  (listener: {r['listener_error']!r})"
            print(f"{r['size']:>10} {case:<14} received {r['received']:5d} / {r['sent']:5d} "
                  f"= {r['fraction']:.2f}  ({r['bytes'] / 1e3:.0f} kB/frame, camera achieved "
                  f"{r['camera_rate_hz']:.1f} Hz){note}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
