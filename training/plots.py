"""PNG plots of a training run: loss curves from the JSONL log, and RGB | target | prediction rows.

Matplotlib with the Agg backend (no display needed); files are written atomically. Depth is
coloured by ``depth_anything_ros.visualize`` (the one convention) and drawn as pixels; colour bars
use its colours and tick values.
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from depth_anything_ros.atomic_file import atomic_path
from depth_anything_ros.visualize import (
    DEFAULT_COLORMAP,
    color_range,
    colorize,
    colour_ramp,
    scale_ticks,
    tick_labels,
)

__all__ = ["colour_bar", "loss_curves", "sample_grid", "sample_grid_figure", "save_figure", "show_bgr"]

_SKIP = {"stage", "step", "time_s", "grad_norm"}


def save_figure(fig, path: Path) -> None:
    """Write ``fig`` as a PNG atomically, then close it."""
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
    save_figure(fig, Path(out_path))


def show_bgr(ax, bgr: np.ndarray) -> None:
    """Draw a BGR picture made by ``depth_anything_ros.visualize`` (pixels as they are)."""
    ax.imshow(bgr[..., ::-1], interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def colour_bar(fig, axes, vmin: float, vmax: float, colormap: str = DEFAULT_COLORMAP,
               kind: str = "depth"):
    """A matplotlib colour bar with the convention's colours and ``scale_ticks`` labels.

    ``kind``: "depth" (metres, near at the bottom), "disparity" (near/far, no metres) or
    "error" (abs rel, 0 at the bottom). Returns the Colorbar.
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import ListedColormap, Normalize

    if kind == "disparity":  # no metres: a depth-like bar, near at the bottom
        ramp, vmin, vmax = colour_ramp(colormap, "depth"), 0.0, 1.0
        ticks, labels = [0.0, 1.0], ["near", "far"]
    else:
        ramp = colour_ramp(colormap, kind)
        ticks = scale_ticks(vmin, vmax)
        labels = tick_labels(ticks, "m" if kind == "depth" else "")
    mappable = ScalarMappable(Normalize(vmin, vmax), ListedColormap(ramp[:, ::-1] / 255.0))
    bar = fig.colorbar(mappable, ax=axes, fraction=0.05, pad=0.02)
    bar.set_ticks(ticks)
    bar.set_ticklabels(labels)
    return bar


def sample_grid_figure(
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]], title: str = "", kind: str = "disparity"
):
    """The figure of :func:`sample_grid` (returned open, for tests and callers that add to it)."""
    n = max(len(rows), 1)
    fig, axes = plt.subplots(n, 3, figsize=(10, 3 * n), squeeze=False)
    for r, (rgb, target, pred) in enumerate(rows):
        axes[r, 0].imshow(rgb)
        target = np.asarray(target, dtype=np.float32)
        pred = np.asarray(pred, dtype=np.float32)
        if kind == "depth":  # metres: one range (from the target) for both, one bar
            lo, hi = color_range(target)
            show_bgr(axes[r, 1], colorize(target, lo, hi))
            show_bgr(axes[r, 2], colorize(pred, lo, hi))
            colour_bar(fig, axes[r, 1:], lo, hi)
        else:  # affine-invariant: each its own range
            show_bgr(axes[r, 1], colorize(target, kind="disparity"))
            show_bgr(axes[r, 2], colorize(pred, kind="disparity"))
            colour_bar(fig, axes[r, 1:], 0.0, 1.0, kind="disparity")
    for c, name in enumerate(("RGB", "target", "prediction")):
        axes[0, c].set_title(name)
    for ax in axes.ravel():
        ax.axis("off")
    fig.suptitle(title)
    return fig


def sample_grid(
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]], out_path: str | Path, title: str = "",
    kind: str = "disparity",
) -> None:
    """A grid with one row per sample: RGB (uint8 H×W×3) | target | prediction (H×W each).

    ``kind`` says what target and prediction hold: "disparity" (relative stages; each panel
    normalised on its own) or "depth" (metres; one range and a scale bar per row).
    """
    save_figure(sample_grid_figure(rows, title, kind), Path(out_path))
