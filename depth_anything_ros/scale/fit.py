"""Robust per-frame metric scale from anchors (REFERENCE.md §4, §14).

Two models of how a prediction `p` relates to metres, both fitted so that a minority of wrong
anchors (a lidar ray through glass, a mis-registered edge, an object on the floor) cannot move
the answer:

* metric models: ``depth = scale · p``. In log space every anchor votes ``log(d / p)``; the
  median vote seeds the estimate, then a median with MAD clipping refines it.
* relative (disparity) models: ``1/depth = scale · p + shift``. Pairs of anchors propose lines
  (RANSAC); the line with the least median error (LMedS) seeds a weighted least-squares refit
  (`fit_disparity_scale_shift`, weights d² so residuals are relative depth errors) with MAD
  clipping.
* metric models, `metric_model="scale_shift"`: ``depth = scale · p + shift``, by the same RANSAC
  and refit (least relative error). A metric network squeezes or stretches the depth range (on
  held-out synthetic rooms the floor's gt/pred fell from 1.48 at 1.9 m to 1.04 at 4.3 m), which
  one scale cannot follow; anchors at many depths (a floor seen from near to far, a lidar's
  scan lines) measure that slope. The line is trusted only over the predictions it was fitted on
  (`ScaleFit.span`): outside it the factor at the nearer end is held, so a near obstacle is never
  pushed out by an extrapolated shift and depth stays positive.

Both seeds break down only past 50 % outliers and stay central when a poor model spreads the
votes widely (real frames: σ ≈ 0.4 in log). `seed="consensus"` instead seeds with the largest
group agreeing within `tolerance` (the densest window of votes; RANSAC's most inliers), which
finds a tight minority among scattered votes — the floor among furniture (`ground_plane.py`).

Agreement is always judged as a relative depth error, so one tolerance fits both. A fit is
refused, with the reason in one line, when the anchors are too few, cover too little of the
image, span too little depth (relative: scale and shift cannot be told apart), or too few agree.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from depth_anything_ros.scale.anchors import Anchors
from depth_anything_ros.scale.disparity import disparity_to_depth, fit_disparity_scale_shift

__all__ = ["FitConfig", "ScaleFit", "applied_factor", "apply_scale", "fit_anchors"]

MAD_TO_SIGMA = 1.4826
RANSAC_JUDGES = 1024  # anchors that score each line hypothesis
FACTOR_PIXELS = 16_384  # applied_factor's sample


@dataclass(frozen=True)
class FitConfig:
    """What a fit needs and how strict it is (defaults suit a lidar or an RGB-D sensor)."""

    min_anchors: int = 20  # usable anchors (prediction valid there too)
    min_coverage: float = 0.10  # of the image width or height the anchors must span
    min_depth_ratio: float = 1.25  # relative models and metric lines: 95th/5th pct of anchor depth
    tolerance: float = 0.10  # log depth: anchors within ~10 % of the fit agree with it
    mad_k: float = 3.0  # refinement keeps |residual| ≤ mad_k · σ_MAD, clipped to the two below
    max_tolerance: float = 1.0  # (×2.7) so a noisy fit cannot swallow every anchor
    min_inlier_fraction: float = 0.30
    max_anchors: int = 4096  # larger sets are subsampled (seeded) before fitting
    ransac_pairs: int = 256  # relative models: line hypotheses tried
    seed: str = "median"  # or "consensus": see the module docstring
    metric_model: str = "scale"  # or "scale_shift" (metric models): see the module docstring
    random_seed: int = 0


@dataclass(frozen=True)
class ScaleFit:
    """One frame's fit. Metric: depth = scale·p (shift 0), or scale·p + shift over the
    predictions in `span` (a "scale_shift" fit; outside it the factor at its ends is held).
    Relative: 1/depth = scale·p + shift.

    `reason` (with a short `code` for throttling and counting) is set when the fit was refused;
    then `scale` is NaN. `residual` is the median |log(fitted / anchor)| of the inliers.
    """

    relative: bool
    scale: float = math.nan
    shift: float = 0.0
    anchors: int = 0
    inliers: int = 0
    residual: float = math.nan
    reason: str | None = None
    code: str | None = None
    extra: dict[str, float] = field(default_factory=dict)
    span: tuple[float, float] | None = None  # metric line: the predictions it was fitted on

    @property
    def ok(self) -> bool:
        return self.reason is None

    def factor(self, prediction: np.ndarray) -> float:
        """The typical factor this metric fit applies to `prediction` (`applied_factor`): the
        scale itself without a shift, else the median over applied_factor's grid only."""
        if self.shift == 0:
            return self.scale
        sample = np.asarray(prediction)[_factor_grid(np.shape(prediction))]
        return applied_factor(sample, self.apply(sample))

    def apply(self, prediction: np.ndarray) -> np.ndarray:
        """Metres (float32, NaN where the prediction is invalid or beyond infinity)."""
        return apply_scale(prediction, self.relative, self.scale, self.shift, self.span)


