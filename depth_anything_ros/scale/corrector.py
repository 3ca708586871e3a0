"""`ScaleCorrector`: one frame's prediction in, metres out — the object the node and the bag job
share, holding the temporal filter's state between frames.

Per frame it fits the scale from what `source` provides (sparse depth anchors or the ground
plane), passes the fit through the `ScaleFilter`, and applies the filtered scale. When a frame
has no usable fit (no anchors, a refused fit, bad settings) the last filtered scale is held for
`max_age_s`; after that depth falls back to the model's own scale ("unscaled"), or — for a
relative model, whose output is not metres — to the static `fallback` (relative_scale/shift)
if one is given, else to no depth at all. `Correction.state` and `.reason` say which, so
diagnostics and logs can tell the user.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from depth_anything_ros.scale.anchors import Anchors
from depth_anything_ros.scale.fit import (FitConfig, ScaleFit, applied_factor, apply_scale,
                                          fit_anchors)
from depth_anything_ros.scale.ground_plane import GroundConfig, GroundPlane, fit_ground_plane
from depth_anything_ros.scale.temporal import DEFAULT_TIME_CONSTANT_S, FilterConfig, ScaleFilter

__all__ = ["SCALE_MODELS", "SCALE_SOURCES", "Correction", "ScaleCorrector", "ScaleSettings"]

SCALE_SOURCES = ("none", "sparse_depth", "ground_plane")
# How a metric model's prediction is fitted to the anchors (sparse depth or the floor): a line
# depth = scale·p + shift (default; follows a model that squeezes or stretches the depth range,
# measured: TUM tail with 3 scan lines 0.132 → 0.125, synthetic floors 0.179 → 0.123) or one
# scale (`scale/fit.py`). Relative models always get scale and shift in disparity.
SCALE_MODELS = ("scale_shift", "scale")

# What was applied to a frame (Correction.state).
ANCHORED = "anchored"  # this frame's fit, through the filter
HELD = "held"  # no fit this frame; the filtered scale (≤ max_age_s old) was applied
UNSCALED = "unscaled"  # metric model's own scale (no anchor scale available)
STATIC = "static"  # relative model with the fixed fallback scale/shift
NO_METRES = "no_metres"  # relative model without any scale: no depth for this frame
OFF = "off"  # source "none": the model's own output (metric) or the static fallback


@dataclass(frozen=True)
class ScaleSettings:
    """Everything the corrector is told (node parameters / bag options map 1:1 onto this)."""

    source: str = "none"
    camera_height: float = 0.0  # metres, optical centre above the floor (ground_plane)
    camera_pitch_deg: float = 0.0  # optical axis below the horizon (positive looks down)
    camera_roll_deg: float = 0.0
    smoothing_time_s: float = DEFAULT_TIME_CONSTANT_S  # 0: no smoothing
    gate: float = 0.25  # log units
    reset_frames: int = 5
    max_age_s: float = 2.0  # how long a scale is held when frames have no fit
    min_anchors: int = 20
    scale_model: str = "scale_shift"  # metric models: "scale_shift" or "scale" (SCALE_MODELS)
    ground_max_correction: float = GroundConfig.max_correction  # metric models; 0 = no limit

    def problem(self) -> str | None:
        """A setting that makes every fit impossible (one line), or None."""
        if self.source not in SCALE_SOURCES:
            return f"scale source {self.source!r}: use one of {', '.join(SCALE_SOURCES)}"
        if self.source == "ground_plane":
            problem = self.ground_plane().problem() or self.ground_config().problem()
            if problem is not None:
                return problem
        if self.scale_model not in SCALE_MODELS:
            return f"scale model {self.scale_model!r}: use one of {', '.join(SCALE_MODELS)}"
        if self.min_anchors < 2:
            return f"min_anchors {self.min_anchors}: must be ≥ 2"
        return self.filter_config().problem()

    def filter_config(self) -> FilterConfig:
        return FilterConfig(self.smoothing_time_s, self.gate, self.reset_frames)

    def fit_config(self) -> FitConfig:
        return FitConfig(min_anchors=self.min_anchors, metric_model=self.scale_model)

    def ground_plane(self) -> GroundPlane:
        return GroundPlane.from_pitch_roll(self.camera_height, self.camera_pitch_deg,
                                           self.camera_roll_deg)

    def ground_config(self) -> GroundConfig:
        default = GroundConfig()
        return replace(default, max_correction=self.ground_max_correction,
                       fit=replace(default.fit, min_anchors=self.min_anchors,
                                   metric_model=self.scale_model))


@dataclass(frozen=True)
class Correction:
    """What happened to one frame: `depth` (metres, or None: no metric depth possible), the
    `scale`/`shift` applied (NaN when none), this frame's `fit`, and why it was not anchored.
    `factor`: a metric model's typical applied factor, median(depth / prediction) (= `scale`
    without a shift); a relative model's disparity scale."""

    depth: np.ndarray | None
    state: str
    scale: float = math.nan
    shift: float = 0.0
    fit: ScaleFit | None = None
    filter_event: str | None = None
    reason: str | None = None
    code: str | None = None
    factor: float = math.nan

    @property
    def problem_key(self) -> str | None:
        """One key per kind of problem (for throttled logs and tallies): the refusal code, and
        for a missing or unusable sparse depth also its first words (frame_id, encoding, ...)."""
        if self.reason is None:
            return None
        if self.code == "no_sparse_depth":
            return f"{self.code}:{' '.join(self.reason.split()[:2])}"
        return self.code

    def located(self, where: str) -> str:
        """The reason prefixed with where it arose (a topic, a parameter), except when it names
        its source already: ground-plane refusals begin "ground plane: "."""
        reason = self.reason or ""
        return reason if reason.startswith("ground plane") else f"{where}: {reason}"

    def summary(self, relative: bool) -> dict[str, str]:
        """Key/value strings for /diagnostics and reports."""
        out = {"scale_state": self.state, "scale": _num(self.scale)}
        if relative or self.shift != 0:  # metric: a scale_shift line's shift, in metres
            out["scale_shift"] = _num(self.shift)
        if not relative and self.shift != 0:
            out["scale_factor"] = _num(self.factor)
        fit = self.fit
        if fit is not None:
            out.update(fit_scale=_num(fit.scale), fit_residual=_num(fit.residual),
                       anchors=str(fit.anchors), inliers=str(fit.inliers))
            if fit.span is not None:
                lo, hi = fit.span
                out.update(fit_shift=_num(fit.shift), fit_span=f"{lo:.3g}-{hi:.3g}")
            out.update({k: _num(v) for k, v in fit.extra.items()})
        if self.filter_event is not None:
            out["filter"] = self.filter_event
        out["scale_reason"] = self.reason or ""
        return out


