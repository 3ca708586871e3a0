"""Which engine runs the network: PyTorch (eager, `torch.compile` or a frozen TorchScript trace),
ONNX Runtime or OpenVINO.

Every backend is the same callable — a normalised (B, 3, h, w) float32 tensor in, (B, h, w)
depth out — so `DepthEstimator` keeps the one pre/post-processing for all of them.

`torch.compile` traces the forward once per input shape (a camera has one), then runs
generated kernels that fuse LayerNorm, GELU, LayerScale and residual adds; the first call
pays the compile time (about a minute for ViT-S on 2 CPU cores), which is what
`DepthEstimator(warmup=...)` is for. On the CPU we also turn on inductor's *freezing*: the
weights become constants, so oneDNN gets them pre-packed for its convolution and matmul
kernels instead of re-laying them out on every call (measured in bench/model_cpu.py). Freezing
assumes the weights no longer change: build a new estimator after editing the model.

"torchscript" traces and freezes the network once per input shape (`inference/traced.py`): the
same operators, run from C++ with the GIL released for the whole forward, so other Python
threads (the node's publisher, rclpy) no longer stall inference.

ONNX Runtime and OpenVINO run exported files (`inference/export.py`): given directly as
weights (`.onnx`, `.xml`), or exported on first use from a PyTorch checkpoint into a cache
(`inference/export_cache.py`). They are optional extras; a missing one is a `BackendMissing`
error that names the extra to install.
"""
from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Callable

import torch
from torch import nn

log = logging.getLogger(__name__)

TORCH_BACKENDS = ("torch", "compile", "torchscript")
RUNTIME_BACKENDS = ("onnxruntime", "openvino")
BACKENDS = TORCH_BACKENDS + RUNTIME_BACKENDS
# What users may choose (node parameter, --backend): "auto" = from the weights file and device.
BACKEND_CHOICES = ("auto",) + BACKENDS
# "eager" is the earlier name of "torch", still accepted by DepthEstimator.
_ALIASES = {"eager": "torch"}

# The Python module each runtime needs, and the pip extra that installs it.
_RUNTIME_MODULES = {"onnxruntime": ("onnxruntime", "onnx"), "openvino": ("openvino", "openvino"),
                    "onnx": ("onnx", "onnx"), "onnxscript": ("onnxscript", "onnx")}

EXPORTED_SUFFIXES = {".onnx": "onnxruntime", ".xml": "openvino"}


class BackendMissing(ImportError):
    """An optional backend is not installed; the message says which extra installs it."""


def normalise_backend(backend: str) -> str:
    """The canonical backend name, or ValueError naming the choices."""
    backend = _ALIASES.get(backend, backend)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return backend


def import_runtime(name: str):
    """Import an optional runtime module ('onnxruntime', 'openvino', 'onnx', 'onnxscript')."""
    module, extra = _RUNTIME_MODULES[name]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendMissing(
            f"{name} is not installed: pip install 'depth_anything_ros[{extra}]' "
            f"(or pip install {module})") from exc


def backend_for_weights(path: str | Path | None, backend: str | None,
                        device: torch.device | str = "cpu", precision: str | None = None,
                        streaming: bool = False) -> str:
    """The backend that runs `path`: an explicit choice, else ("auto") by file type (.onnx →
    onnxruntime, .xml → openvino) and, for a checkpoint, by how it runs. `streaming` (the node,
    a bag: frames of one size, as long as the robot runs) on the CPU in fp32: torchscript, the
    same numbers as eager, 1.2× faster end to end for the shipped model, and GIL-free, so the
    node's rclpy threads do not stall inference (`traced.py`). Otherwise torch: on a GPU or in
    fp16/bf16 (autocast does not go through a trace), and for one-off images (`predict`,
    `evaluate`), where the first frame's trace (1.3 s for the shipped model, ~10 s for ViT-S
    on 2 cores) costs more than it saves (12 / ~40 ms per frame). A PyTorch-only choice for an
    exported file is a ValueError naming the file."""
    suffix = Path(path).suffix.lower() if path is not None else ""
    exported = EXPORTED_SUFFIXES.get(suffix)
    if backend in (None, "", "auto"):
        if exported:
            return exported
        traceable = torch.device(device).type == "cpu" and precision in (None, "", "fp32")
        return "torchscript" if streaming and traceable else "torch"
    backend = normalise_backend(backend)
    if exported and backend in TORCH_BACKENDS:
        raise ValueError(
            f"weights {path}: an exported {suffix} model runs with backend "
            f"{'onnxruntime or openvino' if suffix == '.onnx' else 'openvino'}, not {backend!r}")
    if suffix == ".xml" and backend == "onnxruntime":
        raise ValueError(f"weights {path}: an OpenVINO .xml model needs backend 'openvino'")
    return backend


def build_forward(model: nn.Module, backend: str, device: torch.device | str = "cpu"
                  ) -> Callable[[torch.Tensor], torch.Tensor]:
    """The PyTorch callable that maps a normalised (B, 3, H, W) batch to (B, H, W) depth."""
    backend = normalise_backend(backend)
    if backend == "torch":
        return model
    if backend == "compile":
        log.info("compiling the model with torch.compile (the first frame of each size is slow)")
        options = {"freezing": True} if torch.device(device).type == "cpu" else None
        return torch.compile(model, dynamic=False, options=options)
    if backend == "torchscript":
        from .traced import TracedForward

        return TracedForward(model)
    raise ValueError(f"build_forward runs PyTorch backends {TORCH_BACKENDS}, got {backend!r}")
