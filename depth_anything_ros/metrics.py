"""Depth error metrics over valid pixels (REFERENCE.md §6), shared by training, bag tools and demo.

Each metric is computed per image and then averaged over images (the ZoeDepth / DA2 protocol).
``silog`` is the **DA2 form** (DA2 util/metric.py): ``sqrt(mean(e²) − 0.5·mean(e)²)`` with
``e = ln p − ln g`` and no ×100 — the same quantity the metric stage trains on, so the log
and the loss read the same. Relative (affine-invariant) models are scored after the
least-squares scale-and-shift fit in disparity of REFERENCE.md §4 (``geometry/scale.py``).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from depth_anything_ros.geometry.scale import fit_disparity_scale_shift

__all__ = [
    "METRIC_NAMES",
    "depth_metrics",
    "relative_depth_metrics",
    "valid_depth_mask",
    "mean_metrics",
    "median_scale",
    "scale_jitter",
]

METRIC_NAMES = (
    "abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog", "delta1", "delta2", "delta3",
)


def valid_depth_mask(
    gt: np.ndarray, min_depth: float = 1e-3, max_depth: float = np.inf
) -> np.ndarray:
    """Pixels with finite ground truth inside ``[min_depth, max_depth]`` (DA2: inclusive)."""
    gt = np.asarray(gt)
    with np.errstate(invalid="ignore"):
        return np.isfinite(gt) & (gt >= min_depth) & (gt <= max_depth)


def depth_metrics(
    pred: np.ndarray,
    gt: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    pred_range: tuple[float, float] | None = None,
) -> dict[str, float]:
    """Metrics of one image's predicted depth ``pred`` against ``gt`` (both metres, same shape).

    ``mask`` selects the pixels (default: finite, positive GT). ``pred_range=(lo, hi)`` clamps the
    prediction first as the ZoeDepth protocol does (NaN → lo, +inf → hi); without it a
    non-finite or non-positive prediction inside the mask is an error, since its log is undefined.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground truth shape {gt.shape}")
    valid = valid_depth_mask(gt, min_depth=np.finfo(np.float64).tiny)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != gt.shape:
            raise ValueError(f"mask shape {mask.shape} differs from ground truth shape {gt.shape}")
        valid &= mask
    if not valid.any():
        raise ValueError("no valid ground-truth pixels to score")
    p, g = pred[valid], gt[valid]
    if pred_range is not None:
        lo, hi = pred_range
        p = np.clip(np.nan_to_num(p, nan=lo, posinf=hi, neginf=lo), lo, hi)
    elif not (np.isfinite(p).all() and (p > 0).all()):
        bad = int((~np.isfinite(p) | (p <= 0)).sum())
        raise ValueError(f"prediction has {bad} non-finite or non-positive values on valid pixels")
    ratio = np.maximum(g / p, p / g)
    err_log = np.log(p) - np.log(g)
    return {
        "abs_rel": float(np.mean(np.abs(g - p) / g)),
        "sq_rel": float(np.mean((g - p) ** 2 / g)),
        "rmse": float(np.sqrt(np.mean((g - p) ** 2))),
        "rmse_log": float(np.sqrt(np.mean(err_log**2))),
        "log10": float(np.mean(np.abs(np.log10(g) - np.log10(p)))),
        "silog": float(np.sqrt(max(np.mean(err_log**2) - 0.5 * np.mean(err_log) ** 2, 0.0))),
        "delta1": float(np.mean(ratio < 1.25)),
        "delta2": float(np.mean(ratio < 1.25**2)),
        "delta3": float(np.mean(ratio < 1.25**3)),
    }


def relative_depth_metrics(
    disparity: np.ndarray,
    gt: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    depth_range: tuple[float, float] = (1e-3, 80.0),
) -> dict[str, float]:
    """Metrics of an affine-invariant disparity after LSQ scale-and-shift alignment (REFERENCE §4/§6).

    The fit uses the same pixels as the score (MiDaS protocol). As in MiDaS's evaluation, the
    aligned disparity is capped below at ``1 / max_depth`` — an aligned disparity at or below zero
    means "farther than anything", so it scores as ``max_depth``, never as a near pixel — and the
    resulting depth is clamped to ``depth_range``.
    """
    lo, hi = depth_range
    gt = np.asarray(gt, dtype=np.float64)
    valid = valid_depth_mask(gt, lo, hi)
    if mask is not None:
        valid &= np.asarray(mask, dtype=bool)
    scale, shift = fit_disparity_scale_shift(disparity, gt, valid)
    aligned = shift + scale * np.asarray(disparity, dtype=np.float64)
    aligned = np.maximum(np.nan_to_num(aligned, nan=1.0 / hi), 1.0 / hi)
    return depth_metrics(1.0 / aligned, gt, valid, pred_range=depth_range)


def mean_metrics(per_image: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Average per-image metric dicts; adds ``n_images``."""
    rows = list(per_image)
    if not rows:
        raise ValueError("no images were scored")
    out = {name: float(np.mean([r[name] for r in rows])) for name in METRIC_NAMES}
    out["n_images"] = len(rows)
    return out


def median_scale(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> float:
    """The per-frame oracle scale median(gt / pred) over ``mask`` (finite, positive predictions);
    NaN when no pixel qualifies. Multiplying ``pred`` by it is the "median-oracle" protocol."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        use = np.asarray(mask, dtype=bool) & np.isfinite(pred) & (pred > 0) & np.isfinite(gt)
    if not use.any():
        return float("nan")
    return float(np.median(gt[use] / pred[use]))


def scale_jitter(scales: Iterable[float]) -> float:
    """std of log per-frame scale: how much the metric scale wobbles from frame to frame (0 for
    a model whose error is one constant factor); NaN with fewer than two finite scales."""
    logs = np.log([s for s in scales if np.isfinite(s) and s > 0])
    return float(np.std(logs)) if len(logs) >= 2 else float("nan")
