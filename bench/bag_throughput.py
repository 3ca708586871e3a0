"""Bag job throughput, measured side by side in one run on the same frames and model.

    python bench/bag_throughput.py [--frames 48] [--batch-size 8] [--encoder vitpico] [--device auto] [--backend auto]

Builds a bag of N synthetic 640×480 rgb8 frames (+ CameraInfo) with a random metric model of
the given encoder, then times:

  bag     `process_bag` end to end: read, decode, infer, depth + camera_info + points, write
  bare    `DepthEstimator.predict_batch` alone on the same, already decoded frames
  naive   read → decode → predict → build → write, one frame at a time, no prefetch/batching

and prints frames/s and the ratios bag/bare (goal ≥ 0.9) and bag/naive (goal ≥ 1.5). Model load
and one warm-up batch are excluded from every timing. Each is the best of --repeats runs.

`--accelerator-ms MS` replaces the model by a stand-in for a GPU: each frame takes MS of wall
time and no CPU (it sleeps with the GIL released) and gives a constant depth. bag/bare then
measures the pipeline around an accelerator of that speed on a CPU-only machine (e.g. 6 ms ≈
random ViT-S on an H100 at 640×480): what the host's reading, decoding, clouds and writing cost.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from depth_anything_ros.bag import pipeline  # noqa: E402
from depth_anything_ros.bag.messages import MessageFactory, decode_rgb, stamp_of  # noqa: E402
from depth_anything_ros.bag.process import BagJobOptions, process_bag  # noqa: E402

TOPIC = "/cam/image_raw"
INFO_TOPIC = "/cam/camera_info"
HEIGHT, WIDTH = 480, 640


def synthetic_frame(index: int) -> np.ndarray:
    """Deterministic 640×480 RGB: gradients, a moving bright box and texture noise."""
    v, u = np.mgrid[0:HEIGHT, 0:WIDTH]
    rgb = np.stack([(u // 3 + index * 5) % 256, (v // 2) % 256, ((u + v) // 4 + index * 11) % 256], -1)
    rng = np.random.default_rng(index)
    rgb = (rgb + rng.integers(0, 24, size=rgb.shape)).clip(0, 255).astype(np.uint8)
    x0 = (index * 23) % (WIDTH - 120)
    rgb[150:300, x0:x0 + 120] = (240, 230, 40)
    return rgb


def build_bag(path: Path, frames: int, storage: str = "sqlite3") -> list[np.ndarray]:
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    from depth_anything_ros.conversions import encode_image

    store = get_typestore(Stores.ROS2_HUMBLE)
    types = store.types
    images = [synthetic_frame(i) for i in range(frames)]
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=8, storage_plugin=plugin) as writer:
        image_conn = writer.add_connection(TOPIC, "sensor_msgs/msg/Image", typestore=store)
        info_conn = writer.add_connection(INFO_TOPIC, "sensor_msgs/msg/CameraInfo", typestore=store)
        for i, rgb in enumerate(images):
            t = 1_700_000_000_000_000_000 + i * 33_333_333
            sec, nsec = divmod(t, 10**9)
            header = types["std_msgs/msg/Header"](
                stamp=types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nsec), frame_id="cam")
            step, data = encode_image(rgb, "rgb8")
            image = types["sensor_msgs/msg/Image"](header=header, height=HEIGHT, width=WIDTH,
                                                   encoding="rgb8", is_bigendian=0, step=step,
                                                   data=np.frombuffer(data, np.uint8))
            roi = types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0,
                                                            width=0, do_rectify=False)
            info = types["sensor_msgs/msg/CameraInfo"](
                header=header, height=HEIGHT, width=WIDTH, distortion_model="plumb_bob",
                d=np.zeros(5), k=np.array([525.0, 0, 319.5, 0, 525.0, 239.5, 0, 0, 1]),
                r=np.eye(3).reshape(-1), p=np.array([525.0, 0, 319.5, 0, 0, 525.0, 239.5, 0, 0, 0, 1, 0]),
                binning_x=0, binning_y=0, roi=roi)
            writer.write(image_conn, t, bytes(store.serialize_cdr(image, "sensor_msgs/msg/Image")))
            writer.write(info_conn, t, bytes(store.serialize_cdr(info, "sensor_msgs/msg/CameraInfo")))
    return images


class EmulatedAccelerator:
    """The `DepthEstimator` surface a bag job uses, with a GPU's timing and no CPU work."""

    device = "emulated accelerator"
    backend = "none (a sleep per frame)"

    def __init__(self, ms_per_frame: float) -> None:
        from depth_anything_ros.inference import DepthKind

        self.kind = DepthKind.METRIC_DEPTH
        self.seconds_per_frame = ms_per_frame / 1000.0

    def predict_batch(self, rgbs: np.ndarray, fx=None):
        """A constant depth; `fx` (the camera's focal, which the bag job now passes) is unused."""
        from depth_anything_ros.inference import DepthResult

        time.sleep(self.seconds_per_frame * len(rgbs))  # the "GPU" works, the GIL is free
        depth = np.full(rgbs.shape[:3], 2.5, dtype=np.float32)  # a fresh result, like .cpu()
        return DepthResult(depth, self.kind, self.seconds_per_frame * len(rgbs))

    def predict(self, rgb: np.ndarray, fx=None):
        result = self.predict_batch(rgb[None], fx)
        result.values = result.values[0]
        return result


