"""`depth-anything-ros bag`: a ROS 2 bag in, a bag with depth images, camera_info and clouds out."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

HELP = "add depth, camera_info and point clouds to a ROS 2 bag (sqlite3 or MCAP)"
DESCRIPTION = """\
Read a ROS 2 bag (sqlite3 .db3 or MCAP; no ROS install needed), run the depth model on every
frame of --image-topic (sensor_msgs/Image or CompressedImage) and write a new bag OUT with

  <ns>/depth/image        sensor_msgs/Image 32FC1 metres, NaN invalid (or 16UC1 mm, 0 invalid)
  <ns>/depth/camera_info  the frame's CameraInfo, re-stamped with the depth header
  <ns>/depth/points       organized PointCloud2 x,y,z,rgb (NaN where depth is invalid)

where <ns> is the camera namespace (/cam/image_raw → /cam), plus the copied input topics; every
message keeps the input header and its original bag time. Only metric models are supported.
OUT is written beside itself under a hidden temporary name and appears only when the whole bag
succeeded; the input bag is never modified.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from depth_anything_ros.commands.predict import add_focal_arguments, add_model_arguments

    parser = subparsers.add_parser("bag", help=HELP, description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", type=Path, metavar="IN", help="input bag (folder, .db3 or .mcap)")
    parser.add_argument("output", type=Path, metavar="OUT", help="output bag folder (must not exist)")
    parser.add_argument("--image-topic", required=True, metavar="T",
                        help="camera topic (sensor_msgs/Image or sensor_msgs/CompressedImage)")
    parser.add_argument("--camera-info-topic", default=None, metavar="C",
                        help="CameraInfo topic (default: <ns>/camera_info beside the image topic)")
    add_model_arguments(parser)
    add_focal_arguments(parser)  # the focal comes from each frame's CameraInfo (K, or P)
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda or cuda:N")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "bf16"),
                        help="compute precision; fp16 needs CUDA (default: fp32)")
    parser.add_argument("--batch-size", type=int, default=4, metavar="N",
                        help="frames per forward pass (frames of one size are batched; default: 4)")
    parser.add_argument("--no-points", dest="points", action="store_false", help="do not write point clouds")
    parser.add_argument("--points-stride", type=int, default=1, metavar="S",
                        help="keep every S-th pixel in each direction in the clouds (default: 1)")
    parser.add_argument("--depth-encoding", default="32FC1", choices=("32FC1", "16UC1"),
                        help="32FC1 metres (REP-118, default) or 16UC1 millimetres")
    parser.add_argument("--intrinsics-source", default="K", choices=("K", "P"),
                        help="CameraInfo matrix for the clouds: K for raw images, P for rectified (default: K)")
    parser.add_argument("--copy-topics", default="all", metavar="all|none|T1,T2",
                        help="input topics copied unchanged into OUT (default: all)")
    parser.add_argument("--storage", default=None, choices=("mcap", "sqlite3"),
                        help="storage of OUT (default: the input's)")
    parser.add_argument("--distro", default="humble", choices=("humble", "jazzy"),
                        help="humble: bag version 8, readable by Humble and Jazzy (default); jazzy: version 9")
    parser.add_argument("--export-dir", type=Path, default=None, metavar="DIR",
                        help="also write per-frame rgb/, depth/ (16-bit mm PNG + .npy), preview/, intrinsics/")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT (and --export-dir) if they exist")
    parser.add_argument("--strict", action="store_true",
                        help="fail (writing nothing) on the first undecodable frame instead of skipping it")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="decode/encode threads (default: CPUs, at least 2, at most 8)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def _interrupt_on_sigterm() -> None:
    """SIGTERM (containers, systemd) → KeyboardInterrupt, so the staged output is discarded."""
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (embedded use): leave signals alone
        pass


def run(args: argparse.Namespace) -> int:
    from depth_anything_ros.bag.errors import BagError
    from depth_anything_ros.bag.process import BagJobOptions, preflight, process_bag
    from depth_anything_ros.cli import UserError
    from depth_anything_ros.commands.predict import load_estimator, one_line

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    options = BagJobOptions(
        image_topic=args.image_topic, camera_info_topic=args.camera_info_topic,
        batch_size=args.batch_size, points=args.points, points_stride=args.points_stride,
        depth_encoding=args.depth_encoding, intrinsics_source=args.intrinsics_source,
        copy_topics=args.copy_topics, storage=args.storage, distro=args.distro,
        export_dir=args.export_dir, overwrite=args.overwrite, strict=args.strict,
        workers=args.workers,
    )
    try:
        preflight(args.input, args.output, options)  # fail before the model loads
    except BagError as exc:
        raise UserError(one_line(exc)) from exc
    estimator = load_estimator(args, device=args.device, precision=args.precision,
                               focal_correction=args.focal_correction)
    _interrupt_on_sigterm()
    try:
        summary = process_bag(args.input, args.output, estimator, options,
                              progress=not args.quiet)
    except BagError as exc:
        raise UserError(one_line(exc)) from exc
    except OSError as exc:  # e.g. disk full while writing: nothing was left at OUT
        raise UserError(f"{args.output}: {one_line(exc)}") from exc
    for line in summary.lines():
        print(line)
    return 0
