"""Least-squares scale-and-shift alignment of affine-invariant disparity (REFERENCE.md §4).

The plain fit against dense ground truth (evaluation); the robust fit from sparse anchors is
``scale/fit.py``, which calls this one on its inliers.

A relative Depth Anything model outputs disparity known only up to scale and shift. The
author-confirmed recipe (DA2 #157, DA1 #72) fits ``1/depth = shift + scale * output`` on the
valid ground-truth pixels and then reads ``depth = 1 / (shift + scale * output)``. Using raw
disparity as Z gives flat or cone-shaped clouds, which is why this lives in the core.
"""
from __future__ import annotations

import numpy as np

__all__ = ["disparity_to_depth", "fit_disparity_scale_shift"]


def fit_disparity_scale_shift(
    pred: np.ndarray,
    gt_depth: np.ndarray,
    mask: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> tuple[float, float]:
    """Return ``(scale, shift)`` minimising ``sum(w * (shift + scale * pred - 1/gt)^2)`` over ``mask``.

    ``pred`` is the model's disparity, ``gt_depth`` metric depth (metres). Pixels where ``gt``
    is not finite or not positive, or ``pred`` is not finite, are always left out. ``weights``
    (default 1) lets the robust anchor fit (``scale/fit.py``) weigh by ``gt²`` so residuals
    count as relative depth errors. Solved in float64 in closed form (weighted normal
    equations of a 2-parameter line fit).
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt_depth = np.asarray(gt_depth, dtype=np.float64)
    if pred.shape != gt_depth.shape:
        raise ValueError(f"pred shape {pred.shape} differs from gt_depth shape {gt_depth.shape}")
    valid = np.isfinite(pred) & np.isfinite(gt_depth) & (gt_depth > 0)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != pred.shape:
            raise ValueError(f"mask shape {mask.shape} differs from pred shape {pred.shape}")
        valid &= mask
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != pred.shape:
            raise ValueError(f"weights shape {weights.shape} differs from pred shape {pred.shape}")
        valid &= np.isfinite(weights) & (weights > 0)
    n = int(valid.sum())
    if n < 2:
        raise ValueError(f"need at least 2 valid pixels to fit scale and shift, got {n}")
    x = pred[valid]
    y = 1.0 / gt_depth[valid]
    w = np.ones_like(x) if weights is None else weights[valid]
    w = w / w.sum()
    x_mean, y_mean = np.sum(w * x), np.sum(w * y)
    var_x = np.sum(w * (x - x_mean) ** 2)
    if var_x <= 1e-24:
        # A constant prediction carries no scale information: the best fit is the mean.
        return 0.0, float(y_mean)
    scale = np.sum(w * (x - x_mean) * (y - y_mean)) / var_x
    shift = y_mean - scale * x_mean
    return float(scale), float(shift)


def disparity_to_depth(
    disparity: np.ndarray, scale: float, shift: float, *, min_disparity: float = 1e-8
) -> np.ndarray:
    """Metric depth ``1 / (shift + scale * disparity)`` as float32; NaN where that is ≤ ``min_disparity``.

    Non-positive aligned disparity means "beyond infinity", which has no depth (REP-117: NaN);
    infinite disparity (an fp16 export overflowing) has none either, nor one that underflows
    float32 to 0.
    """
    aligned = shift + scale * np.asarray(disparity, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        depth = np.where(aligned > min_disparity, 1.0 / aligned, np.nan)
        depth = depth.astype(np.float32)
    return np.where(depth > 0, depth, np.float32(np.nan))
