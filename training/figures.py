"""The evaluation figure (`train evaluate --figure OUT.png`): how good, how spread, how stable.

* A grid of the worst, median and best images by abs_rel: RGB | prediction | ground truth |
  ``|pred − gt| / gt``, depth panels on one shared scale (range rule of ``visualize`` on the
  three ground truths), error panels on the fixed error scale.
* A histogram of per-image abs_rel (its mean is the abs_rel `evaluate` reports).
* Metric models: the per-frame median-oracle scale ``median(gt / pred)`` over time — the
  factor each frame would need; a flat line at 1 is a model whose metres are right.

:class:`EvaluationFigure` is the ``on_frame`` callback of ``evaluate_estimator``: it keeps a
small thumbnail of every frame (about 0.25 MB each) so the three shown can be chosen at the end.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from depth_anything_ros.metrics import aligned_depth, median_scale, relative_error_map
from depth_anything_ros.visualize import ERROR_VMAX, color_range, colorize, colorize_error

THUMBNAIL_WIDTH = 224


@dataclass
class FrameRecord:
    index: int
    name: str
    abs_rel: float
    scale: float  # median(gt / pred) on the scored pixels; NaN for relative models
    rgb: np.ndarray  # thumbnails: uint8 RGB, then float16 metres / relative error
    pred: np.ndarray
    gt: np.ndarray
    error: np.ndarray


def _thumbnail(image: np.ndarray, width: int, nearest: bool) -> np.ndarray:
    h, w = image.shape[:2]
    if w <= width:
        return image.copy()
    size = (width, max(1, round(h * width / w)))
    return cv2.resize(image, size, interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)


def stamp_seconds(name: str) -> float | None:
    """A frame name as a time: TUM's ``1305031910.765238`` (the tum: dataset's samples are
    ``tum-<stamp>``) or bag export's ``<sec>_<nanosec>``."""
    name = name.removeprefix("tum-")
    try:
        if "_" in name:
            sec, nsec = name.split("-")[0].split("_")
            return int(sec) + int(nsec) * 1e-9
        return float(name)
    except ValueError:
        return None


