"""PNG plots of a training run: loss curves from the JSONL log, and RGB | target | prediction rows.

Matplotlib with the Agg backend (no display needed); files are written atomically.
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from depth_anything_ros.atomic_file import atomic_path  # noqa: E402

__all__ = ["loss_curves", "sample_grid"]

_SKIP = {"stage", "step", "time_s", "grad_norm"}


def _save(fig, path: Path) -> None:
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)


def loss_curves(log_path: str | Path, out_path: str | Path, title: str = "") -> None:
    """One line per logged loss term (keys containing "loss"), against step."""
    records = [json.loads(ln) for ln in Path(log_path).read_text().splitlines() if ln.strip()]
    keys = sorted({k for r in records for k in r if k not in _SKIP and "loss" in k})
    fig, ax = plt.subplots(figsize=(6, 4))
    for key in keys:
        pts = [(r["step"], r[key]) for r in records if key in r]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label=key)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if keys:
        ax.legend()
    _save(fig, Path(out_path))


def _show_depth(ax, values: np.ndarray) -> None:
    v = np.where(np.isfinite(values), values, np.nan)
    finite = v[np.isfinite(v)]
    lo, hi = (np.percentile(finite, [2, 98]) if finite.size else (0.0, 1.0))
    ax.imshow(v, cmap="Spectral_r", vmin=lo, vmax=hi if hi > lo else lo + 1e-6)


def sample_grid(
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]], out_path: str | Path, title: str = ""
) -> None:
    """A grid with one row per sample: RGB (uint8 H×W×3) | target | prediction (H×W each)."""
    n = max(len(rows), 1)
    fig, axes = plt.subplots(n, 3, figsize=(9, 3 * n), squeeze=False)
    for r, (rgb, target, pred) in enumerate(rows):
        axes[r, 0].imshow(rgb)
        _show_depth(axes[r, 1], np.asarray(target, dtype=np.float32))
        _show_depth(axes[r, 2], np.asarray(pred, dtype=np.float32))
    for c, name in enumerate(("RGB", "target", "prediction")):
        axes[0, c].set_title(name)
    for ax in axes.ravel():
        ax.axis("off")
    fig.suptitle(title)
    _save(fig, Path(out_path))
