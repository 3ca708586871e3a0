"""ONNX Runtime and OpenVINO networks: exported files behind the PyTorch network's interface.

Each network maps a normalised (B, 3, h, w) float32 CPU tensor to (B, h, w) float32, exactly as
`DepthAnything.forward` does, so `DepthEstimator` keeps its one pre/post-processing. Tensors
cross as numpy views (no copies). A file exported for one batch size runs larger batches frame
by frame (on a CPU, batching gains nothing worth a second export).

Opening a file reads its metadata first (`export_metadata.py`); a truncated or corrupt file is a
CheckpointError naming it, never a crash at the first frame.
"""
from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from depth_anything_ros.model import CheckpointError

from .backends import import_runtime
from .export_metadata import ExportInfo, export_info
from .signal_stack import signal_stack_kept

log = logging.getLogger(__name__)

OPENVINO_RT_KEY = "depth_anything_ros"
OPENVINO_HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}
_OPENVINO_TYPES = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}


class ShapeMismatch(ValueError):
    """A frame whose network input differs from the fixed shape a file was exported for."""


def _dims(shape) -> tuple[int | None, ...]:
    """Static dims as ints, dynamic ones (names, -1, '?') as None."""
    out = []
    for dim in shape:
        try:
            value = int(dim) if not isinstance(dim, str) else None
        except (TypeError, ValueError):
            value = None
        out.append(value if value is not None and value > 0 else None)
    return tuple(out)


# ---------------------------------------------------------------------------- reading files

def read_onnx(path: Path, **overrides: Any) -> tuple[ExportInfo, Any]:
    """(ExportInfo, the parsed onnx.ModelProto) of an .onnx file."""
    onnx = import_runtime("onnx")
    _check_exists(path)
    try:
        proto = onnx.load(str(path))
    except Exception as exc:  # DecodeError, OSError for a missing external-data file, ...
        raise CheckpointError(f"{path}: not a readable ONNX model, truncated or corrupt "
                              f"({type(exc).__name__}: {_short(exc)})") from exc
    if not proto.graph.input or not proto.graph.node:
        raise CheckpointError(f"{path}: the ONNX file holds no graph (truncated or corrupt)")
    metadata = {p.key: p.value for p in proto.metadata_props}
    initializers = {init.name for init in proto.graph.initializer}
    network_input = next((i for i in proto.graph.input if i.name not in initializers),
                         proto.graph.input[0])
    dims = network_input.type.tensor_type.shape.dim
    file_shape = _dims(d.dim_value if d.HasField("dim_value") else "?" for d in dims)
    weights = {init.name: tuple(init.dims) for init in proto.graph.initializer}
    return export_info(path, metadata, file_shape, weights, **overrides), proto


def read_openvino(path: Path, **overrides: Any) -> tuple[ExportInfo, Any]:
    """(ExportInfo, the openvino.Model) of an OpenVINO .xml (+ .bin) or an .onnx file."""
    ov = import_runtime("openvino")
    _check_exists(path)
    if path.suffix.lower() == ".onnx":
        info, _ = read_onnx(path, **overrides)
        return info, _read_ov_model(ov, path)
    weights_file = path.with_suffix(".bin")
    if not weights_file.is_file():
        raise CheckpointError(f"{path}: its weights file {weights_file.name} is missing "
                              "(an OpenVINO model is the .xml and the .bin beside it)")
    model = _read_ov_model(ov, path)
    metadata = {}
    if model.has_rt_info([OPENVINO_RT_KEY]):
        section = model.get_rt_info()[OPENVINO_RT_KEY]
        metadata = {str(k): model.get_rt_info([OPENVINO_RT_KEY, str(k)]).astype(str)
                    for k in section.keys()}
    file_shape = _dims(str(d) if d.is_dynamic else d.get_length()
                       for d in model.inputs[0].get_partial_shape())
    weights = {}
    for op in model.get_ops():
        if op.get_type_name() == "Constant":
            weights[op.get_friendly_name()] = tuple(op.get_output_shape(0))
    return export_info(path, metadata, file_shape, weights, **overrides), model


def _read_ov_model(ov, path: Path):
    try:
        return ov.Core().read_model(str(path))
    except Exception as exc:  # RuntimeError "Incorrect weights in bin file!", XML parse errors
        raise CheckpointError(f"{path}: not a readable OpenVINO model, truncated or corrupt "
                              f"({_short(exc)})") from exc


def _check_exists(path: Path) -> None:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: file is empty")


def _short(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines[-2:])[:300] if lines else type(exc).__name__


# ---------------------------------------------------------------------------- networks

