"""Depth error metrics over valid pixels (REFERENCE.md §6), shared by training, bag tools and demo.

Each metric is computed per image and then averaged over images (the ZoeDepth / DA2 protocol).
``silog`` is the **DA2 form** (DA2 util/metric.py): ``sqrt(mean(e²) − 0.5·mean(e)²)`` with
``e = ln p − ln g`` and no ×100 — the same quantity the metric stage trains on, so the log
and the loss read the same. Relative (affine-invariant) models are scored after the
least-squares scale-and-shift fit in disparity of REFERENCE.md §4 (``scale/disparity.py``).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from depth_anything_ros.scale.disparity import fit_disparity_scale_shift

__all__ = [
    "METRIC_NAMES",
    "aligned_depth",
    "depth_metrics",
    "median_scale",
    "relative_error_map",
    "relative_depth_metrics",
    "valid_depth_mask",
    "mean_metrics",
    "scale_jitter",
    "typical_scale",
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


def aligned_depth(
    disparity: np.ndarray,
    gt: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    depth_range: tuple[float, float] = (1e-3, 80.0),
) -> np.ndarray:
    """Depth (m, float64) from an affine-invariant disparity after the LSQ fit to ``gt`` (§4).

    The fit uses the valid GT pixels inside ``depth_range`` (and ``mask``). As in MiDaS's
    evaluation, the aligned disparity is capped below at ``1 / max_depth`` — an aligned disparity
    at or below zero means "farther than anything", so it reads as ``max_depth``, never as a near
    pixel — and the depth is clamped to ``depth_range``.
    """
    lo, hi = depth_range
    gt = np.asarray(gt, dtype=np.float64)
    valid = valid_depth_mask(gt, lo, hi)
    if mask is not None:
        valid &= np.asarray(mask, dtype=bool)
    scale, shift = fit_disparity_scale_shift(disparity, gt, valid)
    aligned = shift + scale * np.asarray(disparity, dtype=np.float64)
    aligned = np.maximum(np.nan_to_num(aligned, nan=1.0 / hi), 1.0 / hi)
    return np.clip(1.0 / aligned, lo, hi)


def relative_depth_metrics(
    disparity: np.ndarray,
    gt: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    depth_range: tuple[float, float] = (1e-3, 80.0),
) -> dict[str, float]:
    """Metrics of an affine-invariant disparity after LSQ scale-and-shift alignment (REFERENCE §4/§6).

    The fit uses the same pixels as the score (MiDaS protocol); see :func:`aligned_depth`.
    """
    lo, hi = depth_range
    valid = valid_depth_mask(gt, lo, hi)
    if mask is not None:
        valid &= np.asarray(mask, dtype=bool)
    depth = aligned_depth(disparity, gt, valid, depth_range=depth_range)
    return depth_metrics(depth, gt, valid, pred_range=depth_range)


def _scored_pixels(
    pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float64 pred and gt, and the pixels with valid GT and a positive finite prediction."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    valid = valid_depth_mask(gt, min_depth=np.finfo(np.float64).tiny)
    with np.errstate(invalid="ignore"):
        valid &= np.isfinite(pred) & (pred > 0)
    if mask is not None:
        valid &= np.asarray(mask, dtype=bool)
    return pred, gt, valid


def relative_error_map(
    pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None
) -> np.ndarray:
    """Per-pixel ``|gt − pred| / gt`` (float32; NaN where GT is invalid, outside ``mask``, or the
    prediction is not a positive finite depth) — the picture of abs_rel."""
    pred, gt, valid = _scored_pixels(pred, gt, mask)
    with np.errstate(invalid="ignore", divide="ignore"):
        error = np.abs(gt - pred) / gt
    return np.where(valid, error, np.nan).astype(np.float32)


def median_scale(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """The median-oracle scale ``median(gt / pred)`` over valid pixels (the factor that would make
    this frame's median right); NaN when no pixel is valid."""
    pred, gt, valid = _scored_pixels(pred, gt, mask)
    return float(np.median(gt[valid] / pred[valid])) if valid.any() else float("nan")


def mean_metrics(per_image: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Average per-image metric dicts; adds ``n_images``."""
    rows = list(per_image)
    if not rows:
        raise ValueError("no images were scored")
    out = {name: float(np.mean([r[name] for r in rows])) for name in METRIC_NAMES}
    out["n_images"] = len(rows)
    return out


def scale_jitter(scales: Iterable[float]) -> float:
    """std of log per-frame scale: how much the metric scale wobbles from frame to frame (0 for
    a model whose error is one constant factor); NaN with fewer than two finite scales."""
    logs = _log_scales(scales)
    return float(np.std(logs)) if len(logs) >= 2 else float("nan")


def typical_scale(scales: Iterable[float]) -> float:
    """Geometric mean of per-frame scales (> 1: the prediction reads too near); NaN with no
    finite positive scale. The centre `scale_jitter` measures the spread around."""
    logs = _log_scales(scales)
    return float(np.exp(np.mean(logs))) if len(logs) else float("nan")


def _log_scales(scales: Iterable[float]) -> np.ndarray:
    return np.log([s for s in scales if np.isfinite(s) and s > 0])
