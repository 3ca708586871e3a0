"""Metric scale of the shipped model on real frames: raw, anchored, smoothed (issue #11).

    DAR_TUM_DIR=/work/shared/data/tum_fr1_rpy python bench/metric_scale.py [--quick]
        [--weights W] [--smoothing 0.3 1 3] [--via-bag] [--sections tum ground] [--rooms 24]

TUM section: the held-out last 20 % (by time) of TUM RGB-D fr1_rpy (real Kinect frames; CC BY
4.0, Sturm et al., IROS 2012), scored against the sensor depth. Per frame:

  raw            the model's own metres
  median oracle  rescaled by median(sensor) / median(prediction) (needs ground truth everywhere)
  anchored       a robust scale fitted to a simulated sparse sensor: 3 scan lines of the sensor
                 depth, every 8th column (`scale.scan_line_depth`), one fit per frame
  anchored+τ     the same through the temporal filter with time constant τ (`ScaleCorrector`,
                 as node and bag use it)
  bag (1s)       (--via-bag) through `depth-anything-ros bag` (`process_bag` with
                 --sparse-depth-topic, default --scale-smoothing 1) on a bag of the same frames

and `scale_jitter`, the std of log(per-frame scale applied).
Ground section (`ground_section`): held-out synthetic rooms rendered with a known camera height
and pitch; raw, median oracle and ground-plane anchored. Further sections (synthetic FOV
sweeps, ...) go beside these two.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from depth_anything_ros.metrics import depth_metrics, mean_metrics  # noqa: E402
from depth_anything_ros.scale import (  # noqa: E402
    ScaleCorrector,
    ScaleSettings,
    fit_anchors,
    scan_line_depth,
)

REPO = Path(__file__).resolve().parents[1]
TUM_DEPTH_PER_METRE = 5000.0
TUM_K = (517.3, 516.5, 318.6, 255.3)  # colour camera fx, fy, cx, cy (dataset README)
MAX_DEPTH = 10.0  # the Kinect's range; scoring window (m)


def tum_dir() -> Path:
    return Path(os.environ.get("DAR_TUM_DIR", REPO / ".." / "shared" / "data" / "tum_fr1_rpy"))


def _listing(path: Path) -> list[tuple[float, str]]:
    rows = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            stamp, name = line.split()[:2]
            rows.append((float(stamp), name))
    return rows


def tum_tail(root: Path, fraction: float = 0.2) -> list[tuple[float, Path, Path]]:
    """(stamp, rgb path, depth path) of the last `fraction` of the sequence by time (the two
    listings are paired line by line, README)."""
    pairs = sorted((s, root / r, root / d) for (s, r), (_, d) in
                   zip(_listing(root / "rgb.txt"), _listing(root / "depth.txt")))
    return pairs[int(round(len(pairs) * (1 - fraction))):]


def read_frame(rgb_path: Path, depth_path: Path) -> tuple[np.ndarray, np.ndarray]:
    rgb = cv2.cvtColor(cv2.imread(str(rgb_path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    raw = cv2.imread(str(depth_path), cv2.IMREAD_UNCHANGED)
    depth = np.where(raw > 0, raw / TUM_DEPTH_PER_METRE, np.nan).astype(np.float32)
    return rgb, depth


def score(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    return depth_metrics(pred, gt, pred_range=(1e-3, MAX_DEPTH * 2))


def tum_section(estimator, frames, smoothings: list[float], via_bag: bool) -> list[str]:
    from tqdm import tqdm

    predictions, truths = [], []
    for _, rgb_path, depth_path in tqdm(frames, desc="TUM tail", unit="frame"):
        rgb, gt = read_frame(rgb_path, depth_path)
        predictions.append(estimator.predict(rgb).values)
        truths.append(gt)
    stamps = [stamp for stamp, _, _ in frames]
    sensors = [scan_line_depth(gt) for gt in truths]
    rows: dict[str, tuple[list, list]] = {"raw": ([score(p, g) for p, g in
                                                  zip(predictions, truths)], [])}
    oracle = []
    for pred, gt in zip(predictions, truths):
        valid = np.isfinite(gt) & (gt > 0) & np.isfinite(pred) & (pred > 0)
        oracle.append(float(np.median(gt[valid]) / np.median(pred[valid])))
    rows["median oracle"] = ([score(p * s, g) for p, s, g in zip(predictions, oracle, truths)],
                             oracle)
    fits = [fit_anchors(p, s, relative=False) for p, s in zip(predictions, sensors)]
    rows["anchored"] = ([score(f.apply(p) if f.ok else p, g)
                         for f, p, g in zip(fits, predictions, truths)],
                        [f.scale for f in fits if f.ok])
    for tau in smoothings:
        corrector = ScaleCorrector(ScaleSettings(source="sparse_depth", smoothing_time_s=tau),
                                   relative=False)
        out = [corrector.correct(p, t, sparse_depth=s)
               for p, t, s in zip(predictions, stamps, sensors)]
        rows[f"anchored+{tau:g}s"] = ([score(o.depth, g) for o, g in zip(out, truths)],
                                      [o.scale for o in out])
    if via_bag:  # the bag tool at its default smoothing, to compare with anchored+1s
        rows["bag (1s)"] = through_bag(estimator, frames, truths, 1.0)
    lines = [f"TUM fr1_rpy held-out tail (last 20 % by time): {len(frames)} frames; sparse "
             "sensor: 3 scan lines, every 8th column of the sensor depth; per-frame fits "
             f"refused: {sum(not f.ok for f in fits)}",
             f"{'':18s} {'abs_rel':>8s} {'delta1':>7s} {'rmse':>6s} {'scale':>6s} "
             f"{'scale_jitter':>12s}"]
    for name, (per_image, scales) in rows.items():
        m = mean_metrics(per_image)
        s = np.asarray(scales or [1.0], dtype=np.float64)
        jitter = f"{np.std(np.log(s)):12.3f}" if scales else f"{'':12s}"
        lines.append(f"{name:18s} {m['abs_rel']:8.3f} {m['delta1']:7.3f} {m['rmse']:6.3f} "
                     f"{np.median(s):6.3f} {jitter}")
    lines.append("scale: median applied factor; scale_jitter: std of log(per-frame scale); "
                 "anchored+τ: ScaleCorrector (gate 0.25, reset after 5) with time constant τ")
    return lines


def ground_section(estimator, rooms: int) -> list[str]:
    """Ground-plane anchoring on held-out synthetic rooms rendered with a known camera height
    and pitch (test-split scene seeds; 256×192, hfov 50–90°, pitch 0–30° down)."""
    from types import SimpleNamespace

    from tqdm import tqdm

    from depth_anything_ros.scale import GroundPlane, fit_ground_plane
    from depth_anything_ros.training.data.domains import make_scene
    from depth_anything_ros.training.data.scene import CameraPose, intrinsics_from_fov
    from depth_anything_ros.training.data.synthetic import frame_seed

    rows: dict[str, list] = {"raw": [], "median oracle": [], "ground plane": []}
    refused = []
    for index in tqdm(range(rooms), desc="rooms", unit="room"):
        scene = make_scene("indoor", frame_seed("test", index))
        rng = np.random.default_rng(index)
        x0, x1, y0, y1 = scene.free_region
        height, pitch = rng.uniform(*scene.camera_height), rng.uniform(0.0, 30.0)
        pose = CameraPose.from_yaw_pitch((rng.uniform(x0, x1), rng.uniform(y0, y1), height),
                                         rng.uniform(-np.pi, np.pi), np.radians(-pitch))
        k = intrinsics_from_fov(256, 192, rng.uniform(50.0, 90.0))
        rgb, gt = scene.render(pose, k, 256, 192)
        pred = estimator.predict(rgb).values
        valid = np.isfinite(gt) & (pred > 0)
        fit = fit_ground_plane(pred, GroundPlane.from_pitch_roll(height, pitch), relative=False,
                               intrinsics=SimpleNamespace(fx=k[0], fy=k[1], cx=k[2], cy=k[3]))
        rows["raw"].append(score(pred, gt))
        rows["median oracle"].append(score(pred * np.median(gt[valid]) / np.median(pred[valid]),
                                           gt))
        if fit.ok:
            rows["ground plane"].append(score(fit.apply(pred), gt))
        else:
            refused.append(fit.code)
            rows["ground plane"].append(score(pred, gt))  # the node serves it unscaled
    lines = [f"Synthetic rooms with a known camera height and pitch: {rooms} rooms; ground-plane "
             f"fits refused (served unscaled): {len(refused)} {sorted(set(refused))}",
             f"{'':18s} {'abs_rel':>8s} {'delta1':>7s}"]
    for name, per_image in rows.items():
        m = mean_metrics(per_image)
        lines.append(f"{name:18s} {m['abs_rel']:8.3f} {m['delta1']:7.3f}")
    return lines


CAMERA = "/camera/rgb/image_color"
SPARSE = "/camera/sparse_depth"


def through_bag(estimator, frames, truths, smoothing: float):
    """Rows of `depth-anything-ros bag` (process_bag with --sparse-depth-topic): a bag of the
    frames (rgb8 + CameraInfo + the 3-line sparse depth as 32FC1) in, depth read back."""
    from depth_anything_ros.bag.process import BagJobOptions, process_bag

    with tempfile.TemporaryDirectory(prefix="metric_scale_") as tmp:
        src, out = Path(tmp) / "in", Path(tmp) / "out"
        stamps = write_rgbd_bag(src, frames, truths)
        summary = process_bag(src, out, estimator, BagJobOptions(
            image_topic=CAMERA, sparse_depth_topic=SPARSE, scale_smoothing=smoothing,
            points=False), progress=True)
        depths = read_depths(out, "/camera/rgb/depth/image")
    return [score(depths[s], gt) for s, gt in zip(stamps, truths)], summary.scales


def write_rgbd_bag(path: Path, frames, truths) -> list[int]:
    """The frames as a ROS 2 bag: image, camera_info and the simulated sparse sensor."""
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    from depth_anything_ros.conversions import encode_depth, encode_image

    store = get_typestore(Stores.ROS2_HUMBLE)
    t = store.types
    fx, fy, cx, cy = TUM_K
    stamps = []
    with Writer(path, version=8) as writer:
        conns = {name: writer.add_connection(topic, kind, typestore=store) for name, topic, kind in
                 [("image", CAMERA, "sensor_msgs/msg/Image"),
                  ("info", "/camera/rgb/camera_info", "sensor_msgs/msg/CameraInfo"),
                  ("sparse", SPARSE, "sensor_msgs/msg/Image")]}
        for (stamp, rgb_path, depth_path), gt in zip(frames, truths):
            ns = int(round(stamp * 1e9))
            sec, nanosec = divmod(ns, 1_000_000_000)
            header = t["std_msgs/msg/Header"](stamp=t["builtin_interfaces/msg/Time"](
                sec=sec, nanosec=nanosec), frame_id="camera_rgb_optical_frame")
            rgb = read_frame(rgb_path, depth_path)[0]
            step, data = encode_image(rgb, "rgb8")
            image = t["sensor_msgs/msg/Image"](header=header, height=rgb.shape[0],
                                               width=rgb.shape[1], encoding="rgb8", is_bigendian=0,
                                               step=step, data=np.frombuffer(data, np.uint8))
            enc, dstep, ddata = encode_depth(scan_line_depth(gt), "32FC1")
            sparse = t["sensor_msgs/msg/Image"](header=header, height=gt.shape[0],
                                                width=gt.shape[1], encoding=enc, is_bigendian=0,
                                                step=dstep, data=np.frombuffer(ddata, np.uint8))
            roi = t["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0,
                                                        width=0, do_rectify=False)
            info = t["sensor_msgs/msg/CameraInfo"](
                header=header, height=rgb.shape[0], width=rgb.shape[1],
                distortion_model="plumb_bob", d=np.zeros(5),
                k=np.array([fx, 0, cx, 0, fy, cy, 0, 0, 1.0]), r=np.eye(3).reshape(-1),
                p=np.array([fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1.0, 0]), binning_x=0,
                binning_y=0, roi=roi)
            for name, msg, kind in [("image", image, "sensor_msgs/msg/Image"),
                                    ("info", info, "sensor_msgs/msg/CameraInfo"),
                                    ("sparse", sparse, "sensor_msgs/msg/Image")]:
                writer.write(conns[name], ns, bytes(store.serialize_cdr(msg, kind)))
            stamps.append(ns)
    return stamps


def read_depths(path: Path, topic: str) -> dict[int, np.ndarray]:
    from rosbags.highlevel import AnyReader

    from depth_anything_ros.conversions import decode_depth

    out = {}
    with AnyReader([path]) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        for conn, _, raw in reader.messages(connections=conns):
            m = reader.deserialize(raw, conn.msgtype)
            ns = int(m.header.stamp.sec) * 1_000_000_000 + int(m.header.stamp.nanosec)
            out[ns] = decode_depth(m.encoding, m.height, m.width, m.step, bool(m.is_bigendian),
                                   m.data)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default=None, help="default: the shipped model")
    parser.add_argument("--smoothing", type=float, nargs="+", default=[0.3, 1.0, 3.0],
                        help="temporal filter time constants (s) to compare (default 0.3 1 3)")
    parser.add_argument("--quick", action="store_true", help="every 4th held-out frame only")
    parser.add_argument("--via-bag", action="store_true",
                        help="also measure the smoothed row through `depth-anything-ros bag`")
    parser.add_argument("--sections", nargs="+", default=["tum", "ground"],
                        choices=("tum", "ground"), help="what to measure (default: both)")
    parser.add_argument("--rooms", type=int, default=24, help="ground section: rooms")
    args = parser.parse_args()
    import torch

    from depth_anything_ros.inference import DepthEstimator

    torch.set_num_threads(max(1, (os.cpu_count() or 2)))
    estimator = DepthEstimator.from_weights(args.weights, device="cpu")
    if "tum" in args.sections:
        root = tum_dir()
        if not (root / "rgb.txt").is_file():
            print(f"{root}: no TUM sequence here (set DAR_TUM_DIR)", file=sys.stderr)
            return 2
        frames = tum_tail(root)[:: 4 if args.quick else 1]
        for line in tum_section(estimator, frames, args.smoothing, args.via_bag):
            print(line)
    if "ground" in args.sections:
        for line in ground_section(estimator, max(4, args.rooms // (4 if args.quick else 1))):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