class _RuntimeNetwork:
    """Shape checks and batch handling shared by both runtimes."""

    backend = ""

    def __init__(self, info: ExportInfo, threads: int) -> None:
        self.info = info
        self.config = info.config
        self.path = info.path
        self.threads = int(threads)
        self.device = torch.device("cpu")

    def _check(self, x: torch.Tensor) -> np.ndarray:
        expected = self.info.network_shape
        if expected is not None and tuple(x.shape[-2:]) != expected:
            h, w = expected
            raise ShapeMismatch(
                f"{self.path}: exported for a {h}×{w} network input, this frame needs "
                f"{x.shape[-2]}×{x.shape[-1]}; export again for this camera "
                "(depth-anything-ros export --height H --width W) or with --dynamic")
        return np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        batch = self._check(x)
        if self.info.fixed_batch is not None and batch.shape[0] != self.info.fixed_batch:
            outputs = [self._run(batch[i:i + 1]) for i in range(batch.shape[0])]
            return torch.from_numpy(np.concatenate(outputs))
        return torch.from_numpy(self._run(batch))

    def _run(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class OnnxRuntimeNetwork(_RuntimeNetwork):
    """An .onnx file in ONNX Runtime's CPU execution provider with `threads` intra-op threads."""

    backend = "onnxruntime"

    def __init__(self, path: Path, *, threads: int, precision: str | None = None,
                 **overrides: Any) -> None:
        ort = import_runtime("onnxruntime")
        info, proto = read_onnx(Path(path), **overrides)
        if precision not in (None, info.precision):
            log.warning("%s: onnxruntime runs the graph at the precision it was exported with "
                        "(%s), not %s; for bf16 on a CPU use backend openvino", path,
                        info.precision, precision)
        super().__init__(info, threads)
        self.precision = info.precision
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # ORT's pool busy-waits after each run by default: in the node that burns the cores the
        # publisher thread, DDS and the camera need between frames (bench/node_throughput.py).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(proto.SerializeToString(), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # an invalid graph: ORT's own Fail/InvalidGraph errors
            raise CheckpointError(f"{path}: onnxruntime cannot load it ({_short(exc)})") from exc
        self._input = self.session.get_inputs()[0].name
        self._output = self.session.get_outputs()[0].name

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run([self._output], {self._input: batch})[0]


class OpenVinoNetwork(_RuntimeNetwork):
    """An OpenVINO .xml (or .onnx) on the CPU plugin; `precision` is the inference precision hint
    (fp32 → f32, bf16 → bf16 where the CPU has it, fp16 → f16); None = the file's."""

    backend = "openvino"

    def __init__(self, path: Path, *, threads: int, precision: str | None = None,
                 **overrides: Any) -> None:
        ov = import_runtime("openvino")
        info, model = read_openvino(Path(path), **overrides)
        super().__init__(info, threads)
        requested = precision or info.precision
        if requested not in OPENVINO_HINTS:
            raise ValueError(f"precision must be one of {tuple(OPENVINO_HINTS)}, "
                             f"got {requested!r}")
        config = {
            "INFERENCE_PRECISION_HINT": OPENVINO_HINTS[requested],
            "INFERENCE_NUM_THREADS": self.threads,
            "PERFORMANCE_HINT": "LATENCY",
        }
        try:
            # the plugin swaps in a signal stack of its own: keep ours (signal_stack.py)
            with signal_stack_kept():
                self.compiled = ov.Core().compile_model(model, "CPU", config)
                self._request = self.compiled.create_infer_request()
        except Exception as exc:
            raise CheckpointError(f"{path}: OpenVINO cannot compile it ({_short(exc)})") from exc
        # What the plugin really computes in: a CPU without bf16/fp16 units stays at f32.
        effective = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        self.precision = _OPENVINO_TYPES.get(effective, effective)
        if self.precision != requested:
            log.warning("%s: OpenVINO runs %s here, not the requested %s (this CPU has no "
                        "native %s)", path, self.precision, requested, requested)
        self._lock = threading.Lock()  # one infer request: one frame at a time

    def _run(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            self._request.infer({0: batch})
            # the output buffer is reused by the next inference: copy it out
            return np.array(self._request.get_output_tensor(0).data, dtype=np.float32)


def open_network(path: str | Path, backend: str, *, threads: int, precision: str | None,
                 **overrides: Any) -> _RuntimeNetwork:
    """The runtime network for an exported file (`backend` 'onnxruntime' or 'openvino')."""
    cls = {"onnxruntime": OnnxRuntimeNetwork, "openvino": OpenVinoNetwork}[backend]
    network = cls(Path(path), threads=threads, precision=precision, **overrides)
    log.info("%s: %s %s %s on %s (%s, %d threads, input %s)", path, network.config.encoder,
             network.config.version, network.config.variant, backend, network.precision,
             network.threads, json.dumps(list(network.info.input_shape)))
    return network
