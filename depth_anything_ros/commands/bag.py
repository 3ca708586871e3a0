"""`depth-anything-ros bag`: a ROS 2 bag in, a bag with depth images, camera_info and clouds out."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from depth_anything_ros.scale.corrector import ScaleSettings
from depth_anything_ros.scale.gravity import GravityConfig
from depth_anything_ros.scale.ground_plane import GroundConfig
from depth_anything_ros.scale.temporal import DEFAULT_TIME_CONSTANT_S

HELP = "add depth, camera_info and point clouds to a ROS 2 bag (sqlite3 or MCAP)"
DESCRIPTION = """\
Read a ROS 2 bag (sqlite3 .db3 or MCAP; no ROS install needed), run the depth model on every
frame of --image-topic (sensor_msgs/Image or CompressedImage) and write a new bag OUT with

  <ns>/depth/image        sensor_msgs/Image 32FC1 metres, NaN invalid (or 16UC1 mm, 0 invalid)
  <ns>/depth/camera_info  the depth image's own CameraInfo (ROI/binning folded in, resized)
  <ns>/depth/points       organized PointCloud2 x,y,z,rgb (NaN where depth is invalid)

where <ns> is the camera namespace (/cam/image_raw → /cam), plus the copied input topics; every
message keeps the input header and its original bag time. Metric models give metres directly;
--sparse-depth-topic (a lidar/ToF/RGB-D depth Image registered to the camera) or --camera-height
(a flat floor below the camera; --ground-frame reads the mount from the bag's /tf_static) anchor
the scale per frame, smoothed over time, and make relative (disparity) models usable too.
OUT is written beside itself under a hidden temporary name and appears only when the whole bag
succeeded; the input bag is never modified.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bag", help=HELP, description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", type=Path, metavar="IN", help="input bag (folder, .db3 or .mcap)")
    parser.add_argument("output", type=Path, metavar="OUT", help="output bag folder (must not exist)")
    add_job_arguments(parser)
    parser.set_defaults(func=run)


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """Every option of a bag job. `bag` and `bags` both take exactly these: a new option goes
    here, and if it changes the job, into `BagJobOptions` under the same name as its dest
    (`job_options` copies those over), so `bags` gets it with no further code."""
    from depth_anything_ros.commands.predict import (add_backend_arguments, add_focal_arguments,
                                                     add_model_arguments)

    parser.add_argument("--image-topic", required=True, metavar="T",
                        help="camera topic (sensor_msgs/Image or sensor_msgs/CompressedImage)")
    parser.add_argument("--camera-info-topic", default=None, metavar="C",
                        help="CameraInfo topic (default: <ns>/camera_info beside the image topic); "
                             "each frame takes the info of its own header stamp, and of its "
                             "own frame_id when the topic carries several")
    add_model_arguments(parser)
    add_backend_arguments(parser)
    add_focal_arguments(parser)  # the focal comes from each frame's CameraInfo (K, or P)
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda or cuda:N")
    parser.add_argument("--precision", default=None, choices=("fp32", "fp16", "bf16"),
                        help="compute precision; fp16 needs CUDA with torch (default: fp32, or an "
                             "exported file's own)")
    parser.add_argument("--batch-size", type=int, default=4, metavar="N",
                        help="frames per forward pass (frames of one size are batched; default: 4)")
    parser.add_argument("--no-points", dest="points", action="store_false", help="do not write point clouds")
    parser.add_argument("--points-stride", type=int, default=1, metavar="S",
                        help="keep every S-th pixel in each direction in the clouds (default: 1)")
    parser.add_argument("--depth-encoding", default="32FC1", choices=("32FC1", "16UC1"),
                        help="32FC1 metres (REP-118, default) or 16UC1 millimetres")
    parser.add_argument("--intrinsics-source", default="auto", choices=("auto", "K", "P"),
                        help="camera model, as the node's parameter: K = raw images (K and the lens "
                             "distortion D), P = rectified (D ignored), auto = K with D when D is "
                             "non-zero, else P when valid, else K (default: auto)")
    parser.add_argument("--fallback-hfov-deg", type=float, default=0.0, metavar="DEG",
                        help="uncalibrated camera (no CameraInfo, or K all zero): assume a pinhole with "
                             "this horizontal field of view for camera_info and clouds (default: 0 = off)")
    parser.add_argument("--mono16-bits", type=int, default=16, metavar="B",
                        help="significant bits of 16-bit camera pixels, e.g. 12 for a 12-bit sensor "
                             "(default: 16)")
    parser.add_argument("--copy-topics", default="all", metavar="all|none|T1,T2",
                        help="input topics copied unchanged into OUT (default: all)")
    parser.add_argument("--storage", default=None, choices=("mcap", "sqlite3"),
                        help="storage of OUT (default: the input's)")
    parser.add_argument("--distro", default="humble", choices=("humble", "jazzy"),
                        help="humble: bag version 8, readable by Humble and Jazzy (default); jazzy: version 9")
    parser.add_argument("--export-dir", type=Path, default=None, metavar="DIR",
                        help="also write per-frame rgb/, depth/ (16-bit mm PNG + .npy), preview/, "
                             "intrinsics/ (bags: into DIR/<relative path of each bag>)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace outputs (and --export-dir) that exist (bags: redo finished bags)")
    parser.add_argument("--strict", action="store_true",
                        help="fail (writing nothing) on the first undecodable frame instead of "
                             "skipping it (bags: also stop at the first failed bag)")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="decode/encode threads (default: CPUs, at least 2, at most 8)")
    scale = parser.add_argument_group("metric scale (as the node's scale_source)")
    scale.add_argument("--sparse-depth-topic", default=None, metavar="T",
                       help="sensor_msgs/Image of metric depth registered to the camera (32FC1 m "
                            "or 16UC1 mm; NaN/0 = none): fit the scale to it per frame")
    scale.add_argument("--sparse-depth-tolerance", type=float, default=0.05, metavar="S",
                       help="seconds between a frame and its sparse depth stamp (default: 0.05)")
    scale.add_argument("--camera-height", type=float, default=None, metavar="M",
                       help="ground plane: the camera's optical centre is M metres above a flat "
                            "floor (needs CameraInfo)")
    scale.add_argument("--camera-pitch", type=float, default=0.0, metavar="DEG",
                       help="ground plane: optical axis below the horizon, positive looks down "
                            "(default: 0)")
    scale.add_argument("--camera-roll", type=float, default=0.0, metavar="DEG",
                       help="ground plane: rotation about the optical axis (default: 0)")
    scale.add_argument("--ground-frame", default=None, metavar="FRAME",
                       help="ground plane: the camera's height and the floor's direction from "
                            "the bag's static transforms, FRAME being the frame on the floor, z "
                            "up (REP-120's base_footprint), the camera the frame_id of its "
                            "images; instead of --camera-height/--camera-pitch/--camera-roll")
    scale.add_argument("--tf-static-topic", default="/tf_static", metavar="T",
                       help="the bag's static transforms, tf2_msgs/TFMessage (default: "
                            "/tf_static)")
    scale.add_argument("--imu-topic", default=None, metavar="T",
                       help="ground plane: the floor's direction from this sensor_msgs/Imu "
                            "topic's accelerometer instead of --camera-pitch/--camera-roll (a "
                            "camera that tilts; the node's ground_normal: imu)")
    scale.add_argument("--imu-rpy", type=float, nargs=3, default=(0.0, 0.0, 0.0),
                       metavar=("R", "P", "Y"),
                       help="the IMU frame's roll, pitch, yaw in the camera's optical frame "
                            "(degrees, URDF convention; default: 0 0 0, an IMU in the optical "
                            "frame's axes)")
    scale.add_argument("--imu-smoothing", type=float, default=GravityConfig.time_constant_s,
                       metavar="S", help="time constant of the accelerometer's average "
                       f"(default: {GravityConfig.time_constant_s:g} s)")
    scale.add_argument("--imu-orientation", action="store_true",
                       help="up from the Imu messages' orientation (an IMU filter's or AHRS's "
                            "estimate in a z-up world frame, REP-145) instead of their "
                            "accelerometer, which leans while the camera accelerates (the "
                            "node's imu_orientation)")
    scale.add_argument("--scale-smoothing", type=float, default=DEFAULT_TIME_CONSTANT_S,
                       metavar="S", help="time constant of the scale's log-space average; 0 = "
                       f"every frame's own fit (default: {DEFAULT_TIME_CONSTANT_S:g})")
    scale.add_argument("--scale-model", default="scale_shift", choices=("scale_shift", "scale"),
                       help="metric weights: fit depth = scale·prediction + shift when the "
                            "anchors span depths and the line explains more of them (default), "
                            "or one scale")
    scale.add_argument("--ground-max-correction", type=float,
                       default=GroundConfig.max_correction, metavar="X",
                       help="ground plane, metric weights: refuse a floor fit that would scale "
                            "the model's depth up by more than X (a desk top or a wall's base "
                            "taken for the floor; a floor seen from near to far may go to "
                            f"×{GroundConfig.wide_max_correction:g}, or X if larger); 0 = no "
                            f"limit (default: {GroundConfig.max_correction:g})")
    # the node's remaining scale parameters, same names and defaults (ScaleSettings), so a node
    # tuned away from the defaults can be reproduced on its recordings
    defaults = ScaleSettings()
    scale.add_argument("--scale-gate", type=float, default=defaults.gate, metavar="G",
                       help="a per-frame scale farther than G from the smoothed one (|Δ log "
                            f"scale|) is an outlier (default: {defaults.gate:g})")
    scale.add_argument("--scale-reset-frames", type=int, default=defaults.reset_frames,
                       metavar="N", help="after N outliers in a row the filter restarts at the "
                       f"new scale (default: {defaults.reset_frames})")
    scale.add_argument("--scale-max-age", type=float, default=defaults.max_age_s, metavar="S",
                       help="how long the last scale is held for frames without a fit "
                            f"(default: {defaults.max_age_s:g} s)")
    scale.add_argument("--scale-min-anchors", type=int, default=defaults.min_anchors,
                       metavar="N", help="fewer valid anchors than N: no fit "
                       f"(default: {defaults.min_anchors})")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--verbose", action="store_true",
                        help="log every skipped frame (the summary always counts them by reason)")


