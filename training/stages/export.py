"""Export: our ``.safetensors`` (REFERENCE.md §2; ``save_model``) with provenance, then a load check.

Provenance holds what a model card needs: the config, the data, the steps of every stage and the
evaluation metrics. The written file is reloaded through ``DepthEstimator`` — the same path the
node and the CLI take — and must predict a finite depth map, or the export fails.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from depth_anything_ros.inference import DepthEstimator
from depth_anything_ros.model import load_model, read_provenance, save_model

log = logging.getLogger(__name__)


def export_model(
    weights: str | Path, out: str | Path, *, provenance: dict[str, Any] | None = None,
    dtype: str = "float32",
) -> Path:
    """Re-save ``weights`` as our format at ``out`` with merged provenance; verify it loads.

    ``dtype`` "float16" stores the weights at half size (the shipped model's ≤ 15 MB budget).
    """
    storage = storage_dtype(dtype)  # a bad name fails before the model loads
    weights, out = Path(weights), Path(out)
    model = load_model(weights)
    merged = {**read_provenance(weights), **(provenance or {}), "exported_from": str(weights)}
    save_model(model, out, provenance=merged, dtype=storage)
    check_loads(out)
    log.info("exported %s (%s %s) to %s", weights, model.config.encoder, model.config.variant, out)
    return out


STORAGE_DTYPES = ("float32", "float16", "bfloat16")


def storage_dtype(name: str) -> torch.dtype:
    """The torch dtype a written checkpoint stores its weights in; ValueError for others."""
    if name not in STORAGE_DTYPES:
        raise ValueError(f"dtype must be float32, float16 or bfloat16, not {name!r}")
    return getattr(torch, name)


def check_loads(path: Path) -> None:
    """Load `path` the way the node and the CLI do and predict one frame: RuntimeError unless
    the depth map comes back finite and at the frame's size."""
    estimator = DepthEstimator.from_weights(path, device="cpu")
    probe = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    values = estimator.predict(probe).values
    if values.shape != (48, 64) or not np.isfinite(values).all():
        raise RuntimeError(f"{path}: exported model does not predict a finite depth map")