def _num(value: float) -> str:
    return "nan" if not math.isfinite(value) else f"{value:.4g}"


class ScaleCorrector:
    """Stateful per-camera corrector; call `correct` once per frame, in time order."""

    def __init__(self, settings: ScaleSettings, *, relative: bool,
                 fallback: tuple[float, float] | None = None) -> None:
        self.relative = relative
        self.fallback = fallback if fallback is not None and fallback[0] > 0 else None
        self.settings = settings
        self.filter = ScaleFilter(settings.filter_config())
        self._reference: float | None = None  # metric lines: see _filter_update
        self._units: float | None = None  # the prediction's focal factor the state belongs to

    @property
    def gives_metres(self) -> bool:
        """Whether a relative model can get metres from this corrector at all."""
        return self.settings.source != "none" or self.fallback is not None

    def update_settings(self, settings: ScaleSettings) -> None:
        """Live change (node parameters): the filter keeps its state unless its source changed."""
        if settings.source != self.settings.source:
            self.filter.clear()
            self._reference = None
        self.settings = settings
        self.filter.config = settings.filter_config()

    def correct(self, prediction: np.ndarray, stamp_s: float, *,
                sparse_depth: np.ndarray | Anchors | None = None,
                intrinsics: Any = None, rays: np.ndarray | None = None,
                missing: str | None = None, units: float = 1.0,
                up: tuple[float, float, float] | None = None) -> Correction:
        """Metres for one frame. `sparse_depth` (H×W metres, NaN/≤0 none) for "sparse_depth";
        `intrinsics` (fx, fy, cx, cy attributes) or `rays` for "ground_plane", and `up`, the
        floor's normal in the optical frame when it is measured (an IMU's gravity) rather than
        the settings' pitch and roll; `missing` says why the caller has no sparse depth, or no
        measured `up`, for this frame (e.g. none within the tolerance).
        `units`: the factor already in the prediction (the focal correction f/f_c,
        `DepthResult.focal_scale`). The filter's scale belongs to one value of it: when it
        changes (a camera_info arrived, or became unusable) the state is dropped, else the
        old scale would be applied to predictions in other units until the gate resets it."""
        s = self.settings
        if self._units is not None and not math.isclose(units, self._units, rel_tol=1e-6):
            self.filter.clear()
            self._reference = None
        self._units = units
        if s.source == "none":
            return self._fallback(prediction, OFF, None, None, None)
        fit = self._fit(prediction, sparse_depth, intrinsics, rays, missing, up)
        if fit.ok:
            if self.filter.stamp_s is not None and stamp_s - self.filter.stamp_s > s.max_age_s:
                # the held scale expired long ago (a parked robot, a sensor dropout): gating
                # this fit by it would ease in over seconds what the anchors say now
                self.filter.clear()
                self._reference = None
            event = self._filter_update(stamp_s, fit)
            return self._filtered(prediction, ANCHORED, fit, event, None, None)
        if self._fresh(stamp_s):
            return self._filtered(prediction, HELD, fit, None, fit.reason, fit.code)
        return self._fallback(prediction, None, fit, fit.reason, fit.code)

    def _fit(self, prediction, sparse_depth, intrinsics, rays, missing, up) -> ScaleFit:
        s = self.settings
        problem = s.problem()
        if problem is not None:
            code = "camera_height" if "camera_height" in problem else "settings"
            return ScaleFit(self.relative, reason=problem, code=code)
        if s.source == "ground_plane":
            if missing is not None:
                return ScaleFit(self.relative, reason=missing, code="no_gravity")
            plane = s.ground_plane() if up is None else GroundPlane(s.camera_height, tuple(up))
            return fit_ground_plane(prediction, plane, relative=self.relative,
                                    intrinsics=intrinsics, rays=rays, config=s.ground_config())
        if sparse_depth is None:
            return ScaleFit(self.relative, reason=missing or "no sparse depth for this frame",
                            code="no_sparse_depth")
        return fit_anchors(prediction, sparse_depth, relative=self.relative,
                           config=s.fit_config())

    def _fresh(self, stamp_s: float) -> bool:
        last = self.filter.stamp_s
        return last is not None and 0 <= stamp_s - last <= self.settings.max_age_s

    def _filter_update(self, stamp_s: float, fit: ScaleFit) -> str:
        """Feed the filter. A metric fit depth = scale·p + shift = scale·(p + offset) goes in as
        (its factor at a reference prediction, offset): a line and a plain scale fitted to the
        same frame then differ little in log space (their slopes can differ by ×1.7), so the
        gate judges the depth they give, and frames that switch between them blend smoothly.
        The reference lies inside the span of the latest line (its geometric middle, moved
        there, with the state re-expressed, when a line's span leaves it), where that line's
        factor is > 0. A blend that is not positive over the span it is applied on is replaced
        by this frame's fit (event "reset"): no pixel may lose its depth to an average."""
        if self.relative:
            return self.filter.update(stamp_s, fit.scale, fit.shift)
        cleared = False
        if fit.span is not None and not (self._reference is not None
                                         and fit.span[0] <= self._reference <= fit.span[1]):
            cleared = self._move_reference(math.sqrt(fit.span[0] * fit.span[1]))
        if fit.span is None:  # one scale: the same factor at any reference, no offset
            event = self.filter.update(stamp_s, fit.scale, 0.0)
        else:
            event = self.filter.update(stamp_s, fit.scale + fit.shift / self._reference,
                                       fit.shift / fit.scale, fit.span)
        if self._filtered_line() is None:
            self.filter.clear()
            self._filter_update(stamp_s, fit)
            return "reset"
        return "reset" if cleared else event

    def _move_reference(self, reference: float) -> bool:
        """Re-express the filter's line at another reference prediction (the line is kept);
        True when it gives no positive depth there, so the state was cleared."""
        line = self._filtered_line() if self.filter.log_scale is not None else None
        self._reference = reference
        if line is None or self.filter.shift == 0:
            return False
        scale, shift = line
        if scale + shift / reference > 0:
            self.filter.rebase(scale + shift / reference, self.filter.shift)
            return False
        self.filter.clear()
        return True

    def _filtered_line(self) -> tuple[float, float] | None:
        """(scale, shift) to apply, from the filter's state (see `_filter_update`), or None
        when a metric line would not give positive depth over the span it is applied on."""
        factor, offset = self.filter.scale, self.filter.shift
        if self.relative or offset == 0:
            return factor, offset
        if self._reference is None or not 1 + offset / self._reference > 0:
            return None
        scale = factor / (1 + offset / self._reference)
        span = self.filter.span
        if span is None or not all(scale + scale * offset / p > 0 for p in span):
            return None
        return scale, scale * offset

    def _filtered(self, prediction, state, fit, event, reason, code) -> Correction:
        scale, shift = self._filtered_line() or (self.filter.scale, 0.0)
        depth = apply_scale(prediction, self.relative, scale, shift, self.filter.span)
        factor = scale if self.relative or shift == 0 else applied_factor(prediction, depth)
        return Correction(depth, state, scale, shift, fit, event, reason, code, factor)

    def _fallback(self, prediction, state, fit, reason, code) -> Correction:
        if not self.relative:  # the model's own metres; what is not a depth is NaN, as anchored
            p = np.asarray(prediction, dtype=np.float32)
            with np.errstate(invalid="ignore"):
                depth = np.where(np.isfinite(p) & (p > 0), p, np.float32(np.nan))
            return Correction(depth, state or UNSCALED, 1.0, 0.0, fit, None, reason, code, 1.0)
        if self.fallback is not None:
            scale, shift = self.fallback
            return Correction(apply_scale(prediction, True, scale, shift), state or STATIC,
                              scale, shift, fit, None, reason, code, scale)
        return Correction(None, NO_METRES, math.nan, math.nan, fit, None, reason, code)