def apply_scale(prediction: np.ndarray, relative: bool, scale: float, shift: float,
                span: tuple[float, float] | None = None) -> np.ndarray:
    """Depth in metres from a prediction: 1/(scale·p + shift) (relative), or for a metric model
    scale·p + shift = (scale + shift/p)·p, with p clipped to `span` inside the factor (a metric
    shift needs its span)."""
    if relative:
        return disparity_to_depth(prediction, scale, shift)
    p = np.asarray(prediction, dtype=np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        if shift == 0:
            depth = p * np.float32(scale)
        else:
            if span is None:
                raise ValueError(f"a metric shift ({shift:g} m) needs the span of predictions "
                                 "it was fitted on")
            factor = scale + shift / np.clip(p, np.float32(span[0]), np.float32(span[1]))
            depth = (factor * p).astype(np.float32)
        return np.where(np.isfinite(depth) & (depth > 0), depth, np.nan).astype(np.float32)


def applied_factor(prediction: np.ndarray, depth: np.ndarray) -> float:
    """The typical factor a metric correction applied to one frame: median(depth / prediction)
    over its valid pixels (the scale itself when there is no shift). What "the scale" means for
    jitter and summaries when a line's factor varies with depth. A summary, taken on a regular
    grid of at most ~16k pixels: the node computes it on every frame."""
    prediction, depth = np.asarray(prediction), np.asarray(depth)
    grid = _factor_grid(prediction.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = depth[grid].astype(np.float64) / prediction[grid].astype(np.float64)
    ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
    return float(np.median(ratio)) if ratio.size else math.nan


def _factor_grid(shape: tuple[int, ...]) -> tuple:
    """Index of a regular grid of at most ~FACTOR_PIXELS pixels over the last two axes."""
    step = max(1, math.ceil(math.sqrt(math.prod(shape) / FACTOR_PIXELS)))
    return (..., slice(None, None, step), slice(None, None, step))


def refused(relative: bool, code: str, reason: str, anchors: int = 0, inliers: int = 0
            ) -> ScaleFit:
    return ScaleFit(relative, anchors=anchors, inliers=inliers, reason=reason, code=code)


def fit_anchors(prediction: np.ndarray, anchors: Anchors | np.ndarray, *, relative: bool,
                config: FitConfig = FitConfig()) -> ScaleFit:
    """Fit the prediction (H×W: metres or disparity) to the anchors (or a sparse depth image).

    Anchors where the prediction is not usable (non-finite; ≤ 0 for metric models) are left
    out. A shape mismatch is a refusal (code "size"), not an exception, so a bad sensor
    message cannot stop a node.
    """
    prediction = np.asarray(prediction)
    if not isinstance(anchors, Anchors):
        if np.shape(anchors) != prediction.shape:
            return refused(relative, "size", f"sparse depth is {_size(np.shape(anchors))} but "
                           f"the image is {_size(prediction.shape)}")
        anchors = Anchors.from_depth_image(anchors, config.max_anchors, config.random_seed)
    elif anchors.shape != prediction.shape:
        return refused(relative, "size", f"sparse depth is {_size(anchors.shape)} but the image "
                       f"is {_size(prediction.shape)}")
    if not len(anchors):
        return refused(relative, "no_anchors",
                       "no anchors: every sparse depth value is NaN or ≤ 0")
    p = prediction[anchors.rows, anchors.cols].astype(np.float64)
    usable = np.isfinite(p) if relative else np.isfinite(p) & (p > 0)
    anchors = anchors.subset(usable)
    p = p[usable]
    if len(anchors) > config.max_anchors:
        keep = np.sort(np.random.default_rng(config.random_seed).choice(
            len(anchors), config.max_anchors, replace=False))
        anchors, p = anchors.subset(keep), p[keep]
    n = len(anchors)
    if n < config.min_anchors:
        return refused(relative, "few_anchors", f"only {n} anchors where the prediction is "
                       f"valid; need at least {config.min_anchors}", n)
    coverage = anchors.coverage()
    if coverage < config.min_coverage:
        return refused(relative, "coverage", f"anchors span only {coverage:.0%} of the image "
                       f"width or height; need {config.min_coverage:.0%}", n)
    if relative:
        return _fit_relative(p, anchors.depth, config)
    if config.metric_model == "scale_shift":
        return _fit_metric_line(p, anchors.depth, config)
    return _fit_metric(p, anchors.depth, config)


def _size(shape: tuple[int, ...]) -> str:
    return "×".join(str(v) for v in shape[::-1]) if len(shape) == 2 else str(shape)


def _refine(residual_of, inliers: np.ndarray, refit, config: FitConfig, max_iter: int = 10):
    """Alternate refit on the inliers and MAD clipping until the inlier set stops changing."""
    params = refit(inliers)
    for _ in range(max_iter):
        residual = residual_of(params)
        sigma = MAD_TO_SIGMA * np.median(np.abs(residual[inliers]))
        new = np.abs(residual) <= np.clip(config.mad_k * sigma, config.tolerance,
                                           max(config.tolerance, config.max_tolerance))
        if new.sum() < 2 or np.array_equal(new, inliers):
            break
        inliers = new
        params = refit(inliers)
    return params, inliers


def _verdict(relative: bool, scale: float, shift: float, residual: np.ndarray,
             inliers: np.ndarray, config: FitConfig) -> ScaleFit:
    n, k = inliers.size, int(inliers.sum())
    if k < max(config.min_inlier_fraction * n, 2):
        return refused(relative, "inliers", f"only {k} of {n} anchors agree with one "
                       f"{'scale and shift' if relative else 'scale'} (within "
                       f"{config.tolerance:.0%}); need {config.min_inlier_fraction:.0%}", n, k)
    return ScaleFit(relative, float(scale), float(shift), n, k,
                    float(np.median(np.abs(residual[inliers]))))


def _fit_metric(p: np.ndarray, depth: np.ndarray, config: FitConfig) -> ScaleFit:
    votes = np.log(depth) - np.log(p)
    if config.seed == "consensus":
        first = _densest_window(votes, config.tolerance)
    else:
        first = np.ones(votes.size, dtype=bool)
    centre = _shorth_centre if config.seed == "consensus" else np.median
    log_scale, inliers = _refine(lambda c: votes - c, first,
                                 lambda keep: float(centre(votes[keep])), config)
    return _verdict(False, math.exp(log_scale), 0.0, votes - log_scale, inliers, config)


def _depth_span(depth: np.ndarray) -> tuple[float, float]:
    """5th and 95th percentile of the anchors' depths: whether they can tell a slope."""
    lo, hi = np.percentile(depth, [5, 95])
    return float(lo), float(hi)


def _line_residuals(x: np.ndarray, target: np.ndarray):
    """residual_of((scale, shift)) = log((scale·x + shift) / target) per anchor, inf where the
    line is ≤ 0 (only its magnitude is used: a relative error either way)."""
    def residual_of(params: tuple[float, float]) -> np.ndarray:
        scale, shift = params
        with np.errstate(divide="ignore", invalid="ignore"):
            fitted = scale * x + shift
            return np.where(fitted > 0, np.log(np.maximum(fitted, 1e-300) / target), np.inf)
    return residual_of


def _fit_metric_line(p: np.ndarray, depth: np.ndarray, config: FitConfig) -> ScaleFit:
    """depth = scale·p + shift, robustly; a plain scale where the anchors cannot tell a slope
    (depths spanning less than `min_depth_ratio`), where no valid line is found, or where the
    line leaves no more anchors within `tolerance` than one scale does (a line is free to
    slant through a floor and the objects on it; for a model with the right depth range one
    scale is the simpler answer and wins ties)."""
    plain = _fit_metric(p, depth, config)
    lo, hi = _depth_span(depth)
    if hi < config.min_depth_ratio * lo:
        return plain
    residual_of = _line_residuals(p, depth)

    def refit(keep: np.ndarray) -> tuple[float, float]:
        # least squares in relative error: (scale·p + shift)/d ≈ 1
        a = np.stack([p[keep], np.ones(int(keep.sum()))], axis=1) / depth[keep, None]
        scale, shift = np.linalg.lstsq(a, np.ones(a.shape[0]), rcond=None)[0]
        return float(scale), float(shift)

    seed = _ransac_line(p, depth, config)
    if seed is None:
        return plain
    first = np.abs(residual_of(seed)) <= config.tolerance
    if first.sum() < 2:
        return plain
    (scale, shift), inliers = _refine(residual_of, first, refit, config)
    span = (float(p[inliers].min()), float(p[inliers].max())) if inliers.any() else None
    # the line must give positive depth over its span (then everywhere: the factor is monotone)
    if span is None or not (scale > 0 and scale + shift / span[0] > 0
                            and scale + shift / span[1] > 0):
        return plain
    residual = residual_of((scale, shift))
    line = _verdict(False, scale, shift, residual, inliers, config)
    if not line.ok:
        return plain
    if plain.ok:  # the extra parameter must explain more anchors within the same tolerance
        agree_line = int((np.abs(residual) <= config.tolerance).sum())
        agree_plain = int((np.abs(np.log(plain.scale * p / depth)) <= config.tolerance).sum())
        if agree_line <= agree_plain:
            return plain
    return replace(line, span=span)


def _shorth_centre(values: np.ndarray) -> float:
    """Middle of the shortest interval holding half the values: the peak of a tight group even
    when scattered votes crowd one side of it (objects on a floor all read nearer)."""
    ordered = np.sort(values)
    half = max(1, ordered.size // 2)
    widths = ordered[half:] - ordered[:-half] if ordered.size > 1 else np.zeros(1)
    start = int(np.argmin(widths))
    return float(np.median(ordered[start:start + half + 1]))


def window_counts(ordered: np.ndarray, width: float) -> np.ndarray:
    """How many of the sorted `ordered` values lie in [value, value + width], for each value."""
    return np.searchsorted(ordered, ordered + width, side="right") - np.arange(ordered.size)


def _densest_window(values: np.ndarray, half_width: float) -> np.ndarray:
    """Mask of the values inside the window of width 2·half_width holding the most of them."""
    ordered = np.sort(values)
    counts = window_counts(ordered, 2 * half_width)
    start = ordered[int(np.argmax(counts))]
    return (values >= start) & (values <= start + 2 * half_width)


def _fit_relative(x: np.ndarray, depth: np.ndarray, config: FitConfig) -> ScaleFit:
    lo, hi = _depth_span(depth)
    if hi < config.min_depth_ratio * lo:
        return refused(True, "depth_spread", f"anchor depths span only ×{hi / lo:.2f} (5th–95th "
                       f"percentile, {lo:.2f}–{hi:.2f} m); a relative model needs "
                       f"×{config.min_depth_ratio:.2f} to tell scale from shift", depth.size)
    if np.ptp(x) <= 1e-12 * max(1.0, float(np.abs(x).max())):
        return refused(True, "flat_prediction", "the prediction is constant at the anchors: "
                       "nothing to fit a scale and shift to", depth.size)
    inv = 1.0 / depth
    residual_of = _line_residuals(x, inv)

    def refit(keep: np.ndarray) -> tuple[float, float]:
        return fit_disparity_scale_shift(x[keep], depth[keep], weights=depth[keep] ** 2)

    seed = _ransac_line(x, inv, config)
    if seed is None:
        return refused(True, "inliers", "no line 1/depth = scale·disparity + shift with "
                       "positive scale fits the anchors", depth.size)
    first = np.abs(residual_of(seed))
    if config.seed == "consensus":
        first = first <= config.tolerance
    else:
        first = first <= max(config.tolerance, MAD_TO_SIGMA * config.mad_k * np.median(first))
    (scale, shift), inliers = _refine(residual_of, first, refit, config)
    if not scale > 0:
        return refused(True, "inliers", f"the fit has scale {scale:.3g} ≤ 0: disparity must "
                       "grow as depth shrinks", depth.size, int(inliers.sum()))
    return _verdict(True, scale, shift, residual_of((scale, shift)), inliers, config)


def _ransac_line(x: np.ndarray, inv: np.ndarray, config: FitConfig) -> tuple[float, float] | None:
    """The (scale, shift) of inv = scale·x + shift through two anchors that fits best: least
    median |log relative error| (or, `seed="consensus"`, most anchors within tolerance). Only
    rising lines (scale > 0) are considered. `inv` is any positive target: 1/depth against
    disparity, or depth against a metric prediction."""
    rng = np.random.default_rng(config.random_seed)
    i = rng.integers(0, x.size, config.ransac_pairs)
    j = rng.integers(0, x.size, config.ransac_pairs)
    dx = x[i] - x[j]
    good = np.abs(dx) > 1e-12
    scale = np.where(good, (inv[i] - inv[j]) / np.where(good, dx, 1.0), 0.0)
    shift = inv[i] - scale * x[i]
    candidates = np.flatnonzero(good & (scale > 0))
    if not candidates.size:
        return None
    judges = rng.choice(x.size, min(x.size, RANSAC_JUDGES), replace=False)  # enough to rank
    fitted = scale[candidates, None] * x[None, judges] + shift[candidates, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        error = np.where(fitted > 0, np.abs(np.log(fitted / inv[None, judges])), np.inf)
    if config.seed == "consensus":
        best = candidates[int(np.argmax((error <= config.tolerance).sum(axis=1)))]
    else:
        best = candidates[int(np.argmin(np.median(error, axis=1)))]
    return float(scale[best]), float(shift[best])
