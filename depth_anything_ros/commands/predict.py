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
  <stem>_preview.png  for people: the image | depth with a scale bar in metres (near red,
                      far blue; README § Pictures); with --gt also | the error |d - gt| / gt
                      with the frame's abs_rel in its title (also printed)
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
    add_backend_arguments(parser)
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA if available), cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--precision", default=None, choices=("fp32", "fp16", "bf16"),
                        help="compute precision; fp16 needs CUDA with torch (default: fp32, "
                             "or an exported file's own)")
    parser.add_argument("--colormap", default=None,
                        help="colormap of the previews, applied to nearness (default: "
                             "spectral_r, near red; README § Pictures)")
    parser.add_argument("--gt", action="append", type=Path, metavar="DEPTH", default=None,
                        help="ground-truth depth for the error panel, once per IMAGE in the same "
                             "order: .npy metres or 16-bit PNG (see --gt-scale)")
    parser.add_argument("--gt-scale", type=float, default=1000.0, metavar="UNITS",
                        help="16-bit PNG ground truth: units per metre (default: 1000, "
                             "millimetres; TUM RGB-D: 5000)")
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
                        help="checkpoint: official .pth, HF folder, or our .safetensors; or an "
                             "export: .onnx, OpenVINO .xml (default: the shipped model)")
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
                             "(default: the model's own: 168 for the shipped model, 518 for "
                             "official weights; `info` prints it)")


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """--backend and --cache-dir (shared with `bag`)."""
    parser.add_argument("--backend", default="auto",
                        choices=("auto", "torch", "compile", "torchscript", "onnxruntime",
                                 "openvino"),
                        help="what runs the network; auto: from --weights (.onnx → onnxruntime, "
                             ".xml → openvino; a checkpoint: torch for predict, torchscript "
                             "for bag on the CPU in fp32); onnxruntime/openvino on a "
                             "checkpoint export it on first use into --cache-dir")
    parser.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                        help="exports made on first use (default: $DAR_CACHE_DIR, else "
                             "~/.cache/depth_anything_ros/exports)")


def load_estimator(args: argparse.Namespace, **options):
    """The estimator for --weights and overrides; user mistakes become one-line UserErrors."""
    from depth_anything_ros.cli import UserError
    from depth_anything_ros.inference import DepthEstimator
    from depth_anything_ros.inference.backends import BackendMissing

    for name in ("backend", "cache_dir", "focal_correction"):
        if getattr(args, name, None) is not None:
            options.setdefault(name, getattr(args, name))
    try:
        return DepthEstimator.from_weights(
            args.weights, version=args.version, variant=args.variant,
            max_depth=args.max_depth, input_size=args.input_size, **options,
        )
    except (ValueError, OSError, BackendMissing) as exc:  # CheckpointError is a ValueError
        raise UserError(one_line(exc)) from exc


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def check_image_path(path: Path) -> None:
    """UserError naming what `path` is when it is not an image file we can open."""
    from depth_anything_ros.cli import UserError

    if path.is_dir():
        raise UserError(f"{path}: is a folder, not an image; pass image files "
                        f"(e.g. {path}/*.jpg)")
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if not path.is_file():
        raise UserError(f"{path}: not a regular file")


