"""Export on first use: a PyTorch checkpoint run with backend onnxruntime/openvino.

The first frame of each network input size exports the model (tens of seconds on a small CPU)
into a cache folder and every later start reuses the file. The file name holds a digest of
everything that changes the export — the weights and config, the input shape, the stored
precision, the backend and its version, torch's version — so a new checkpoint or an upgraded
runtime never picks up a stale file. Entries are written atomically (`export.py`), so two
processes exporting at once, or one killed half-way, leave no broken file behind; an unreadable
entry is exported again.

Cache folder: `cache_dir` if given, else $DAR_CACHE_DIR, else $XDG_CACHE_HOME/depth_anything_ros/
exports (~/.cache/... without XDG_CACHE_HOME).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any, Mapping

import torch

from depth_anything_ros.model import CheckpointError, DepthAnything

from .export import FORMATS, export_model
from .export_metadata import FORMAT_VERSION
from .runtimes import open_network

log = logging.getLogger(__name__)

CACHE_ENV = "DAR_CACHE_DIR"
_FORMAT_OF_BACKEND = {"onnxruntime": "onnx", "openvino": "openvino"}
_PACKAGE_OF_BACKEND = {"onnxruntime": "onnxruntime", "openvino": "openvino"}


def default_cache_dir() -> Path:
    """$DAR_CACHE_DIR, else the XDG cache home's depth_anything_ros/exports."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "depth_anything_ros" / "exports"


def weights_digest(model: DepthAnything) -> str:
    """sha256 of the config and every tensor (name, dtype, shape, bytes) of the model."""
    digest = hashlib.sha256(json.dumps(model.config.to_dict(), sort_keys=True).encode())
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _backend_version(backend: str) -> str:
    try:
        return package_metadata.version(_PACKAGE_OF_BACKEND[backend])
    except package_metadata.PackageNotFoundError:
        return "unknown"


def cache_entry(cache_dir: Path, digest: str, encoder: str, backend: str,
                network_shape: tuple[int, int], precision: str = "fp32") -> Path:
    """Where the export for these facts lives (the file need not exist yet)."""
    facts = {"weights": digest, "shape": list(network_shape), "precision": precision,
             "backend": backend, "backend_version": _backend_version(backend),
             "torch": torch.__version__, "metadata": FORMAT_VERSION}
    key = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:20]
    h, w = network_shape
    suffix = FORMATS[_FORMAT_OF_BACKEND[backend]]
    return cache_dir / f"{encoder}_{h}x{w}_{precision}_{backend}_{key}{suffix}"


class CachedExportNetwork:
    """A PyTorch model run by an exported copy per input shape, exported on first use.

    Same call contract as the model: (B, 3, h, w) float32 → (B, h, w) float32.
    """

    def __init__(self, model: DepthAnything, backend: str, *, threads: int,
                 precision: str | None = None, cache_dir: str | Path | None = None,
                 source: Mapping[str, Any] | None = None,
                 provenance: Mapping[str, Any] | None = None,
                 extras: Mapping[str, str] | None = None) -> None:
        if backend not in _FORMAT_OF_BACKEND:
            raise ValueError(f"backend must be one of {tuple(_FORMAT_OF_BACKEND)}, got {backend!r}")
        from .backends import import_runtime

        import_runtime(backend)  # fail now, with the extra to install, not at the first frame
        import_runtime("onnxscript")
        self.model = model.eval().to("cpu")
        self.config = model.config
        self.backend = backend
        self.threads = int(threads)
        self.requested_precision = precision or "fp32"
        self.device = torch.device("cpu")
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        self._digest = weights_digest(self.model)
        self._source = {**(source or {}), "weights_sha256": self._digest}
        self._provenance = dict(provenance or {})
        self._extras = dict(extras or {})
        self.networks: dict[tuple[int, int], Any] = {}

    @property
    def precision(self) -> str:
        """What the runtime computes in (OpenVINO may fall back to fp32 on CPUs without bf16);
        the requested precision until the first frame has opened a network."""
        if self.networks:
            return list(self.networks.values())[-1].precision
        return self.requested_precision

    def entry(self, network_shape: tuple[int, int]) -> Path:
        return cache_entry(self.cache_dir, self._digest, self.config.encoder, self.backend,
                           network_shape)

    def network_for(self, network_shape: tuple[int, int]):
        """The runtime network for one input size: cached file, else a fresh export."""
        network = self.networks.get(network_shape)
        if network is None:
            path = self.entry(network_shape)
            network = self._open(path) if path.exists() else None
            if network is None:
                log.warning("exporting %s for a %dx%d input to %s (first use; takes a while)",
                            self.config.encoder, *network_shape, path)
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                export_model(self.model, path, fmt=_FORMAT_OF_BACKEND[self.backend],
                             network_shape=network_shape, precision="fp32",
                             source=self._source, provenance=self._provenance,
                             extras=self._extras)
                network = open_network(path, self.backend, threads=self.threads,
                                       precision=self.requested_precision)
            self.networks[network_shape] = network
        return network

    def _open(self, path: Path):
        try:
            return open_network(path, self.backend, threads=self.threads,
                                precision=self.requested_precision)
        except CheckpointError as exc:
            log.warning("cached export unusable, exporting again: %s", exc)
            return None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.network_for(tuple(x.shape[-2:]))(x)
