"""Synthetic frames: random cameras in random scenes, moving cameras through one scene.

A *frame* is addressed by (domain, split, index). Its scene seed is ``SPLIT_OFFSETS[split] +
index``, so train and test use disjoint seeds for any index below ``SPLIT_STRIDE``; the camera is
drawn from a generator seeded by the same seed, so a frame is fully deterministic.
This module needs only numpy and cv2 (no torch), so generator processes start quickly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depth_anything_ros.training.data.cache import frame_dtype
from depth_anything_ros.training.data.domains import make_scene
from depth_anything_ros.training.data.scene import CameraPose, Scene, intrinsics_from_fov

GENERATOR_VERSION = 3  # bump when scenes, rendering or the record change: old caches are ignored

SPLITS = ("train", "test")
SPLIT_STRIDE = 1_000_000_000
SPLIT_OFFSETS = {"train": 0, "test": SPLIT_STRIDE}
HFOV_RANGE_DEG = (50.0, 100.0)
# Camera pitch drawn per domain, degrees above the horizon (negative looks down).
PITCH_RANGE_DEG = {"indoor": (-30.0, 15.0), "outdoor": (-15.0, 8.0)}


@dataclass(frozen=True)
class SyntheticFrame:
    """One rendered view: RGB uint8 (H, W, 3), planar depth float32 (NaN invalid), intrinsics
    (fx, fy, cx, cy) float32, the camera pose and the scene seed it came from."""

    rgb: np.ndarray
    depth: np.ndarray
    intrinsics: np.ndarray
    pose: CameraPose
    seed: int

    @property
    def camera_height(self) -> float:
        """Height of the optical centre above the floor / ground (world z = 0), metres."""
        return float(self.pose.position[2])


def hfov_range(hfov: float | tuple[float, float] | None) -> tuple[float, float]:
    """(lo, hi) degrees from one FOV, a range, or None (the default ``HFOV_RANGE_DEG``)."""
    if hfov is None:
        return HFOV_RANGE_DEG
    lo, hi = (hfov, hfov) if np.isscalar(hfov) else tuple(hfov)
    lo, hi = float(lo), float(hi)
    if not (1.0 <= lo <= hi <= 179.0):
        raise ValueError(
            f"horizontal field of view must be within 1..179 degrees with lo <= hi, "
            f"got {lo:g}-{hi:g}"
        )
    return lo, hi


def pitch_range(domain: str, pitch: float | tuple[float, float] | None) -> tuple[float, float]:
    """(lo, hi) degrees above the horizon (negative looks down) from one pitch, a range, or None
    (the domain's default, ``PITCH_RANGE_DEG``)."""
    return PITCH_RANGE_DEG[domain] if pitch is None else pitch_bounds(pitch)


def pitch_bounds(pitch: float | tuple[float, float]) -> tuple[float, float]:
    """(lo, hi) degrees from one pitch or a range; checked: within -89..89 and lo ≤ hi."""
    lo, hi = (pitch, pitch) if np.isscalar(pitch) else tuple(pitch)
    lo, hi = float(lo), float(hi)
    if not (-89.0 <= lo <= hi <= 89.0):
        raise ValueError(
            f"camera pitch must be within -89..89 degrees with lo <= hi, got {lo:g}:{hi:g}"
        )
    return lo, hi


def frame_seed(split: str, index: int) -> int:
    """Scene seed of frame ``index`` of ``split``; train and test seeds never overlap."""
    if split not in SPLIT_OFFSETS:
        raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    if not 0 <= index < SPLIT_STRIDE:
        raise IndexError(f"frame index {index} outside 0..{SPLIT_STRIDE - 1}")
    return SPLIT_OFFSETS[split] + int(index)


def sample_camera(
    scene: Scene, rng: np.random.Generator, hfov: tuple[float, float] = HFOV_RANGE_DEG,
    pitch: float | tuple[float, float] | None = None,
) -> tuple[CameraPose, float]:
    """A random pose in the scene's free region and a horizontal field of view (degrees),
    uniform in ``hfov`` (lo, hi). The FOV is the last draw, so frames that differ only in
    ``hfov`` share scene and pose: a FOV sweep over the same views.

    Random height within ``scene.camera_height`` and pitch uniform in ``pitch`` (degrees, negative
    looks down; default ``PITCH_RANGE_DEG``: indoor −30…+15°, outdoor −15…+8°); the pitch is one
    draw whatever its range, so frames that differ only in ``pitch`` share scene and position.
    Outdoor cameras mostly look along the road (±40°), sometimes anywhere.
    """
    pitch_lo, pitch_hi = pitch_range(scene.domain, pitch)
    x0, x1, y0, y1 = scene.free_region
    if scene.domain == "outdoor":
        x0, x1 = -20.0, 20.0
        yaw = rng.uniform(-0.7, 0.7) + (np.pi if rng.random() < 0.5 else 0.0)
        if rng.random() < 0.25:
            yaw = rng.uniform(-np.pi, np.pi)
    else:
        yaw = rng.uniform(-np.pi, np.pi)
    tilt = np.radians(rng.uniform(pitch_lo, pitch_hi))
    position = (rng.uniform(x0, x1), rng.uniform(y0, y1), rng.uniform(*scene.camera_height))
    roll = np.radians(rng.normal(0.0, 2.0))
    return CameraPose.from_yaw_pitch(position, yaw, tilt, roll), float(rng.uniform(*hfov))


def render_frame(
    domain: str, split: str, index: int, width: int = 256, height: int = 256,
    hfov: float | tuple[float, float] | None = None,
    pitch: float | tuple[float, float] | None = None,
) -> SyntheticFrame:
    """Frame ``index`` of ``synthetic:<domain>:<split>`` at ``width``×``height``; deterministic.

    ``hfov``: horizontal field of view in degrees, fixed or a (lo, hi) range (default 50–100).
    ``pitch``: camera pitch in degrees, fixed or a (lo, hi) range (default per domain).
    """
    seed = frame_seed(split, index)
    scene = make_scene(domain, seed)
    pose, hfov = sample_camera(scene, np.random.default_rng([seed, 7]), hfov_range(hfov), pitch)
    intrinsics = intrinsics_from_fov(width, height, hfov)
    rgb, depth = scene.render(pose, intrinsics, width, height)
    return SyntheticFrame(rgb, depth, intrinsics.astype(np.float32), pose, seed)


def camera_trajectory(
    scene: Scene, num_frames: int, *, metres_per_frame: float | None = None, start: float = 0.0
) -> list[CameraPose]:
    """A smooth camera path through ``scene`` for moving-camera demos (same scene, many poses).

    Indoor: an ellipse inside the room's free region, heading along the motion with a gentle
    look-around. Outdoor: straight along the road (+x) with a slow sway. Height and pitch
    oscillate slightly. ``metres_per_frame`` sets the speed (default 0.03 indoor, 0.15 outdoor);
    ``start`` offsets the path (metres travelled) so consecutive calls can continue it.
    """
    if num_frames <= 0:
        raise ValueError(f"num_frames must be positive, got {num_frames}")
    x0, x1, y0, y1 = scene.free_region
    z_mid = 0.5 * sum(scene.camera_height)
    poses = []
    if scene.domain == "outdoor":
        step = 0.15 if metres_per_frame is None else metres_per_frame
        for k in range(num_frames):
            s = start + k * step
            x = -0.5 * num_frames * step + s - start
            y = 0.4 * (y1 - 0.5) * np.sin(s / 7.0)
            yaw = 0.15 * np.sin(s / 11.0)
            poses.append(
                CameraPose.from_yaw_pitch(
                    (x, y, z_mid), yaw, np.radians(-4.0) + 0.03 * np.sin(s / 5.0)
                )
            )
        return poses
    step = 0.03 if metres_per_frame is None else metres_per_frame
    ax, ay = 0.8 * (x1 - x0) / 2, 0.8 * (y1 - y0) / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    perimeter = np.pi * (3 * (ax + ay) - np.sqrt((3 * ax + ay) * (ax + 3 * ay)))  # Ramanujan
    for k in range(num_frames):
        s = start + k * step
        theta = 2 * np.pi * s / perimeter
        x, y = cx + ax * np.cos(theta), cy + ay * np.sin(theta)
        heading = np.arctan2(ay * np.cos(theta), -ax * np.sin(theta)) + 0.35 * np.sin(s / 0.9)
        z = z_mid + 0.05 * np.sin(s / 0.7)
        poses.append(
            CameraPose.from_yaw_pitch((x, y, z), heading, np.radians(-8.0) + 0.06 * np.sin(s / 1.3))
        )
    return poses


def render_shard(
    domain: str, split: str, start: int, count: int, width: int, height: int,
    hfov: tuple[float, float] | None = None, pitch: tuple[float, float] | None = None,
) -> np.ndarray:
    """Frames ``start .. start+count-1`` as one structured array (the cache record layout)."""
    records = np.zeros(count, dtype=frame_dtype(width, height))
    for offset in range(count):
        frame = render_frame(domain, split, start + offset, width, height, hfov, pitch)
        records[offset] = (
            frame.rgb, frame.depth, frame.intrinsics, frame.seed, frame.camera_height
        )
    return records
