"""TUM RGB-D frames as a ROS 2 bag, and `depth-anything-ros bag` output scored against them.

    python bench/tum_bag.py write OUT_BAG [--split test] [--every 1]
    depth-anything-ros bag OUT_BAG DEPTH_BAG --image-topic /camera/rgb/image_color
    python bench/tum_bag.py score OUT_BAG DEPTH_BAG

Writes, per frame (header stamp = the TUM colour stamp, frame_id ``camera_rgb_optical_frame``):

  /camera/rgb/image_color   sensor_msgs/Image rgb8, the raw (distorted) colour image
  /camera/rgb/camera_info   the freiburg1 colour calibration: K, D (plumb_bob), P = K
  /camera/depth/image       sensor_msgs/Image 32FC1, the sensor's depth in metres (NaN = none),
                            registered pixel for pixel to the colour image
  /camera/depth/sparse      the same on 3 scan lines, every 8th column (`scale.scan_line_depth`):
                            a simulated lidar line for ``--sparse-depth-topic``

so the bag tool runs on real Kinect frames with their CameraInfo exactly as a robot's recording
would be processed; ``score_depth_bag`` then compares its ``/camera/rgb/depth/image`` with the
sensor depth by stamp. TUM RGB-D: Sturm et al., IROS 2012, CC BY 4.0.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

IMAGE_TOPIC = "/camera/rgb/image_color"
INFO_TOPIC = "/camera/rgb/camera_info"
GT_TOPIC = "/camera/depth/image"
SPARSE_TOPIC = "/camera/depth/sparse"
OUTPUT_TOPIC = "/camera/rgb/depth/image"  # what `depth-anything-ros bag` writes for IMAGE_TOPIC
FRAME_ID = "camera_rgb_optical_frame"


def write_tum_bag(dataset, path: Path) -> list[int]:
    """Every frame of a `TumDataset` into a new bag at ``path``; returns the stamps (ns)."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    from depth_anything_ros.conversions import encode_image
    from depth_anything_ros.scale import scan_line_depth
    from depth_anything_ros.training.data.tum import TUM_FR1_DISTORTION

    store = get_typestore(Stores.ROS2_HUMBLE)
    types = store.types
    stamps = []
    with Writer(path, version=8, storage_plugin=StoragePlugin.SQLITE3) as writer:
        topics = ((IMAGE_TOPIC, "sensor_msgs/msg/Image"),
                  (INFO_TOPIC, "sensor_msgs/msg/CameraInfo"),
                  (GT_TOPIC, "sensor_msgs/msg/Image"), (SPARSE_TOPIC, "sensor_msgs/msg/Image"))
        conns = {topic: writer.add_connection(topic, msgtype, typestore=store)
                 for topic, msgtype in topics}
        for index, stamp_s in enumerate(dataset.timestamps):
            sample = dataset[index]
            stamp = int(round(stamp_s * 1e9))
            sec, nanosec = divmod(stamp, 10**9)
            header = types["std_msgs/msg/Header"](
                stamp=types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec),
                frame_id=FRAME_ID)
            height, width = sample["image"].shape[:2]
            step, data = encode_image(sample["image"], "rgb8")
            image = types["sensor_msgs/msg/Image"](
                header=header, height=height, width=width, encoding="rgb8", is_bigendian=0,
                step=step, data=np.frombuffer(data, np.uint8))
            depth, sparse = (depth_image(types, header, values) for values in
                             (sample["depth"], scan_line_depth(sample["depth"])))
            fx, fy, cx, cy = (float(v) for v in sample["intrinsics"])
            roi = types["sensor_msgs/msg/RegionOfInterest"](
                x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
            info = types["sensor_msgs/msg/CameraInfo"](
                header=header, height=height, width=width, distortion_model="plumb_bob",
                d=np.array(TUM_FR1_DISTORTION, np.float64),
                k=np.array([fx, 0, cx, 0, fy, cy, 0, 0, 1], np.float64),
                r=np.eye(3).reshape(-1), p=np.array([fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0],
                                                    np.float64),
                binning_x=0, binning_y=0, roi=roi)
            for topic, msg, msgtype in ((INFO_TOPIC, info, "sensor_msgs/msg/CameraInfo"),
                                        (IMAGE_TOPIC, image, "sensor_msgs/msg/Image"),
                                        (GT_TOPIC, depth, "sensor_msgs/msg/Image"),
                                        (SPARSE_TOPIC, sparse, "sensor_msgs/msg/Image")):
                writer.write(conns[topic], stamp, bytes(store.serialize_cdr(msg, msgtype)))
            stamps.append(stamp)
    return stamps


def depth_image(types, header, metres: np.ndarray):
    """A 32FC1 sensor_msgs/Image (rosbags type) of ``metres`` (NaN = no return)."""
    from depth_anything_ros.conversions import encode_depth

    encoding, step, data = encode_depth(metres, "32FC1")
    return types["sensor_msgs/msg/Image"](
        header=header, height=metres.shape[0], width=metres.shape[1], encoding=encoding,
        is_bigendian=0, step=step, data=np.frombuffer(data, np.uint8))


def read_depth_by_stamp(path: Path, topic: str) -> dict[int, np.ndarray]:
    """32FC1/16UC1 depth images of ``topic`` in metres, keyed by header stamp (ns)."""
    from rosbags.highlevel import AnyReader

    from depth_anything_ros.conversions import decode_depth

    out = {}
    with AnyReader([path]) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        for conn, _, raw in reader.messages(connections=conns):
            msg = reader.deserialize(raw, conn.msgtype)
            stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
            out[stamp] = decode_depth(msg.encoding, msg.height, msg.width, msg.step,
                                      bool(msg.is_bigendian), msg.data)
    return out


def score_depth_bag(out_bag: Path, in_bag: Path, depth_range=(1e-3, 20.0)) -> dict:
    """Metrics of the bag tool's depth against the sensor depth, frame by frame (by stamp):
    raw and median-oracle means, and scale_jitter (std of log per-frame median(gt/pred))."""
    return score_depth(read_depth_by_stamp(out_bag, OUTPUT_TOPIC),
                       read_depth_by_stamp(in_bag, GT_TOPIC), depth_range, str(out_bag))


def score_depth(predicted: dict[int, np.ndarray], truth: dict[int, np.ndarray],
                depth_range=(1e-3, 20.0), source: str = "predictions") -> dict:
    """`score_depth_bag` on depth already read (stamp → metres), so a caller scoring several
    outputs against one truth reads each bag once."""
    from depth_anything_ros.metrics import (depth_metrics, mean_metrics, median_scale,
                                            scale_jitter, typical_scale, valid_depth_mask)

    missing = sorted(set(truth) - set(predicted))
    if missing:
        raise RuntimeError(f"{source}: no {OUTPUT_TOPIC} for {len(missing)} frames")
    raw, oracle, scales = [], [], []
    for stamp, gt in sorted(truth.items()):
        pred = predicted[stamp]
        mask = valid_depth_mask(gt, *depth_range)
        raw.append(depth_metrics(pred, gt, mask, pred_range=depth_range))
        scale = median_scale(pred, gt, mask)
        scales.append(scale)
        oracle.append(depth_metrics(pred * scale, gt, mask, pred_range=depth_range))
    result = {"raw": mean_metrics(raw), "median_oracle": mean_metrics(oracle)}
    result["raw"]["scale_jitter"] = scale_jitter(scales)
    result["raw"]["scale"] = typical_scale(scales)
    return result


def main() -> int:
    from depth_anything_ros.training.data.tum import TumDataset, default_tum_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    write = sub.add_parser("write", help="TUM frames → a bag")
    write.add_argument("out", type=Path, help="bag folder to write (must not exist)")
    write.add_argument("--tum", type=Path, default=None, help="TUM folder (default: $DAR_TUM_DIR, else "
                       "../shared/data/tum_fr1_rpy beside the repository)")
    write.add_argument("--split", default="test", choices=("train", "test", "all"))
    write.add_argument("--every", type=int, default=1)
    score = sub.add_parser("score", help="the bag tool's depth against the sensor depth")
    score.add_argument("tum_bag", type=Path, help="the bag `write` made")
    score.add_argument("depth_bag", type=Path, help="what `depth-anything-ros bag` made of it")
    args = parser.parse_args()
    if args.command == "score":
        print(json.dumps(score_depth_bag(args.depth_bag, args.tum_bag), indent=2))
        return 0
    dataset = TumDataset(args.tum or default_tum_dir(), split=args.split, every=args.every)
    stamps = write_tum_bag(dataset, args.out)
    print(f"wrote {len(stamps)} TUM frames ({args.split}) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