def time_bare(estimator, images: list[np.ndarray], batch_size: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(images), batch_size):
        estimator.predict_batch(np.stack(images[i:i + batch_size]))
    return time.perf_counter() - start


def time_naive(estimator, src: Path, out: Path, storage: str) -> float:
    """The loop a first version would write: everything in sequence, one frame at a time."""
    from rosbags.highlevel import AnyReader
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    from depth_anything_ros.geometry.camera_model import Calibration, resolve_camera
    from depth_anything_ros.geometry.pointcloud import organized_cloud

    start = time.perf_counter()
    factory = MessageFactory(get_typestore(Stores.ROS2_HUMBLE))
    store = factory.typestore
    from rosbags.rosbag2 import StoragePlugin

    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with AnyReader([src]) as reader, Writer(out, version=8, storage_plugin=plugin) as writer:
        conns = {c.topic: c for c in reader.connections}
        copy = {t: writer.add_connection(t, c.msgtype, typestore=store) for t, c in conns.items()}
        depth_conn = writer.add_connection("/cam/depth/image", "sensor_msgs/msg/Image", typestore=store)
        info_conn = writer.add_connection("/cam/depth/camera_info", "sensor_msgs/msg/CameraInfo", typestore=store)
        points_conn = writer.add_connection("/cam/depth/points", "sensor_msgs/msg/PointCloud2", typestore=store)
        info = None
        for conn, t, raw in reader.messages():
            writer.write(copy[conn.topic], t, raw)
            msg = reader.deserialize(raw, conn.msgtype)
            if conn.topic == INFO_TOPIC:
                info = msg
                continue
            stamp = stamp_of(msg)
            rgb = decode_rgb(msg, conn.msgtype)
            depth = estimator.predict(rgb).values
            writer.write(depth_conn, t, factory.serialize(factory.depth_image(stamp, depth, "32FC1")))
            if info is not None:
                camera = resolve_camera(Calibration.from_message(info), WIDTH, HEIGHT)
                depth_info = factory.camera_info(stamp, camera.info_fields())
                writer.write(info_conn, t, factory.serialize(depth_info))
                cloud = organized_cloud(depth, rgb, camera)
                writer.write(points_conn, t, factory.serialize(factory.pointcloud(stamp, cloud)))
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--encoder", default="vitpico", help="random-weight preset (vitpico, vitt, vits, ...)")
    parser.add_argument("--input-size", type=int, default=518)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--backend", default="auto",
                        help="as the bag command's --backend; auto picks what it picks for a "
                             "checkpoint (torchscript on the CPU in fp32, else torch)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--points-stride", type=int, default=1,
                        help="cloud stride of the bag job (the naive loop always writes full clouds)")
    parser.add_argument("--storage", default="sqlite3", choices=("sqlite3", "mcap"),
                        help="storage of the input bag and of both outputs")
    parser.add_argument("--accelerator-ms", type=float, default=None, metavar="MS",
                        help="replace the model by an emulated accelerator taking MS per frame")
    parser.add_argument("--baseline-page-size", type=int, default=None, metavar="BYTES",
                        help="sqlite3: also time the bag job writing pages of BYTES (4096 = "
                             "SQLite's default, the job's before 64 KiB pages), side by side")
    parser.add_argument("--no-naive", dest="naive", action="store_false",
                        help="skip the naive loop (the slowest part)")
    args = parser.parse_args()

    import torch

    from depth_anything_ros.inference import DepthEstimator
    from depth_anything_ros.inference.backends import backend_for_weights
    from depth_anything_ros.inference.estimator import resolve_device
    from depth_anything_ros.model import DepthAnything, ModelConfig

    torch.manual_seed(0)
    if args.accelerator_ms is not None:
        estimator = EmulatedAccelerator(args.accelerator_ms)
        args.encoder, args.input_size = "emulated", f"{args.accelerator_ms} ms/frame"
    else:
        config = ModelConfig.preset(args.encoder, variant="metric", max_depth=20.0,
                                    input_size=args.input_size)
        device = resolve_device(args.device)
        backend = backend_for_weights(None, args.backend, device, args.precision,
                                      streaming=True)  # the bag job's choice
        estimator = DepthEstimator(DepthAnything(config), device=device,
                                   precision=args.precision, backend=backend)
    work = Path(tempfile.mkdtemp(prefix="bag_bench_"))
    try:
        src = work / "in"
        images = build_bag(src, args.frames, args.storage)
        estimator.predict_batch(np.stack(images[: args.batch_size]))  # warm-up (allocator, kernels)
        estimator.predict(images[0])
        options = BagJobOptions(TOPIC, batch_size=args.batch_size, copy_topics="all",
                                workers=args.workers, points_stride=args.points_stride)
        page_sizes = {"bag": pipeline.SQLITE_PAGE_SIZE}
        if args.baseline_page_size and args.storage == "sqlite3":
            page_sizes[f"bag{args.baseline_page_size // 1024}k"] = args.baseline_page_size
        best = dict.fromkeys([*page_sizes, "bare"] + (["naive"] if args.naive else []), float("inf"))
        for r in range(args.repeats):
            best["bare"] = min(best["bare"], time_bare(estimator, images, args.batch_size))
            for name in (page_sizes if r % 2 == 0 else reversed(page_sizes)):  # alternate order
                pipeline.SQLITE_PAGE_SIZE = page_sizes[name]
                out = work / f"{name}{r}"
                start = time.perf_counter()
                summary = process_bag(src, out, estimator, options)
                best[name] = min(best[name], time.perf_counter() - start)
                assert summary.frames_out == args.frames, summary.lines()
                shutil.rmtree(out)
            pipeline.SQLITE_PAGE_SIZE = page_sizes["bag"]
            if args.naive:
                best["naive"] = min(best["naive"], time_naive(estimator, src, work / f"naive{r}",
                                                              args.storage))
                shutil.rmtree(work / f"naive{r}")
        fps = {k: args.frames / v for k, v in best.items()}
        print(f"device {estimator.device}, backend {estimator.backend}, "
              f"torch threads {torch.get_num_threads()}, encoder "
              f"{args.encoder} @ {args.input_size}, {args.frames} frames {WIDTH}x{HEIGHT}, "
              f"batch {args.batch_size}, {args.storage}, points stride {args.points_stride}, "
              f"best of {args.repeats}")
        for name in best:
            print(f"  {name:6s} {fps[name]:8.2f} frames/s  ({best[name]:.2f} s)")
        for name in page_sizes:
            print(f"  {name} / bare  = {fps[name] / fps['bare']:.2f}  (goal >= 0.9)")
        if args.naive:
            print(f"  bag / naive = {fps['bag'] / fps['naive']:.2f}  (goal >= 1.5)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
