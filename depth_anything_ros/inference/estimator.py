"""`DepthEstimator`: RGB frames in, depth at camera resolution out — the one entry point that the
node, the bag tools, the CLI and the demo share.

The result says what it holds (`DepthKind`): metres from a metric model, or affine-invariant
disparity from a relative one, so nobody can mistake a 0..1 relative map for depth
(REFERENCE.md § 9). Post-processing follows the official code (REFERENCE.md § 3): bilinear
upsample to the camera size with align_corners=True for V2 and False for V1.
"""
from __future__ import annotations

import contextlib
import enum
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from depth_anything_ros.geometry.focal import (corrects_focal, focal_scale,
                                               normalised_focal)

from .backends import (EXPORTED_SUFFIXES, RUNTIME_BACKENDS, backend_for_weights, build_forward,
                       normalise_backend)
from .preprocess import PATCH_SIZE, PreprocessMethod, network_size, prepare_batch

if TYPE_CHECKING:
    from depth_anything_ros.model import DepthAnything, ModelConfig

log = logging.getLogger(__name__)

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

# from_weights keywords that go to load_model; the rest configure the estimator.
_LOAD_KEYS = ("version", "variant", "max_depth", "input_size")


class DepthKind(enum.Enum):
    """What the numbers in a `DepthResult` mean."""

    METRIC_DEPTH = "metric_depth"  # metres along the optical axis
    RELATIVE_DISPARITY = "relative_disparity"  # affine-invariant inverse depth, no unit


@dataclass
class DepthResult:
    """float32 H×W (or B×H×W) values at camera resolution, their kind, and the forward time.

    ``focal_scale`` is the f/f_c factor already applied to ``values`` (1.0: no focal
    correction; an array of one factor per frame for batches).
    """

    values: np.ndarray
    kind: DepthKind
    model_time_s: float
    focal_scale: float | np.ndarray = 1.0

    @property
    def is_metric(self) -> bool:
        return self.kind is DepthKind.METRIC_DEPTH


