"""`depth-anything-ros demo`: the real depth node on a live synthetic camera, in one command."""
from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import threading
from pathlib import Path

HELP = "run the real depth node on a moving synthetic camera and report what came out"
DESCRIPTION = """\
Start the real depth_node (rclpy over DDS, localhost only, a private ROS_DOMAIN_ID unless one is
set) with the shipped model on the CPU, feed it a synthetic camera (Image rgb8 + CameraInfo on
camera_optical_frame) moving through a synthetic room, listen to depth/image,
depth/camera_info and depth/points, and write into --out:
  preview.png    RGB | predicted depth | ground-truth depth | bird's-eye view of the cloud
  summary.json   frames, rates, latency p50/p95, depth error against the ground truth, model
  depth_node.log everything the node printed

Exit status: 0 done; 1 the node failed to start or died; 2 bad arguments;
130 interrupted by Ctrl-C (the node is stopped cleanly and what was collected is written).
"""
DEFAULT_OUT = Path("demo_output")
MAX_FRAME_MEMORY = 2 * 2**30  # bytes of pre-rendered frames

log = logging.getLogger("depth_anything_ros.demo")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help=HELP, description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                        help=f"output folder, created if missing (default: {DEFAULT_OUT})")
    parser.add_argument("--duration", type=float, default=20.0, metavar="S",
                        help="seconds of camera motion to record (default: 20)")
    parser.add_argument("--rate", type=float, default=10.0, metavar="HZ",
                        help="camera frame rate (default: 10)")
    parser.add_argument("--width", type=int, default=320, help="camera image width (default: 320)")
    parser.add_argument("--height", type=int, default=240, help="camera image height (default: 240)")
    parser.add_argument("--weights", type=Path, default=None, metavar="PATH",
                        help="checkpoint for the node (default: the shipped models/default.safetensors)")
    parser.add_argument("--device", default="cpu", help="torch device of the node (default: cpu)")
    parser.add_argument("--backend", default="auto",
                        choices=("auto", "torch", "compile", "torchscript", "onnxruntime",
                                 "openvino"),
                        help="what runs the network in the node (its 'backend' parameter; "
                             "default auto: from the weights file)")
    parser.add_argument("--scene", choices=("indoor", "outdoor"), default="indoor",
                        help="synthetic world the camera moves through (default: indoor)")
    parser.add_argument("--scene-index", type=int, default=0, metavar="N",
                        help="which scene of synthetic:<scene>:test (default: 0)")
    parser.add_argument("--hfov", type=float, default=75.0, metavar="DEG",
                        help="horizontal field of view of the synthetic camera; metric depth from "
                             "one image depends on it (default: 75, inside the shipped model's "
                             "training fields of view, 35-100)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="extra depth_node parameter, e.g. input_size:=266 (repeatable)")
    parser.add_argument("--startup-timeout", type=float, default=120.0, metavar="S",
                        help="give up if the node has sent no depth image after S seconds (default: 120)")
    parser.set_defaults(func=run)


def _node_parameters(args: argparse.Namespace, weights: Path) -> dict[str, object]:
    from depth_anything_ros.cli import UserError

    params: dict[str, object] = {"weights": str(weights), "device": args.device,
                                 "backend": args.backend}
    for item in args.param:
        name, sep, value = item.partition(":=")
        if not sep or not name.strip():
            raise UserError(f"--param {item!r}: expected NAME:=VALUE, e.g. input_size:=266")
        params[name.strip()] = value
    return params


def _check_arguments(args: argparse.Namespace) -> Path:
    """Validate everything before anything starts; returns the weights path."""
    from depth_anything_ros.cli import UserError
    from depth_anything_ros.model.checkpoints import default_weights_path

    if not (math.isfinite(args.duration) and args.duration > 0):
        raise UserError(f"--duration {args.duration}: must be a positive number of seconds")
    if not (math.isfinite(args.rate) and 0 < args.rate <= 100):
        raise UserError(f"--rate {args.rate}: must be within (0, 100] Hz")
    for name in ("width", "height"):
        value = getattr(args, name)
        if not 16 <= value <= 4096:
            raise UserError(f"--{name} {value}: must be within 16..4096 pixels")
    frames = math.ceil(args.duration * args.rate)
    frame_bytes = args.width * args.height * (3 + 4)  # RGB + float32 ground truth
    if frames * frame_bytes > MAX_FRAME_MEMORY:
        raise UserError(
            f"--duration × --rate = {frames} frames of {args.width}x{args.height} need "
            f"{frames * frame_bytes / 2**30:.1f} GiB (they are rendered into memory first); "
            f"keep it under {MAX_FRAME_MEMORY / 2**30:.0f} GiB")
    if not (math.isfinite(args.hfov) and 10.0 <= args.hfov <= 170.0):
        raise UserError(f"--hfov {args.hfov}: must be within 10..170 degrees")
    if args.scene_index < 0:
        raise UserError(f"--scene-index {args.scene_index}: must be 0 or more")
    if not args.startup_timeout > 0:
        raise UserError(f"--startup-timeout {args.startup_timeout}: must be positive")
    weights = (args.weights or default_weights_path()).expanduser()
    if not weights.exists():
        hint = "" if args.weights else " (the shipped model is missing: pass --weights PATH)"
        raise UserError(f"weights {weights}: no such file or directory{hint}")
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out}: exists and is not a directory")
    return weights.resolve()