def job_options(args: argparse.Namespace, **changes: object) -> "BagJobOptions":  # noqa: F821
    """`BagJobOptions` from parsed arguments: every field whose name is an argument's dest,
    then `changes` (`bags` sets each bag's export folder)."""
    from dataclasses import fields

    from depth_anything_ros.bag.options import BagJobOptions

    values = {f.name: getattr(args, f.name) for f in fields(BagJobOptions) if hasattr(args, f.name)}
    return BagJobOptions(**{**values, **changes})


def load_job_estimator(args: argparse.Namespace, device: str | None = None):
    """The model of a bag job, from the arguments of `add_job_arguments` (`bags` passes each
    rank's device)."""
    from depth_anything_ros.commands.predict import load_estimator

    return load_estimator(args, device=device or args.device, precision=args.precision,
                          streaming=True)  # frames of one size: backend auto traces on the CPU


def setup_logging(verbose: bool) -> None:
    """Warnings as one line each; `--verbose` adds the package's per-frame DEBUG lines."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    logging.getLogger("depth_anything_ros").setLevel(logging.DEBUG if verbose else logging.NOTSET)


def interrupt_on_sigterm() -> None:
    """SIGTERM (containers, systemd) → KeyboardInterrupt, so the staged output is discarded."""
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (embedded use): leave signals alone
        pass


def require_rosbags() -> None:
    """UserError when `rosbags` is missing: the node does not need it, so a ROS install may
    lack it (package.xml leaves the pip-only rosdep key out; README § In a ROS 2 workspace)."""
    try:
        import rosbags  # noqa: F401
    except ImportError:
        from depth_anything_ros.cli import UserError

        raise UserError("the bag tools need the Python package rosbags, which is not installed: "
                        "pip install rosbags (on Ubuntu 24.04 inside a venv made with "
                        "--system-site-packages)") from None


def run(args: argparse.Namespace) -> int:
    require_rosbags()
    from depth_anything_ros.bag.errors import BagError, BagNoDepthError
    from depth_anything_ros.bag.process import preflight, process_bag
    from depth_anything_ros.cli import UserError
    from depth_anything_ros.commands.predict import one_line

    setup_logging(args.verbose)
    options = job_options(args)
    try:
        preflight(args.input, args.output, options)  # fail before the model loads
    except BagError as exc:
        raise UserError(one_line(exc)) from exc
    estimator = load_job_estimator(args)
    interrupt_on_sigterm()
    try:
        summary = process_bag(args.input, args.output, estimator, options,
                              progress=not args.quiet)
    except BagNoDepthError as exc:  # why, by reason (a line each), then the error line
        for line in exc.summary.problem_lines():
            print(line, file=sys.stderr)
        raise UserError(one_line(exc)) from exc
    except BagError as exc:
        raise UserError(one_line(exc)) from exc
    except OSError as exc:  # e.g. disk full while writing: nothing was left at OUT
        raise UserError(f"{args.output}: {one_line(exc)}") from exc
    for line in summary.lines():
        print(line)
    return 0
