"""The synthetic camera's film: one scene, a smooth path through it, RGB + exact depth per frame.

Frames come from the training data engine (``training.data``: the same renderer the shipped
model was trained and evaluated with), from a *test*-split scene so the demo shows a room the
model never saw. Everything is rendered before the measured run starts, so rendering never
competes with the node for the CPU while rates and latency are measured.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

SCENES = ("indoor", "outdoor")
# Walking pace indoors, a slow car outdoors (metres per second along the path).
SPEED_MPS = {"indoor": 0.4, "outdoor": 3.0}
DEFAULT_HFOV_DEG = 70.0


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
    scene_index: int = 3,
    hfov_deg: float = DEFAULT_HFOV_DEG,
    should_stop: Callable[[], bool] | None = None,
) -> list[DemoFrame]:
    """``num_frames`` consecutive views along the scene's smooth camera path at ``rate_hz``.

    ``scene_index`` picks the scene of ``synthetic:<scene>:test`` (deterministic); the camera
    moves at ``SPEED_MPS[scene]``, so the motion looks the same at any frame rate.
    ``should_stop`` is asked between frames (Ctrl-C); the frames rendered so far are returned.
    """
    from training.data.domains import make_scene
    from training.data.scene import intrinsics_from_fov
    from training.data.synthetic import camera_trajectory, frame_seed

    if scene not in SCENES:
        raise ValueError(f"unknown demo scene {scene!r}; use one of {', '.join(SCENES)}")
    if num_frames <= 0 or width <= 0 or height <= 0 or not rate_hz > 0:
        raise ValueError(f"need frames > 0, a positive size and rate, got {num_frames} frames "
                         f"of {width}x{height} at {rate_hz} Hz")
    world = make_scene(scene, frame_seed("test", scene_index))
    poses = camera_trajectory(world, num_frames, metres_per_frame=SPEED_MPS[scene] / rate_hz)
    fx, fy, cx, cy = (float(v) for v in intrinsics_from_fov(width, height, hfov_deg))
    frames = []
    for pose in poses:
        if should_stop is not None and should_stop() and frames:
            break
        rgb, depth = world.render(pose, (fx, fy, cx, cy), width, height)
        frames.append(DemoFrame(rgb, depth, fx, fy, cx, cy))
    log.debug("rendered %d %s frames of %dx%d", len(frames), scene, width, height)
    return frames
