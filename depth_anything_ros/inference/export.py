"""Export a `DepthAnything` to ONNX or OpenVINO, with our metadata, written atomically.

ONNX comes from `torch.onnx.export(..., dynamo=True, opset_version=18)`; the TorchScript
exporter fails on the bicubic position-embedding resize (REFERENCE.md §14). OpenVINO files are
converted from that ONNX graph (`openvino.convert_model`), so both formats run the same graph.

Shapes: a fixed (1, 3, h, w) input is the fastest and the only kind TensorRT engines take; a
`dynamic` export takes any batch and any h, w that are multiples of 14 (the position table is
then resized by matrix products that keep the size symbolic, see `model/dinov2.py`).

Precision: fp32 graphs by default. ONNX fp16 stores and computes in half precision (for
TensorRT / GPUs; ONNX Runtime's CPU provider lacks most fp16 kernels). OpenVINO fp16 stores
half-size weights; OpenVINO bf16 stores fp32 weights and records bf16 as the default inference
hint. bf16 ONNX is refused: no CPU runtime runs it.
"""
from __future__ import annotations

import contextlib
import copy
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

import torch
from torch import nn

from depth_anything_ros.atomic_file import OUTPUT_MODE

from .backends import import_runtime
from .export_metadata import PRECISIONS, build_metadata
from .runtimes import OPENVINO_RT_KEY

log = logging.getLogger(__name__)

FORMATS = {"onnx": ".onnx", "openvino": ".xml"}
OPSET = 18
PATCH = 14


class ExportError(RuntimeError):
    """The exporter or converter failed; the message names the output and the reason."""


class _HalfPrecision(nn.Module):
    """fp16 inside, float32 at the boundary: callers keep feeding float32 frames."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.half()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.half()).float()


def check_options(fmt: str, precision: str, out: Path) -> None:
    """ValueError for a format/precision/output-name combination that cannot be made."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {tuple(FORMATS)}, got {fmt!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if fmt == "onnx" and precision == "bf16":
        raise ValueError("bf16 ONNX has no CPU runtime; export --format openvino --precision "
                         "bf16, or fp32 ONNX and run it with backend openvino, precision bf16")
    if out.suffix.lower() != FORMATS[fmt]:
        raise ValueError(f"{out}: a {fmt} export must be named *{FORMATS[fmt]}")


def export_model(model: nn.Module, out: str | Path, *, fmt: str,
                 network_shape: tuple[int, int] | None, precision: str = "fp32",
                 source: Mapping[str, Any] | None = None,
                 provenance: Mapping[str, Any] | None = None,
                 extras: Mapping[str, str] | None = None,
                 verify: Callable[[Path], Any] | None = None) -> Any:
    """Write `model` as `out` (.onnx, or .xml + .bin) for a (1, 3, h, w) input, or any input
    when `network_shape` is None. `verify(staged_file)` runs on the finished file before it is
    moved into place (its result is returned); nothing appears at `out` unless the export and
    the verification succeeded."""
    out = Path(out)
    check_options(fmt, precision, out)
    config = model.config
    if network_shape is not None and any(side % PATCH or side <= 0 for side in network_shape):
        raise ValueError(f"network input {network_shape} must be positive multiples of {PATCH}")
    input_shape = (1, 3, *network_shape) if network_shape else (None, 3, None, None)
    metadata = build_metadata(config, precision=precision, input_shape=input_shape,
                              source={**(source or {}), "torch": torch.__version__,
                                      "opset": OPSET},
                              provenance=provenance, extras=extras)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as tmp:
        staged = Path(tmp) / f"model{out.suffix}"
        onnx_file = Path(tmp) / "model.onnx"
        half = fmt == "onnx" and precision == "fp16"
        _export_onnx(model.eval(), onnx_file, network_shape, half, metadata)
        if fmt == "openvino":
            _convert_openvino(onnx_file, staged, precision, metadata)
        result = verify(staged) if verify is not None else None
        if fmt == "onnx":
            os.chmod(staged, OUTPUT_MODE)
            os.replace(staged, out)
        else:  # the .bin lands before the .xml that a reader looks for, each atomically
            for suffix in (".bin", ".xml"):
                os.chmod(staged.with_suffix(suffix), OUTPUT_MODE)
                os.replace(staged.with_suffix(suffix), out.with_suffix(suffix))
    log.info("exported %s", out)
    return result


def max_relative_difference(values: np.ndarray, reference: np.ndarray) -> float:
    """max |values − reference| / max |reference| (scale-relative, so near-zero pixels of a
    relative model cannot blow it up); inf when the shapes differ or a value is not finite.
    Two all-zero outputs (a random relative model can output zeros after its ReLU) agree: 0."""
    values, reference = np.asarray(values, np.float64), np.asarray(reference, np.float64)
    if values.shape != reference.shape or not np.isfinite(values).all():
        return float("inf")
    error = float(np.abs(values - reference).max(initial=0.0))
    scale = float(np.abs(reference).max(initial=0.0))
    if scale > 0:
        return error / scale
    return 0.0 if error == 0 else float("inf")


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter prints progress on stdout and its optimiser logs every rewrite at INFO: keep
    stdout for our commands' results and the node's log readable."""
    quiet = {"onnxscript": logging.WARNING, "onnx_ir": logging.WARNING,
             "torch.onnx": logging.ERROR}  # torch.onnx warns that torchvision ops are absent
    loggers = [logging.getLogger(name) for name in quiet]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(quiet[logger.name])
    try:
        with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _export_onnx(model: nn.Module, path: Path, network_shape: tuple[int, int] | None,
                 half: bool, metadata: Mapping[str, str]) -> None:
    onnx = import_runtime("onnx")
    import_runtime("onnxscript")  # torch's dynamo exporter needs it
    module = _HalfPrecision(copy.deepcopy(model)) if half else model
    if network_shape is None:
        from torch.export import Dim

        # A batch of 2 and 3×4 patches as the example, so no dimension is specialised to 1.
        example = torch.zeros(2, 3, 3 * PATCH, 4 * PATCH)
        rows, cols = Dim("rows", min=2, max=1024), Dim("cols", min=2, max=1024)
        dynamic = {"x": {0: Dim("batch", min=1, max=1024), 2: PATCH * rows, 3: PATCH * cols}}
    else:
        example, dynamic = torch.zeros(1, 3, *network_shape), None
    try:
        with _quiet_exporter(), torch.inference_mode(False), torch.no_grad():
            program = torch.onnx.export(
                module, (example,), None, dynamo=True, opset_version=OPSET,
                input_names=["image"], output_names=["depth"], dynamic_shapes=dynamic,
                external_data=False, optimize=True, verbose=False)
    except Exception as exc:
        raise ExportError(f"torch.onnx.export failed: {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
    proto = program.model_proto
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


def _convert_openvino(onnx_file: Path, staged: Path, precision: str,
                      metadata: Mapping[str, str]) -> None:
    """ONNX → OpenVINO IR (`staged` .xml + .bin) with our metadata in rt_info."""
    ov = import_runtime("openvino")
    try:
        model = ov.convert_model(str(onnx_file))
    except Exception as exc:
        raise ExportError(f"openvino.convert_model failed: {exc}") from exc
    for key, value in metadata.items():
        model.set_rt_info(value, [OPENVINO_RT_KEY, key])
    ov.save_model(model, str(staged), compress_to_fp16=precision == "fp16")
