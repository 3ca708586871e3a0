"""`depth-anything-ros export`: a checkpoint as ONNX or OpenVINO, checked against PyTorch."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "export a checkpoint to ONNX or OpenVINO (with our metadata), checked against PyTorch"
DESCRIPTION = """\
Export a Depth Anything checkpoint for ONNX Runtime, OpenVINO or TensorRT. The file carries the
model's metadata (config, kind, max_depth, normalisation, canonical focal length when the
checkpoint records one), so `predict`, `bag` and the node load it like a checkpoint:
--weights model.onnx (ONNX Runtime) or --weights model.xml (OpenVINO).

The network input is fixed by default: a --width x --height camera (default 640x480) resized as
the estimator does (short side --input-size, multiples of 14), e.g. 640x480 at 518 -> 686x518.
--dynamic takes any size and batch instead (slower to run; TensorRT needs fixed shapes).
After exporting, the file is run on one synthetic frame next to PyTorch and the maximum
relative difference (max |export - torch| / max |torch|) is printed; OUT is written only if the
export ran.

TensorRT (untested here, no GPU was available): build an engine from the ONNX file on the
target, e.g.  trtexec --onnx=model.onnx --fp16 --saveEngine=model.engine
"""
FRAME_SEED = 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from depth_anything_ros.commands.predict import add_model_arguments

    parser = subparsers.add_parser("export", help=HELP, description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser)
    parser.add_argument("--format", required=True, choices=("onnx", "openvino"),
                        help="onnx (.onnx) or openvino (.xml + .bin)")
    parser.add_argument("--out", required=True, type=Path, metavar="FILE",
                        help="output file: *.onnx or *.xml (the .bin is written beside it)")
    parser.add_argument("--height", type=int, default=480, metavar="H",
                        help="camera image height the fixed input is made for (default: 480)")
    parser.add_argument("--width", type=int, default=640, metavar="W",
                        help="camera image width the fixed input is made for (default: 640)")
    parser.add_argument("--dynamic", action="store_true",
                        help="any batch and image size instead of one fixed input")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "bf16"),
                        help="fp32 (default); fp16: half-precision ONNX graph (TensorRT/GPU) or "
                             "half-size OpenVINO weights; bf16: OpenVINO only, its default "
                             "inference precision")
    parser.set_defaults(func=run)


def _check_arguments(args: argparse.Namespace) -> None:
    from depth_anything_ros.cli import UserError
    from depth_anything_ros.inference.export import check_options

    try:
        check_options(args.format, args.precision, args.out)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    for name in ("height", "width"):
        if getattr(args, name) <= 0:
            raise UserError(f"--{name} {getattr(args, name)}: must be a positive number of pixels")
    if args.input_size is not None and (args.input_size <= 0 or args.input_size % 14):
        raise UserError(f"--input-size {args.input_size}: must be a positive multiple of 14")
    if args.out.is_dir():
        raise UserError(f"--out {args.out}: is a directory; give a file name")


def run(args: argparse.Namespace) -> int:
    from depth_anything_ros.cli import UserError
    from depth_anything_ros.commands.predict import one_line
    from depth_anything_ros.inference import network_size
    from depth_anything_ros.inference.backends import BackendMissing, import_runtime
    from depth_anything_ros.inference.export import ExportError, export_model
    from depth_anything_ros.inference.export_cache import weights_digest
    from depth_anything_ros.inference.export_metadata import checkpoint_extras
    from depth_anything_ros.model import default_weights_path, load_model

    _check_arguments(args)
    try:  # fail before the model loads
        for module in ("onnx", "onnxscript") + (("openvino",) if args.format == "openvino"
                                                 else ()):
            import_runtime(module)
    except BackendMissing as exc:
        raise UserError(str(exc)) from exc
    weights = args.weights if args.weights is not None else default_weights_path()
    _refuse_writing_over(weights, args.out, args.format)
    try:
        model = load_model(weights, version=args.version, variant=args.variant,
                           max_depth=args.max_depth, input_size=args.input_size)
        extras, provenance = checkpoint_extras(weights)
    except (ValueError, OSError) as exc:  # CheckpointError is a ValueError
        raise UserError(one_line(exc)) from exc
    shape = None if args.dynamic else network_size(args.height, args.width,
                                                   model.config.input_size)
    frame = _check_frame(args.height, args.width)
    try:
        checked = export_model(
            model, args.out, fmt=args.format, network_shape=shape, precision=args.precision,
            source={"file": Path(weights).name, "weights_sha256": weights_digest(model)},
            provenance=provenance, extras=extras,
            verify=lambda staged: _compare_with_torch(model, staged, args.format, frame))
    except (ExportError, ValueError, BackendMissing) as exc:
        raise UserError(f"{args.out}: {one_line(exc)}") from exc
    except OSError as exc:
        raise UserError(f"{args.out}: cannot write ({one_line(exc)})") from exc
    backend, precision, diff = checked
    size = args.out.stat().st_size + (args.out.with_suffix(".bin").stat().st_size
                                      if args.format == "openvino" else 0)
    what = ("any batch and size (dynamic)" if shape is None
            else f"1x3x{shape[0]}x{shape[1]} (a {args.width}x{args.height} camera at input "
                 f"size {model.config.input_size})")
    print(f"wrote {args.out} ({args.format}, {args.precision}, input {what}, "
          f"{size / 1e6:.1f} MB)")
    print(f"max relative difference vs PyTorch fp32 on one {args.width}x{args.height} frame: "
          f"{diff:.2e} ({backend}, {precision})")
    if "canonical_focal" in extras:
        print(f"canonical_focal {extras['canonical_focal']} copied from {weights}")
    return 0


def _refuse_writing_over(weights, out: Path, fmt: str) -> None:
    """Inputs are never modified: an OpenVINO export writes its .bin beside the .xml, which can
    be the checkpoint itself (HF's `pytorch_model.bin` exported as `pytorch_model.xml`)."""
    from depth_anything_ros.cli import UserError

    written = [out] + ([out.with_suffix(".bin")] if fmt == "openvino" else [])
    source = Path(weights).expanduser()
    for path in written:
        if path.exists() and source.exists() and path.resolve() == source.resolve():
            raise UserError(f"--out {out}: would write {path}, which is the checkpoint being "
                            "exported; choose another output name")


def _check_frame(height: int, width: int):
    """A deterministic camera-like frame: smooth gradients plus texture."""
    import numpy as np

    rng = np.random.default_rng(FRAME_SEED)
    v, u = np.mgrid[0:height, 0:width]
    base = np.stack([u * 255 / max(width - 1, 1), v * 255 / max(height - 1, 1),
                     (u + v) * 127 / max(width + height - 2, 1)], axis=-1)
    return np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)


def _compare_with_torch(model, staged: Path, fmt: str, frame) -> tuple[str, str, float]:
    """(backend, precision, max relative difference) of the staged export vs PyTorch fp32,
    both through DepthEstimator (the same pre/post-processing)."""
    from depth_anything_ros.inference import DepthEstimator
    from depth_anything_ros.inference.backends import BackendMissing
    from depth_anything_ros.inference.export import max_relative_difference

    reference = DepthEstimator(model, device="cpu").predict(frame).values
    backends = ("onnxruntime", "openvino") if fmt == "onnx" else ("openvino",)
    errors = []
    for backend in backends:
        try:
            estimator = DepthEstimator.from_weights(staged, backend=backend, device="cpu")
            values = estimator.predict(frame).values
        except BackendMissing as exc:
            errors.append(str(exc))
            continue
        except Exception as exc:  # noqa: BLE001 — e.g. no CPU kernel for an fp16 graph
            errors.append(f"{backend}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
            continue
        return backend, estimator.precision, max_relative_difference(values, reference)
    raise ExportCheckError("the export could not be run to check it: " + "; ".join(errors))


class ExportCheckError(ValueError):
    """The exported file did not run in any installed runtime."""
