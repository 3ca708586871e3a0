"""Temporal smoothing of the per-frame scale, in log space, with outlier clipping and resets.

A metric model's scale error is a property of the model and the camera, so it should hardly
change from frame to frame; per-frame fits jitter with what the anchors happen to see. The
filter is an exponential average of log(scale) with a time constant in seconds (so it behaves
the same at 5 Hz and 60 Hz): gain = 1 − exp(−dt/τ). A measurement more than `gate` (in log
units) from the state is an outlier: its pull is clipped to ±gate, so one wrong fit moves the
scale by at most gain·gate (bounded influence; on real frames this tracked a drifting scale
better than ignoring outliers outright). `reset_frames` consecutive outliers that agree with
each other (within `gate` of their median) are a real change (another room, a new camera
height) and the state jumps there. Time running backwards (a bag restarted, sim time reset)
restarts the filter.

Relative models, and metric "scale_shift" lines, carry a shift too; it is averaged with the same
gain and clipped in the same proportion (the gate looks at the scale: for a metric line the
corrector feeds its factor at a reference prediction, see `ScaleCorrector._filter_update`). A
metric line also carries the span of predictions it was fitted on; the latest one is kept.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["DEFAULT_TIME_CONSTANT_S", "FilterConfig", "ScaleFilter"]

# The default smoothing, chosen on real frames: on the TUM fr1_rpy held-out tail with the shipped
# model and a 3-line sparse sensor (bench/metric_scale.py --sections tum), τ = 0.3 s kept both the
# applied scale's jitter (0.042) and the output's residual scale jitter (0.043) under 0.05 with
# the best abs_rel (0.147); 1 s steadied the factor more (0.021) but let the output's scale lag
# the model's (0.056). A lidar on a model with a steady scale may want longer (parameter).
DEFAULT_TIME_CONSTANT_S = 0.3


@dataclass(frozen=True)
class FilterConfig:
    time_constant_s: float = DEFAULT_TIME_CONSTANT_S  # 0 = no smoothing (each fit used as is)
    gate: float = 0.25  # log units: ≈ ±28 % from the state is an outlier (pull clipped)
    reset_frames: int = 5  # consecutive agreeing outliers that mean a real change

    def problem(self) -> str | None:
        if not (math.isfinite(self.time_constant_s) and self.time_constant_s >= 0):
            return f"smoothing time constant {self.time_constant_s} s: must be ≥ 0"
        if not (math.isfinite(self.gate) and self.gate > 0):
            return f"gate {self.gate}: must be > 0"
        if self.reset_frames < 1:
            return f"reset_frames {self.reset_frames}: must be ≥ 1"
        return None


class ScaleFilter:
    """State: log(scale), shift and the stamp of the last update (None before the first)."""

    def __init__(self, config: FilterConfig = FilterConfig()) -> None:
        self.config = config
        self.clear()

    def clear(self) -> None:
        self.log_scale: float | None = None
        self.shift = 0.0
        self.span: tuple[float, float] | None = None
        self.stamp_s: float | None = None
        self._outliers: list[tuple[float, float]] = []

    @property
    def scale(self) -> float:
        return math.nan if self.log_scale is None else math.exp(self.log_scale)

    def update(self, stamp_s: float, scale: float, shift: float = 0.0,
               span: tuple[float, float] | None = None) -> str:
        """Feed one accepted per-frame fit; returns what happened: "first", "accepted",
        "clipped" (an outlier, its pull limited to the gate), "reset" (a sustained change) or
        "restarted" (time went backwards)."""
        if not (scale > 0 and math.isfinite(scale)):
            raise ValueError(f"scale {scale}: must be finite and > 0")
        if not math.isfinite(stamp_s):  # NaN would make the state NaN for good
            raise ValueError(f"stamp {stamp_s} s: must be finite")
        if not math.isfinite(shift):  # the same, for the shift
            raise ValueError(f"shift {shift}: must be finite")
        if span is not None:
            self.span = span
        value = math.log(scale)
        if self.log_scale is None or (self.stamp_s is not None and stamp_s < self.stamp_s):
            event = "first" if self.log_scale is None else "restarted"
            self._set(stamp_s, value, shift)
            return event
        pull, shift_pull, event = value - self.log_scale, shift - self.shift, "accepted"
        if abs(pull) > self.config.gate:
            if self._sustained(stamp_s, value, shift):
                return "reset"
            ratio = self.config.gate / abs(pull)
            pull, shift_pull, event = pull * ratio, shift_pull * ratio, "clipped"
        else:
            self._outliers.clear()
        tau = self.config.time_constant_s
        gain = 1.0 if tau <= 0 else 1.0 - math.exp(-max(stamp_s - self.stamp_s, 0.0) / tau)
        self.log_scale += gain * pull
        self.shift += gain * shift_pull
        self.stamp_s = stamp_s
        return event

    def rebase(self, scale: float, shift: float) -> None:
        """Replace the state's values, keeping its stamp: the same state in other units (the
        corrector moving a metric line's reference prediction). Pending outliers, in the old
        units, are dropped."""
        if not (scale > 0 and math.isfinite(scale)):
            raise ValueError(f"scale {scale}: must be finite and > 0")
        self.log_scale, self.shift = math.log(scale), shift
        self._outliers.clear()

    def _set(self, stamp_s: float, value: float, shift: float) -> None:
        self.log_scale, self.shift, self.stamp_s = value, shift, stamp_s
        self._outliers.clear()

    def _sustained(self, stamp_s: float, value: float, shift: float) -> bool:
        """Record an outlier; True (and the state reset) when the last `reset_frames` outliers
        in a row agree with each other."""
        self._outliers.append((value, shift))
        del self._outliers[:-self.config.reset_frames]  # only the last ones can ever count
        recent = self._outliers
        if len(recent) < self.config.reset_frames:
            return False
        values = np.array([v for v, _ in recent])
        centre = float(np.median(values))
        if not np.all(np.abs(values - centre) <= self.config.gate):
            return False
        self._set(stamp_s, centre, float(np.median([s for _, s in recent])))
        return True