def read_rgb(path: Path) -> np.ndarray:
    """An image file as RGB uint8 H×W×3 (grey and 16-bit images are converted by cv2)."""
    import cv2

    from depth_anything_ros.cli import UserError

    check_image_path(path)
    data = np.fromfile(path, dtype=np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise UserError(f"{path}: cannot read as an image "
                        "(not an image, or a format cv2 does not decode)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def output_names(stem: str) -> tuple[str, str, str]:
    """The files one image writes into --out (the .png only for metric models)."""
    return f"{stem}.npy", f"{stem}.png", f"{stem}_preview.png"


def check_outputs(images: list[Path], out: Path, inputs: list[Path]) -> None:
    """Refuse a run that would write one file twice (`a.png` and `a.jpg`; `a` and `a_preview`)
    or write over one of its `inputs` (`--out` the images' own folder: `photo.png` would
    become its own depth map)."""
    from depth_anything_ros.cli import UserError

    given = {path.resolve(): path for path in inputs}
    planned: dict[Path, Path] = {}
    for image in images:
        for name in output_names(image.stem):
            target = (out / name).resolve()
            if target in given:
                raise UserError(f"{image}: its output {out / name} would overwrite the input "
                                f"{given[target]}; choose another --out")
            if target in planned:
                raise UserError(f"{planned[target]} and {image} would both write {out / name}; "
                                "run them into different --out folders")
            planned[target] = image


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from depth_anything_ros.cli import UserError
    from depth_anything_ros.atomic_file import save_npy_atomic
    from depth_anything_ros.geometry.focal import fx_from_hfov
    from depth_anything_ros.previews import depth_preview
    from depth_anything_ros.visualize import (DEFAULT_COLORMAP, check_colormap,
                                              write_depth_png_mm, write_image_atomic)

    colormap = args.colormap or DEFAULT_COLORMAP
    try:
        check_colormap(colormap)
    except ValueError as exc:
        raise UserError(f"--colormap: {exc}") from exc
    check_outputs(args.images, args.out, args.images + list(args.gt or []))
    for image in args.images:  # fail before the model loads
        check_image_path(image)
    gts = read_ground_truths(args)
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
    elif args.fx is None and args.hfov is None and estimator.corrects_focal:
        print("note: no --fx/--hfov: this model's depth is for its canonical camera (normalised "
              f"focal {estimator.config.canonical_focal:.3g}) and is not focal-corrected; give "
              "the camera's focal length for metres on your camera", file=sys.stderr)
    metric = estimator.kind.name == "METRIC_DEPTH"
    progress = tqdm(args.images, unit="image", disable=len(args.images) < 2, file=sys.stderr)
    for index, image in enumerate(progress):
        rgb = read_rgb(image)
        try:
            fx = args.fx if args.hfov is None else fx_from_hfov(args.hfov, rgb.shape[1])
            values = estimator.predict(rgb, fx=fx).values
        except ValueError as exc:  # e.g. an export made for another image size
            raise UserError(f"{image}: {one_line(exc)}") from exc
        try:
            preview = depth_preview(rgb, values, kind="depth" if metric else "disparity",
                                    colormap=colormap, gt=gts[index], input_title=image.name)
        except ValueError as exc:  # ground truth of another size, or with nothing valid
            raise UserError(f"{args.gt[index] if args.gt else image}: {one_line(exc)}") from exc
        stem = image.stem  # not Path.with_suffix: "frame.001" must keep its dot
        try:
            save_npy_atomic(args.out / f"{stem}.npy", values)
            if metric:
                write_depth_png_mm(args.out / f"{stem}.png", values)
            write_image_atomic(args.out / f"{stem}_preview.png", preview.image)
        except OSError as exc:
            raise UserError(f"{args.out}: cannot write the outputs of {image} "
                            f"({one_line(exc)})") from exc
        if preview.error is not None:
            print(f"{image}: {preview.error.title}")
    kind = "metric depth (m)" if metric else "relative disparity"
    print(f"wrote {kind} for {len(args.images)} image(s) to {args.out}")
    return 0


def read_ground_truths(args: argparse.Namespace) -> list:
    """One ground-truth depth (metres) or None per image; user mistakes are UserErrors."""
    from depth_anything_ros.cli import UserError
    from depth_anything_ros.conversions.depth_files import DepthFileError, read_depth_file

    if not args.gt:
        return [None] * len(args.images)
    if len(args.gt) != len(args.images):
        raise UserError(f"--gt was given {len(args.gt)} time(s) for {len(args.images)} image(s); "
                        "give one ground truth per IMAGE, in the same order")
    if not args.gt_scale > 0:
        raise UserError(f"--gt-scale must be positive, got {args.gt_scale}")
    gts = []
    for path in args.gt:
        if not path.is_file():
            raise UserError(f"{path}: no such ground-truth file")
        try:
            gts.append(read_depth_file(path, args.gt_scale))
        except DepthFileError as exc:
            raise UserError(one_line(exc)) from exc
    return gts
