"""Throughput, drops and latency of the node, reported as diagnostic_msgs/DiagnosticStatus."""
from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue


class RateMeter:
    """Events per second over a sliding window of the last `window_s` seconds."""

    def __init__(self, window_s: float = 5.0) -> None:
        self._window_s = window_s
        self._times: deque[float] = deque()

    def tick(self, now: float | None = None) -> None:
        self._times.append(time.monotonic() if now is None else now)

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        while self._times and self._times[0] < now - self._window_s:
            self._times.popleft()
        if len(self._times) < 2:
            return 0.0
        # (n-1) intervals since the oldest event in the window: decays to 0 once events stop.
        return (len(self._times) - 1) / max(now - self._times[0], 1e-9)


class NodeStats:
    """Counters the executor thread and the worker update; read by the diagnostics timer."""

    def __init__(self, window: int = 200) -> None:
        self._lock = threading.Lock()
        self._input = RateMeter()
        self._output = RateMeter()
        self._latencies: deque[float] = deque(maxlen=window)
        self._model_times: deque[float] = deque(maxlen=window)
        self.published = 0
        self.rejected = 0
        self.skipped_lazy = 0

    def frame_in(self) -> None:
        with self._lock:
            self._input.tick()

    def frame_out(self, latency_s: float | None, model_time_s: float) -> None:
        """`latency_s`: stamp → publication, None when the frame's stamp says nothing (zero)."""
        with self._lock:
            self._output.tick()
            if latency_s is not None:
                self._latencies.append(latency_s)
            self._model_times.append(model_time_s)
            self.published += 1

    def frame_rejected(self) -> None:
        with self._lock:
            self.rejected += 1

    def frame_skipped_lazy(self) -> None:
        with self._lock:
            self.skipped_lazy += 1

    def summary(self) -> dict[str, float]:
        with self._lock:
            lat = np.array(self._latencies) if self._latencies else np.array([np.nan])
            model = np.array(self._model_times) if self._model_times else np.array([np.nan])
            return {
                "input_rate_hz": self._input.rate(),
                "output_rate_hz": self._output.rate(),
                "frames_published": self.published,
                "frames_rejected": self.rejected,
                "frames_skipped_no_subscribers": self.skipped_lazy,
                "latency_p50_ms": float(np.percentile(lat, 50) * 1e3),
                "latency_p95_ms": float(np.percentile(lat, 95) * 1e3),
                "model_time_ms": float(np.median(model) * 1e3),
            }


def diagnostic_status(name: str, hardware_id: str, summary: dict[str, float], dropped: int,
                      received: int, extra: dict[str, str], *, idle: bool = False,
                      assumed_intrinsics: bool = False,
                      uncorrected_focal: bool = False) -> DiagnosticStatus:
    """One DiagnosticStatus: OK while frames flow or the lazy node is idle (`idle`: nobody
    subscribes), WARN when images arrive but no depth leaves, when the cloud's intrinsics
    are assumed (`fallback_hfov_deg`) rather than calibrated, or when a canonical-focal model's
    depth lacks its focal correction (no usable focal length)."""
    values = dict(summary, frames_received=received, frames_dropped=dropped)
    if summary["input_rate_hz"] == 0.0:
        level, message = DiagnosticStatus.OK, "waiting for images"
    elif idle:
        level, message = DiagnosticStatus.OK, "idle: no subscriber on any output (lazy)"
    elif summary["output_rate_hz"] == 0.0:
        level, message = DiagnosticStatus.WARN, "images arrive but no depth is published"
    else:
        level, message = DiagnosticStatus.OK, "publishing depth"
    if assumed_intrinsics and level == DiagnosticStatus.OK:
        level, message = DiagnosticStatus.WARN, message + "; intrinsics assumed (no calibration)"
    if uncorrected_focal:  # the last frame processed lacked it
        level = DiagnosticStatus.WARN
        message += "; depth not focal-corrected (no usable camera_info: scale may be off)"
    pairs = [KeyValue(key=k, value=(f"{v:.3f}" if isinstance(v, float) else str(v)))
             for k, v in values.items()]
    pairs += [KeyValue(key=k, value=v) for k, v in extra.items()]
    return DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id,
                            values=pairs)
