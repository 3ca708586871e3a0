"""A stand-alone camera for measurements: frames at a steady rate from a process of its own.

A real driver is another process (its own DDS participant, shared-memory segment and GIL), so
transport is only measured honestly from one. This publishes distinct rgb8 frames (or JPEG
`CompressedImage`s on `<topic>/compressed`) plus a matching CameraInfo with the QoS a driver
would use (`--reliability best_effort` = REP-2003 sensor data), waits for a subscriber first,
and prints one JSON line: the stamps it sent (ns) and its achieved rate.

    python -m depth_anything_ros.demo.camera_process --topic /cam/image_raw --width 640 \\
        --height 480 --rate 10 --seconds 15 --reliability reliable
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import cv2
import numpy as np


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topic", default="image", help="image topic (raw Image)")
    parser.add_argument("--info-topic", default=None, help="CameraInfo topic (default: beside "
                        "the image topic: <ns>/camera_info)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--rate", type=float, default=10.0, help="frames per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to publish")
    parser.add_argument("--reliability", choices=("best_effort", "reliable"),
                        default="best_effort", help="QoS of both publishers (best_effort: "
                        "sensor data, depth 5; reliable: depth 5)")
    parser.add_argument("--format", choices=("raw", "jpeg"), default="raw",
                        help="raw rgb8 Image on TOPIC, or JPEG CompressedImage on TOPIC/compressed")
    parser.add_argument("--frame-id", default="camera_optical_frame")
    parser.add_argument("--jpeg-quality", type=int, default=95,
                        help="JPEG quality (image_transport's compressed default: 95)")
    parser.add_argument("--wait", type=float, default=20.0,
                        help="seconds to wait for a subscriber before publishing")
    return parser.parse_args(argv)


def frames(width: int, height: int, count: int = 8) -> list[np.ndarray]:
    """Distinct RGB frames (moving gradients + noise): nothing compresses or caches trivially."""
    rng = np.random.default_rng(0)
    v, u = np.mgrid[0:height, 0:width]
    out = []
    for i in range(count):
        base = np.stack([(u + 9 * i) % 256, (v + 5 * i) % 256, (u + v + 13 * i) % 256], -1)
        noise = rng.integers(0, 8, (height, width, 3))  # about a real sensor's noise level
        out.append(((base + noise) % 256).astype(np.uint8))
    return out


def main(argv: list[str] | None = None) -> int:
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image
    from std_msgs.msg import Header

    from depth_anything_ros.geometry.camera_model import IDENTITY_R
    from depth_anything_ros.ros.messages import image_msg

    args = parse_args(argv)
    qos = (qos_profile_sensor_data if args.reliability == "best_effort"
           else QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))
    rclpy.init()
    node = rclpy.create_node("camera_process")
    namespace = args.topic.rsplit("/", 1)[0] if "/" in args.topic else ""
    info_topic = args.info_topic or (f"{namespace}/camera_info" if namespace else "camera_info")
    if args.format == "jpeg":
        pub = node.create_publisher(CompressedImage, args.topic + "/compressed", qos)
        quality = [cv2.IMWRITE_JPEG_QUALITY, args.jpeg_quality]
        payloads = [cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), quality)[1].tobytes()
                    for f in frames(args.width, args.height)]
    else:
        pub = node.create_publisher(Image, args.topic, qos)
        payloads = frames(args.width, args.height)
    info_pub = node.create_publisher(CameraInfo, info_topic, qos)
    deadline = time.monotonic() + args.wait
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.5)  # let the subscriber side finish matching too
    focal = 0.8 * args.width
    info = CameraInfo(width=args.width, height=args.height, distortion_model="plumb_bob",
                      d=[0.0] * 5, r=list(IDENTITY_R),
                      k=[focal, 0.0, (args.width - 1) / 2, 0.0, focal, (args.height - 1) / 2,
                         0.0, 0.0, 1.0],
                      p=[focal, 0.0, (args.width - 1) / 2, 0.0, 0.0, focal,
                         (args.height - 1) / 2, 0.0, 0.0, 0.0, 1.0, 0.0])
    clock, sent = node.get_clock(), []
    start = next_at = time.monotonic()
    while time.monotonic() - start < args.seconds:
        header = Header(frame_id=args.frame_id, stamp=clock.now().to_msg())
        payload = payloads[len(sent) % len(payloads)]
        if args.format == "jpeg":
            msg = CompressedImage(header=header, format="rgb8; jpeg compressed bgr8")
            msg.data = payload
        else:
            msg = image_msg(header, args.height, args.width, "rgb8", args.width * 3, payload)
        info.header = header
        info_pub.publish(info)
        pub.publish(msg)
        sent.append(header.stamp.sec * 1_000_000_000 + header.stamp.nanosec)
        next_at += 1.0 / args.rate
        time.sleep(max(0.0, next_at - time.monotonic()))
    elapsed = time.monotonic() - start
    time.sleep(0.5)  # let reliable retransmissions finish before the writer goes away
    sizes = [len(p) if isinstance(p, bytes) else p.nbytes for p in payloads]
    print(json.dumps({"sent": sent, "rate": len(sent) / elapsed, "bytes": float(np.mean(sizes)),
                      "subscribers": pub.get_subscription_count()}), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