class EvaluationFigure:
    """Collects the evaluated frames (``on_frame`` callback), then draws the figure."""

    def __init__(self, thumbnail_width: int = THUMBNAIL_WIDTH) -> None:
        self.thumbnail_width = thumbnail_width
        self.frames: list[FrameRecord] = []
        self.metric: bool | None = None

    def __call__(self, *, index: int, sample: dict[str, Any], prediction: np.ndarray,
                 mask: np.ndarray, metrics: dict[str, float], depth_range: tuple[float, float],
                 metric: bool) -> None:
        gt = np.asarray(sample["depth"], dtype=np.float32)
        lo, hi = depth_range
        if metric:  # as scored: clamped to the range (ZoeDepth protocol)
            pred = np.clip(np.nan_to_num(prediction, nan=lo, posinf=hi, neginf=lo), lo, hi)
        else:  # as scored: after the least-squares fit in disparity
            pred = aligned_depth(prediction, gt, mask, depth_range=depth_range)
        self.metric = metric
        width = self.thumbnail_width
        shown_gt = np.where(mask, gt, np.nan)
        self.frames.append(FrameRecord(
            index=index, name=str(sample.get("name", index)), abs_rel=metrics["abs_rel"],
            scale=median_scale(pred, gt, mask) if metric else math.nan,
            rgb=_thumbnail(np.asarray(sample["image"]), width, nearest=False),
            pred=_thumbnail(pred.astype(np.float16), width, nearest=True),
            gt=_thumbnail(shown_gt.astype(np.float16), width, nearest=True),
            error=_thumbnail(relative_error_map(pred, gt, mask).astype(np.float16), width,
                             nearest=True),
        ))

    def chosen(self) -> list[tuple[str, FrameRecord]]:
        """(label, frame) of the worst, median and best frames by abs_rel."""
        if not self.frames:
            raise ValueError("no frames were evaluated, so there is nothing to draw")
        ranked = sorted(self.frames, key=lambda f: f.abs_rel)
        return [("worst", ranked[-1]), ("median", ranked[(len(ranked) - 1) // 2]),
                ("best", ranked[0])]

    def shared_range(self) -> tuple[float, float]:
        """One depth range for every depth panel: the range rule on the shown ground truths."""
        values = np.concatenate([f.gt.astype(np.float32).ravel() for _, f in self.chosen()])
        return color_range(values.reshape(1, -1))

    def figure(self, title: str = ""):
        """The matplotlib Figure (open; the caller saves or closes it)."""
        from depth_anything_ros.training.plots import colour_bar, plt, show_bgr

        chosen = self.chosen()
        lo, hi = self.shared_range()
        fig = plt.figure(figsize=(13, 12.5), layout="constrained")
        grid_fig, plot_fig = fig.subfigures(2, 1, height_ratios=[3.0, 1.15])
        axes = grid_fig.subplots(3, 4)
        for r, (label, frame) in enumerate(chosen):
            show_bgr(axes[r, 0], cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
            show_bgr(axes[r, 1], colorize(frame.pred.astype(np.float32), lo, hi))
            show_bgr(axes[r, 2], colorize(frame.gt.astype(np.float32), lo, hi))
            show_bgr(axes[r, 3], colorize_error(frame.error.astype(np.float32)))
            axes[r, 0].set_ylabel(f"{label}\nabs_rel {frame.abs_rel:.3f}\n{frame.name}",
                                  fontsize=9)
        for c, name in enumerate(("RGB", "prediction" if self.metric else
                                  "prediction (scale/shift fitted)", "ground truth",
                                  "|pred - gt| / gt")):
            axes[0, c].set_title(name)
        colour_bar(grid_fig, axes[:, 1:3], lo, hi)
        colour_bar(grid_fig, axes[:, 3], 0.0, ERROR_VMAX, kind="error")
        plot_axes = plot_fig.subplots(1, 2 if self.metric else 1, squeeze=False)[0]
        self._histogram(plot_axes[0])
        if self.metric:
            self._scale_over_time(plot_axes[1])
        fig.suptitle(title)
        return fig

    def _histogram(self, ax) -> None:
        abs_rel = np.array([f.abs_rel for f in self.frames])
        ax.hist(abs_rel, bins=min(30, max(5, len(abs_rel) // 3)), color="0.45")
        ax.axvline(abs_rel.mean(), color="C3", label=f"mean {abs_rel.mean():.3f}")
        ax.axvline(np.median(abs_rel), color="C0", ls="--",
                   label=f"median {np.median(abs_rel):.3f}")
        ax.set_xlabel("abs_rel of one image")
        ax.set_ylabel("images")
        ax.set_title(f"per-image abs_rel ({len(abs_rel)} images)")
        ax.legend()

    def _scale_over_time(self, ax) -> None:
        scales = np.array([f.scale for f in self.frames])
        times = [stamp_seconds(f.name) for f in self.frames]
        if all(t is not None for t in times):
            x = np.array(times) - times[0]
            ax.set_xlabel("time (s)")
        else:
            x = np.array([f.index for f in self.frames])
            ax.set_xlabel("frame")
        ax.plot(x, scales, ".-", color="C2", lw=1, ms=3)
        ax.axhline(1.0, color="0.3", lw=1, ls=":", label="1 = metres right")
        finite = scales[np.isfinite(scales) & (scales > 0)]
        title = "per-frame scale median(gt / pred)"
        if finite.size:
            ax.axhline(np.median(finite), color="C2", lw=1, ls="--",
                       label=f"median {np.median(finite):.2f}")
            title += f"; std of log {float(np.std(np.log(finite))):.2f}"
        ax.set_title(title)
        ax.set_ylabel("scale")
        ax.legend()

    def save(self, path: str | Path, title: str = "") -> None:
        """Draw and write the figure as a PNG (atomically)."""
        from depth_anything_ros.training.plots import save_figure

        save_figure(self.figure(title), Path(path))
