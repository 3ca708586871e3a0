"""The synthetic camera's film: one scene, a smooth path through it, RGB + exact depth per frame.

Frames come from the training data engine (``depth_anything_ros.training.data``: the same renderer the shipped
model was trained and evaluated with), from a *test*-split scene so the demo shows a room the
model never saw. Everything is rendered before the measured run starts, so rendering never
competes with the node for the CPU while rates and latency are measured.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

SCENES = ("indoor", "outdoor")
# Walking pace indoors, a slow car outdoors (metres per second along the path).
SPEED_MPS = {"indoor": 0.4, "outdoor": 3.0}
# The middle of the synthetic default lenses (depth_anything_ros.training.data.synthetic
# HFOV_RANGE_DEG = 50..100°). Monocular metric depth reads too near with a narrower lens and too
# far with a wider one (REFERENCE.md §4); the shipped model is trained in canonical-focal space
# and the node rescales it by the camera_info's fx, so other lenses work too (models/README.md).
DEFAULT_HFOV_DEG = 75.0


@dataclass(frozen=True)
class DemoFrame:
    """One camera frame: RGB uint8 H×W×3, ground-truth depth float32 H×W (metres, NaN invalid),
    and pinhole intrinsics in pixels (no distortion)."""

    rgb: np.ndarray
    depth: np.ndarray
    fx: float
    fy: float
    cx: float
    cy: float

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])


def render_demo_frames(
    num_frames: int,
    width: int,
    height: int,
    *,
    rate_hz: float,
    scene: str = "indoor",
    scene_index: int = 0,
    hfov_deg: float = DEFAULT_HFOV_DEG,
    should_stop: Callable[[], bool] | None = None,
    workers: int | None = None,
) -> list[DemoFrame]:
    """``num_frames`` consecutive views along the scene's smooth camera path at ``rate_hz``.

    ``scene_index`` picks the scene of ``synthetic:<scene>:test`` (deterministic); the camera
    moves at ``SPEED_MPS[scene]``, so the motion looks the same at any frame rate. Rendering
    (about 0.1 s per 320×240 frame) is spread over ``workers`` processes (default: the CPU
    count, at most 4). ``should_stop`` is asked between chunks (Ctrl-C); the frames rendered so
    far, in order, are returned.
    """
    from depth_anything_ros.training.data.domains import make_scene
    from depth_anything_ros.training.data.scene import intrinsics_from_fov
    from depth_anything_ros.training.data.synthetic import camera_trajectory, frame_seed

    if scene not in SCENES:
        raise ValueError(f"unknown demo scene {scene!r}; use one of {', '.join(SCENES)}")
    if num_frames <= 0 or width <= 0 or height <= 0 or not rate_hz > 0:
        raise ValueError(f"need frames > 0, a positive size and rate, got {num_frames} frames "
                         f"of {width}x{height} at {rate_hz} Hz")
    seed = frame_seed("test", scene_index)
    world = make_scene(scene, seed)
    poses = camera_trajectory(world, num_frames, metres_per_frame=SPEED_MPS[scene] / rate_hz)
    intrinsics = tuple(float(v) for v in intrinsics_from_fov(width, height, hfov_deg))
    chunks = [poses[i:i + CHUNK] for i in range(0, len(poses), CHUNK)]
    job = (scene, seed, intrinsics, width, height)
    workers = min(workers or os.cpu_count() or 1, 4, len(chunks))
    stop = should_stop or (lambda: False)
    frames: list[DemoFrame] = []
    if workers <= 1 or not sys.platform.startswith("linux"):
        for chunk in chunks:
            frames += _render_chunk(job, chunk)
            if stop():
                break
        return frames
    # fork: no threads exist yet in the demo process, and the children need nothing re-imported.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                             initializer=_quiet_worker) as pool:
        futures = [pool.submit(_render_chunk, job, chunk) for chunk in chunks]
        for future in futures:  # in order, so a stop keeps a contiguous prefix of the path
            while not future.done():
                if stop():
                    pool.shutdown(wait=True, cancel_futures=True)
                    return frames
                time.sleep(0.05)
            frames += future.result()
    log.debug("rendered %d %s frames of %dx%d with %d processes", len(frames), scene, width,
              height, workers)
    return frames


# Frames per task: small enough to stop quickly on Ctrl-C, large enough to amortise the scene.
CHUNK = 8


def _quiet_worker() -> None:
    """Ctrl-C is the demo's to handle; SIGTERM stays fatal so the pool can always end workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _render_chunk(job: tuple, poses: list) -> list[DemoFrame]:
    from depth_anything_ros.training.data.domains import make_scene

    scene, seed, (fx, fy, cx, cy), width, height = job
    world = make_scene(scene, seed)  # deterministic and cheap (~20 ms): rebuilt per chunk
    frames = []
    for pose in poses:
        rgb, depth = world.render(pose, (fx, fy, cx, cy), width, height)
        frames.append(DemoFrame(rgb, depth, fx, fy, cx, cy))
    return frames