def run(args: argparse.Namespace) -> int:
    from depth_anything_ros.demo.session import DemoError, DemoOptions, run_demo
    from depth_anything_ros.demo.summary import model_info

    weights = _check_arguments(args)
    options = DemoOptions(
        duration_s=args.duration, rate_hz=args.rate, width=args.width, height=args.height,
        node_parameters=_node_parameters(args, weights), scene=args.scene,
        scene_index=args.scene_index, hfov_deg=args.hfov, startup_timeout_s=args.startup_timeout,
    )
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="demo: %(message)s", stream=sys.stderr)
    if args.scene == "outdoor" and args.weights is None:
        log.warning("the shipped model knows indoor rooms only (its metric head stops at 20 m): "
                    "on the outdoor scene its depth is not meaningful, only the plumbing is; "
                    "pass --weights of an outdoor metric model (e.g. "
                    "depth_anything_v2_metric_vkitti_vits.pth) to judge accuracy")
    args.out.mkdir(parents=True, exist_ok=True)

    # Ctrl-C: finish the current phase, stop the node with SIGINT, write what was collected.
    stop = threading.Event()

    def on_signal(signum, _frame):
        if stop.is_set():
            raise KeyboardInterrupt  # a second Ctrl-C: give up waiting
        log.info("%s received: stopping (press Ctrl-C again to abort)", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = run_demo(options, stop)
    except DemoError as exc:
        print(f"depth-anything-ros demo: error: {exc}", file=sys.stderr)
        return 130 if stop.is_set() else 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _write_outputs(result, model_info(weights), args.out)
    if result.failure:
        return 1
    if result.interrupted:
        return 130
    return 0 if result.recorder_stats["depth_records"] else 1


def _write_outputs(result, model: dict, out: Path) -> None:
    from depth_anything_ros.atomic_file import write_text_atomic
    from depth_anything_ros.demo.preview import compose_preview
    from depth_anything_ros.demo.summary import build_summary, summary_text, write_json_atomic
    from depth_anything_ros.visualize import write_image_atomic

    summary = build_summary(result, model)
    write_text_atomic(out / "depth_node.log", result.node_log)
    if result.preview is not None:
        index, depth, xyz, rgb = result.preview
        frame = result.frames[index]
        err = summary["depth_error"]
        title = (f"depth_anything_ros demo | frame {index + 1}/{len(result.frames)} | "
                 f"{Path(model['weights']).name} | mean abs_rel {err['abs_rel']:.3f} over "
                 f"{err['n_images']} frames" if err["abs_rel"] is not None
                 else f"depth_anything_ros demo | frame {index + 1}/{len(result.frames)}")
        picture = compose_preview(frame.rgb, depth, frame.depth, xyz,
                                  None if rgb is None else rgb[..., ::-1],
                                  fx=frame.fx, cx=frame.cx, title=title)
        write_image_atomic(out / "preview.png", picture)
        summary["preview"] = {"file": "preview.png", "frame_index": index}
    else:  # nothing came back: never leave an older run's picture looking like this one's
        (out / "preview.png").unlink(missing_ok=True)
        summary["preview"] = None
    write_json_atomic(out / "summary.json", summary)
    print(summary_text(summary, out))