def resolve_device(device: str | torch.device) -> torch.device:
    """'auto' → CUDA when available, else CPU; a CUDA request without CUDA is an error."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device {device!r} is not a torch device; use 'auto', 'cpu' or 'cuda[:N]'"
        ) from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} was requested but CUDA is not available here; use 'cpu' or 'auto'"
        )
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device {device!r} is not supported; use 'auto', 'cpu' or 'cuda[:N]'")
    return resolved


class DepthEstimator:
    """Wraps a network with the official pre/post-processing and runtime options.

    ``model`` is a `DepthAnything`, or a network opened from an exported file
    (`runtimes.open_network`; `from_weights` does that for .onnx/.xml weights).
    Options: ``backend`` ("torch" | "compile": `torch.compile` | "torchscript": a frozen trace per
    input shape that releases the GIL, see `traced.py` | "onnxruntime" | "openvino": the
    model exported on first use into ``cache_dir``, see `backends.py`, `export_cache.py`);
    ``device`` ("auto" | "cpu" | "cuda[:N]"; ONNX Runtime and OpenVINO run on the CPU);
    ``precision`` ("fp32" | "fp16" | "bf16"; torch: autocast, fp16 needs CUDA; openvino: the
    inference precision hint; onnxruntime: the exported graph's own; None = fp32, or the
    file's); ``input_size`` (default: the model's); ``channels_last`` (memory format of the torch
    convolutions); ``threads`` (ONNX Runtime / OpenVINO threads; default torch's thread count,
    so every backend gets the same); ``warmup`` (untimed forward passes at construction, on a
    ``warmup_shape`` (H, W) frame, so the first real frame is not slow); ``preprocess``
    ("auto": cv2 on CPU, on-device resize on CUDA; see `preprocess.py`).
    ``focal_correction`` ("auto" | "on" | "off": multiply metric depth by f/f_c when the caller
    gives the camera's ``fx`` and the checkpoint declares its focal f_c; see
    `depth_anything_ros.geometry.focal.corrects_focal` for what "auto" does).
    """

    def __init__(
        self,
        model: "DepthAnything | Any",
        *,
        device: str | torch.device = "auto",
        precision: str | None = None,
        input_size: int | None = None,
        channels_last: bool = False,
        warmup: int = 0,
        warmup_shape: tuple[int, int] = (480, 640),
        preprocess: PreprocessMethod = "auto",
        backend: str = "torch",
        cache_dir: str | Path | None = None,
        threads: int | None = None,
        focal_correction: str = "auto",
    ) -> None:
        backend = normalise_backend(backend)
        is_module = isinstance(model, torch.nn.Module)
        if not is_module:  # an opened export decides its own backend
            backend = model.backend
        runtime = backend in RUNTIME_BACKENDS
        self._device = resolve_device("cpu" if runtime and device == "auto" else device)
        if runtime and self._device.type != "cpu":
            raise ValueError(f"backend {backend!r} runs on the CPU here; use device 'cpu' (for "
                             "NVIDIA GPUs use backend 'torch' or TensorRT from an ONNX export)")
        if precision is not None and precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
        if precision == "fp16" and not runtime and self._device.type != "cuda":
            raise ValueError("precision 'fp16' needs a CUDA device; on CPU use 'fp32' or 'bf16'")
        if backend == "torchscript" and precision not in (None, "fp32"):
            raise ValueError(f"backend 'torchscript' runs fp32 (a frozen trace does not take "
                             f"autocast); for precision {precision!r} use backend 'torch'")
        if preprocess not in ("auto", "cv2", "torch"):
            raise ValueError(f"preprocess must be 'auto', 'cv2' or 'torch', got {preprocess!r}")
        config = model.config
        size = config.input_size if input_size is None else int(input_size)
        if size <= 0 or size % PATCH_SIZE:
            raise ValueError(
                f"input_size must be a positive multiple of {PATCH_SIZE}, got {size}"
            )
        if warmup < 0:
            raise ValueError(f"warmup must be >= 0 runs, got {warmup}")
        if focal_correction == "on" and model.config.canonical_focal is None:
            raise ValueError(
                "focal_correction 'on' needs a metric checkpoint that declares its focal "
                f"(canonical_focal); this {model.config.encoder} {model.config.variant} model "
                "declares none: use 'auto' or 'off'"
            )
        self.focal_correction = focal_correction
        self.corrects_focal = corrects_focal(focal_correction, model.config.focal_origin)
        self.input_size = size
        self.preprocess = preprocess
        self.backend = backend
        self.channels_last = bool(channels_last) and not runtime
        threads = torch.get_num_threads() if threads is None else int(threads)
        self.model = getattr(model, "model", None)  # an export cache keeps its PyTorch model
        if is_module:
            self.model = model.eval().to(self._device)
            if self.channels_last:
                self.model = self.model.to(memory_format=torch.channels_last)
        if runtime and is_module:
            from .export_cache import CachedExportNetwork

            self.network = CachedExportNetwork(self.model, backend, threads=threads,
                                               precision=precision, cache_dir=cache_dir)
        elif runtime:
            self.network = model
        else:
            self.network = build_forward(self.model, backend, self._device)
        self._precision = precision or "fp32"
        self._config = config
        for _ in range(warmup):
            self.predict(np.zeros((*warmup_shape, 3), dtype=np.uint8))

    @classmethod
    def from_weights(cls, path: str | Path | None = None, **kwargs: Any) -> "DepthEstimator":
        """Load weights (None → the shipped default model) and wrap them.

        A checkpoint (.safetensors, .pth, HF folder) loads into PyTorch and runs with
        ``backend`` (default "auto": torchscript on the CPU in fp32 when ``streaming=True``, as
        the node and `bag` load it, else torch; see `backend_for_weights`; onnxruntime/openvino
        export it on first use). An exported
        .onnx (default backend onnxruntime, or openvino) or .xml (openvino) runs as it is.
        ``version``, ``variant``, ``max_depth`` and ``input_size`` go to the loader (for an
        export without our metadata they are required, as for an anonymous .pth); the other
        keywords are estimator options (see the class docstring).
        """
        from depth_anything_ros.model import CheckpointError, default_weights_path, load_model

        load_kwargs = {k: v for k in _LOAD_KEYS if (v := kwargs.pop(k, None)) is not None}
        if path is None:
            path = default_weights_path()
            if not Path(path).is_file():
                raise CheckpointError(
                    f"{path}: the shipped default model is not installed; pass the weights "
                    "explicitly (CLI: --weights PATH, node: the 'weights' parameter)"
                )
        exported = Path(path).suffix.lower() in EXPORTED_SUFFIXES
        device = "cpu" if exported else resolve_device(kwargs.get("device", "auto"))
        backend = backend_for_weights(path, kwargs.pop("backend", None), device,
                                      kwargs.get("precision"), kwargs.pop("streaming", False))
        if exported:
            from .runtimes import open_network

            threads = kwargs.pop("threads", None) or torch.get_num_threads()
            network = open_network(path, backend, threads=threads,
                                   precision=kwargs.get("precision"), **load_kwargs)
            return cls(network, **kwargs)
        model = load_model(path, **load_kwargs)
        log.info("loaded %s: %s", path, model.config)
        if backend in RUNTIME_BACKENDS:
            from .export_cache import CachedExportNetwork
            from .export_metadata import checkpoint_extras

            extras, provenance = checkpoint_extras(path)
            threads = kwargs.pop("threads", None) or torch.get_num_threads()
            model = CachedExportNetwork(
                model, backend, threads=threads, precision=kwargs.get("precision"),
                cache_dir=kwargs.pop("cache_dir", None), source={"file": Path(path).name},
                provenance=provenance, extras=extras)
        return cls(model, backend=backend, **kwargs)

    @property
    def precision(self) -> str:
        """The compute precision: torch's autocast, or what the runtime really uses."""
        if self.backend in RUNTIME_BACKENDS:
            return self.network.precision
        return self._precision

    @property
    def config(self) -> "ModelConfig":
        return self._config

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def kind(self) -> DepthKind:
        if self.config.variant == "metric":
            return DepthKind.METRIC_DEPTH
        return DepthKind.RELATIVE_DISPARITY

    def network_size(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of the network input for a camera frame of ``height``×``width``."""
        return network_size(height, width, self.input_size)

    def focal_scale(self, fx: float | None, width: int, height: int) -> float:
        """The f/f_c factor for a ``width``×``height`` frame of focal ``fx`` pixels (1.0 when
        the policy, the checkpoint or a missing ``fx`` rules the correction out)."""
        if fx is None or not self.corrects_focal:
            return 1.0
        try:
            focal = normalised_focal(float(fx), width, height)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"fx: {exc}") from None
        return focal_scale(focal, self.config.canonical_focal)

    def predict(self, rgb: np.ndarray, fx: float | None = None) -> DepthResult:
        """RGB uint8 H×W×3 → `DepthResult` with float32 H×W values at the input resolution.

        ``fx``: the camera's focal length in pixels of ``rgb`` (e.g. CameraInfo K[0] scaled to
        this size); enables the focal correction (class docstring).
        """
        _check_image(rgb, "rgb", ndim=3)
        result = self._run(rgb[None], None if fx is None else [fx])
        result.values = result.values[0]
        result.focal_scale = float(result.focal_scale[0])
        return result

    def predict_batch(
        self, rgbs: np.ndarray, fx: float | Sequence[float | None] | None = None
    ) -> DepthResult:
        """RGB uint8 B×H×W×3 (or a list of equal-size frames) → float32 B×H×W values.

        ``fx``: one focal in pixels for all frames, or one per frame, None where unknown
        (see `predict`).
        """
        if isinstance(rgbs, (list, tuple)):
            shapes = {getattr(im, "shape", None) for im in rgbs}
            if len(shapes) > 1:
                raise ValueError("rgbs: all frames of a batch must have the same shape, "
                                 f"got {sorted(map(str, shapes))}")
            rgbs = np.stack(rgbs) if rgbs else np.empty((0, 0, 0, 3), np.uint8)
        _check_image(rgbs, "rgbs", ndim=4)
        if fx is not None:
            per_frame = isinstance(fx, (list, tuple)) or (isinstance(fx, np.ndarray)
                                                          and fx.ndim > 0)
            fx = list(fx) if per_frame else [fx] * len(rgbs)  # a 0-d array is one focal
            if len(fx) != len(rgbs):
                raise ValueError(f"fx: {len(fx)} focal lengths for a batch of {len(rgbs)} frames")
        return self._run(rgbs, fx)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "fp32" or self.backend in RUNTIME_BACKENDS:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self._device.type, dtype=PRECISIONS[self.precision])

    def _synchronize(self) -> None:
        if self._device.type == "cuda":
            torch.cuda.synchronize(self._device)

    def _run(self, rgbs: np.ndarray, fx: Sequence[float | None] | None = None) -> DepthResult:
        height, width = rgbs.shape[1:3]
        size = self.network_size(height, width)
        count = len(rgbs)
        scales = np.array([self.focal_scale(None if fx is None else fx[i], width, height)
                           for i in range(count)], dtype=np.float32)
        with torch.inference_mode():
            x = prepare_batch(rgbs, size, self._device, self.preprocess)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with _timed(self._synchronize) as elapsed, self._autocast():
                out = self.network(x)
            out = F.interpolate(
                out.float()[:, None],
                size=(height, width),
                mode="bilinear",
                align_corners=self.config.version == "v2",
            )[:, 0]
            if (scales != 1.0).any():
                out = out * torch.from_numpy(scales).to(out.device)[:, None, None]
            values = out.cpu().numpy()
        return DepthResult(np.ascontiguousarray(values, dtype=np.float32), self.kind, elapsed[0],
                           scales)


@contextlib.contextmanager
def _timed(synchronize) -> Iterator[list[float]]:
    """Wall time of the block after device synchronisation on both ends (CUDA is asynchronous)."""
    elapsed = [0.0]
    synchronize()
    start = time.perf_counter()
    yield elapsed
    synchronize()
    elapsed[0] = time.perf_counter() - start


def _check_image(array: Any, name: str, ndim: int) -> None:
    """Specific errors for the common mistakes: not an array, wrong dtype, channels or rank."""
    layout = "H×W×3" if ndim == 3 else "B×H×W×3"
    if not isinstance(array, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy uint8 {layout} RGB array, got {type(array).__name__}"
        )
    if array.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8 RGB (0..255), got dtype {array.dtype}")
    if array.ndim != ndim or array.shape[-1] != 3:
        raise ValueError(f"{name} must have shape {layout} with 3 RGB channels, got {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty: shape {array.shape}")
