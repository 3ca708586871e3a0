"""The measurement: bare-estimator phases, node phases counted inside their own window, and
draining between them."""
from __future__ import annotations

import time


def bare_phase(estimator, frames, seconds: float) -> tuple[int, float, float]:
    """(frames finished, elapsed, CPU seconds) of back-to-back predicts for about `seconds`."""
    done, start, cpu = 0, time.monotonic(), time.process_time()
    while time.monotonic() - start < seconds or done == 0:
        estimator.predict(frames[done % len(frames)])
        done += 1
    return done, time.monotonic() - start, time.process_time() - cpu


def node_phase(system, rate: float, settle: float, seconds: float) -> dict:
    """Frames completed with arrival inside [open, open + seconds] while the camera runs."""
    before = system.published
    system.start(rate)
    time.sleep(settle)
    cpu = getattr(system, "cpu_seconds", dict)()
    opened = time.monotonic()
    time.sleep(seconds)
    closed = time.monotonic()
    cpu = {k: v - cpu[k] for k, v in getattr(system, "cpu_seconds", dict)().items()}
    published = system.pause() - before
    time.sleep(0.5)  # frames in flight finish outside the window (not counted)
    inside = [(t, lat) for t, lat in list(system.completed) if opened <= t <= closed]
    return {"done": len(inside), "window": closed - opened, "published": published,
            "latencies": [lat for _, lat in inside], "cpu": cpu}


def drain(system, quiet_s: float = 1.0, timeout: float = 30.0) -> None:
    """Wait until no output has arrived for `quiet_s` (the node finished its last frame)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = system.completed[-1][0] if system.completed else 0.0
        if time.monotonic() - last > quiet_s:
            return
        time.sleep(0.1)
