"""`depth-anything-ros predict`: depth for image files, written as .npy, 16-bit PNG and preview."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HELP = "estimate depth for image files"
DESCRIPTION = """\
Run Depth Anything on image files. For each IMAGE it writes into --out:
  <stem>.npy          float32 H×W, the raw result (metres for metric models, else disparity)
  <stem>.png          16-bit depth in millimetres, 0 = invalid (metric models only)
  <stem>_preview.png  colourised for people (near objects red, far blue)
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict", help=HELP, description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", type=Path,
                        help="image files (any format cv2 reads)")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="output folder (created if missing)")
    add_model_arguments(parser)
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA if available), cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "bf16"),
                        help="compute precision; fp16 needs CUDA (default: fp32)")
    parser.add_argument("--colormap", default="turbo",
                        help="cv2 colormap of the previews (default: turbo)")
    add_focal_arguments(parser)
    lens = parser.add_mutually_exclusive_group()
    lens.add_argument("--fx", type=float, default=None, metavar="PIXELS",
                      help="the camera's focal length in pixels of the given images (K[0]): "
                           "metric depth is corrected by f/f_c when the model declares its focal")
    lens.add_argument("--hfov", type=float, default=None, metavar="DEG",
                      help="the camera's horizontal field of view in degrees (instead of --fx)")
    parser.set_defaults(func=run)


def add_focal_arguments(parser: argparse.ArgumentParser) -> None:
    """--focal-correction (shared with `bag`)."""
    parser.add_argument("--focal-correction", default="auto", choices=("auto", "on", "off"),
                        help="multiply metric depth by f/f_c (the camera's normalised focal over "
                             "the model's): auto = for checkpoints trained in canonical-focal "
                             "space (the shipped model); on = also for official metric files "
                             "with a known training camera; off = never (default: auto)")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--weights and the overrides a checkpoint may need (shared with `info`)."""
    parser.add_argument("--weights", type=Path, metavar="PATH", default=None,
                        help="checkpoint: official .pth, HF folder, or our .safetensors "
                             "(default: the shipped model)")
    parser.add_argument("--version", choices=("v1", "v2"), default=None,
                        help="Depth Anything version, when the checkpoint cannot tell "
                             "(V1 and V2 share key names)")
    parser.add_argument("--variant", choices=("relative", "metric"), default=None,
                        help="relative (disparity) or metric (metres), when the checkpoint "
                             "cannot tell")
    parser.add_argument("--max-depth", type=float, default=None, metavar="M",
                        help="metric models: the max_depth in metres they were trained with "
                             "(20 indoor, 80 outdoor)")
    parser.add_argument("--input-size", type=int, default=None, metavar="N",
                        help="short side of the network input, a multiple of 14 "
                             "(default: the model's, usually 518)")


def load_estimator(args: argparse.Namespace, **options):
    """The estimator for --weights and overrides; user mistakes become one-line UserErrors."""
    from depth_anything_ros.cli import UserError
    from depth_anything_ros.inference import DepthEstimator

    try:
        return DepthEstimator.from_weights(
            args.weights, version=args.version, variant=args.variant,
            max_depth=args.max_depth, input_size=args.input_size, **options,
        )
    except (ValueError, OSError) as exc:  # CheckpointError is a ValueError
        raise UserError(one_line(exc)) from exc


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def read_rgb(path: Path) -> np.ndarray:
    """An image file as RGB uint8 H×W×3 (grey and 16-bit images are converted by cv2)."""
    import cv2

    from depth_anything_ros.cli import UserError

    if not path.is_file():
        raise UserError(f"{path}: no such image file")
    data = np.fromfile(path, dtype=np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise UserError(f"{path}: cannot read as an image "
                        "(not an image, or a format cv2 does not decode)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def check_unique_stems(images: list[Path]) -> None:
    from depth_anything_ros.cli import UserError

    seen: dict[str, Path] = {}
    for image in images:
        if image.stem in seen:
            raise UserError(f"{seen[image.stem]} and {image} would write the same outputs "
                            f"'{image.stem}.*'; run them into different --out folders")
        seen[image.stem] = image


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from depth_anything_ros.cli import UserError
    from depth_anything_ros.atomic_file import save_npy_atomic
    from depth_anything_ros.geometry.focal import fx_from_hfov
    from depth_anything_ros.visualize import (COLORMAPS, colorize, write_depth_png_mm,
                                              write_image_atomic)

    if args.colormap.removesuffix("_r") not in COLORMAPS:
        raise UserError(f"--colormap {args.colormap!r} is unknown; "
                        f"choose one of {', '.join(sorted(COLORMAPS))}")
    check_unique_stems(args.images)
    for image in args.images:  # fail before the model loads
        if not image.is_file():
            raise UserError(f"{image}: no such image file")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{args.out}: cannot create the output folder ({exc.strerror})") from exc

    for name in ("fx", "hfov"):
        value = getattr(args, name)
        if value is not None and not (0 < value < (180 if name == "hfov" else float("inf"))):
            raise UserError(f"--{name} {value}: must be "
                            + ("within (0, 180) degrees" if name == "hfov" else "> 0 pixels"))
    # channels_last: the DPT head's convolutions run ~1.5x faster on CPU (bench/model_cpu.py).
    estimator = load_estimator(args, device=args.device, precision=args.precision,
                               channels_last=True, focal_correction=args.focal_correction)
    if (args.fx or args.hfov) and not estimator.corrects_focal:
        print(f"note: --fx/--hfov ignored: focal_correction {args.focal_correction!r} does not "
              "apply to this model (it declares no canonical focal, or is relative)",
              file=sys.stderr)
    metric = estimator.kind.name == "METRIC_DEPTH"
    # Near objects look the same in both: small depth and large disparity both mean near.
    colormap = args.colormap if not metric else _reversed(args.colormap)
    progress = tqdm(args.images, unit="image", disable=len(args.images) < 2, file=sys.stderr)
    for image in progress:
        rgb = read_rgb(image)
        fx = args.fx if args.hfov is None else fx_from_hfov(args.hfov, rgb.shape[1])
        values = estimator.predict(rgb, fx=fx).values
        stem = image.stem  # not Path.with_suffix: "frame.001" must keep its dot
        try:
            save_npy_atomic(args.out / f"{stem}.npy", values)
            if metric:
                write_depth_png_mm(args.out / f"{stem}.png", values)
            preview = colorize(values, colormap=colormap)
            write_image_atomic(args.out / f"{stem}_preview.png", preview)
        except OSError as exc:
            raise UserError(f"{args.out}: cannot write the outputs of {image} "
                            f"({one_line(exc)})") from exc
    kind = "metric depth (m)" if metric else "relative disparity"
    print(f"wrote {kind} for {len(args.images)} image(s) to {args.out}")
    return 0


def _reversed(colormap: str) -> str:
    return colormap[:-2] if colormap.endswith("_r") else f"{colormap}_r"
