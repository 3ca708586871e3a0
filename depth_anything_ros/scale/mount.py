"""Where the camera sits above the floor, from the robot's static transforms (tf's `/tf_static`).

A robot's URDF already says how high its camera is mounted and how it is tilted: the chain
`base_footprint → base_link → camera_link → camera_optical_frame` that robot_state_publisher
latches on `/tf_static`, and that `ros2 bag record` keeps. `base_footprint` lies on the floor,
z up (REP-120), so the camera's pose in it gives the ground plane directly: the optical
centre's z is `camera_height`, and the floor frame's z axis seen from the optical frame is the
floor's `up` (`GroundPlane`). Reading it from the bag means each robot of a fleet gets its own
mount without anyone measuring it.

tf2 is not needed: static transforms form a tree (one parent per child), and the pose of one
frame in another is the product along the path through their common ancestor. Only static
transforms are read: a mount that moves (a pan-tilt head) needs `/tf` at each frame's stamp.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["STATIC_ONLY", "CameraMount", "StaticTransforms", "quaternion_matrix"]

# ends "frame not found" errors: a chain recorded only on /tf is the usual cause
STATIC_ONLY = "; only static transforms are read (a frame published on /tf is not)"


def quaternion_matrix(x: float, y: float, z: float, w: float) -> np.ndarray:
    """3×3 rotation of a (x, y, z, w) quaternion (geometry_msgs order), normalised first: tf
    publishers round their quaternions. A zero or non-finite one is an error (ValueError)."""
    q = np.array([x, y, z, w], dtype=np.float64)
    norm = float(np.linalg.norm(q))
    if not (math.isfinite(norm) and norm > 1e-9):
        raise ValueError(f"rotation quaternion (x, y, z, w) = {tuple(q.tolist())}: not a rotation "
                         "(zero or not finite)")
    x, y, z, w = q / norm
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


@dataclass(frozen=True)
class CameraMount:
    """The camera's optical frame seen from a frame on the floor: `camera_height` (m, the
    optical centre above the floor) and `up`, the floor's upward normal in the optical frame."""

    floor_frame: str
    camera_frame: str
    camera_height: float
    up: tuple[float, float, float]

    def pitch_roll_deg(self) -> tuple[float, float]:
        """The node's camera_pitch_deg and camera_roll_deg for this mount (`GroundPlane.
        from_pitch_roll` gives `up` back)."""
        from depth_anything_ros.scale.gravity import pitch_roll_of_up

        pitch, roll = pitch_roll_of_up(self.up)
        if math.hypot(self.up[0], self.up[1]) < 1e-6:  # looking straight up or down: any roll
            roll = 0.0  # is a turn about the vertical, so 0 says the same
        return pitch, roll

    def describe(self) -> str:
        """One line a user can copy into the node's parameters for the same mount."""
        pitch, roll = (round(a, 1) + 0.0 for a in self.pitch_roll_deg())  # no "-0.0"
        return (f"{self.floor_frame} → {self.camera_frame}: camera_height {self.camera_height:.3f} "
                f"m, camera_pitch_deg {pitch:.1f}, camera_roll_deg {roll:.1f}")


class StaticTransforms:
    """A tree of static transforms (parent → child), as `/tf_static` messages carry them."""

    def __init__(self) -> None:
        self._parent: dict[str, tuple[str, np.ndarray]] = {}  # child → (parent, 4×4 parent←child)

    def add(self, parent: str, child: str, translation: Any, quaternion: Any) -> None:
        """One transform: `child`'s pose in `parent` (translation x, y, z in metres; rotation
        quaternion x, y, z, w). A later transform of the same child replaces the earlier one,
        as in tf. Leading slashes are dropped from frame names, as tf2 does."""
        parent, child = _frame(parent), _frame(child)
        if not parent or not child or parent == child:
            raise ValueError(f"transform {parent!r} → {child!r}: needs two different, non-empty "
                             "frame names")
        t = np.asarray(translation, dtype=np.float64).reshape(3)
        if not np.all(np.isfinite(t)):
            raise ValueError(f"transform {parent} → {child}: translation {t.tolist()} is not "
                             "finite")
        pose = np.eye(4)
        pose[:3, :3] = quaternion_matrix(*quaternion)
        pose[:3, 3] = t
        self._parent[child] = (parent, pose)

    @property
    def frames(self) -> list[str]:
        """Every frame named by a transform, sorted."""
        return sorted(set(self._parent) | {p for p, _ in self._parent.values()})

    def pose(self, target: str, source: str) -> np.ndarray:
        """4×4 pose of frame `source` in frame `target` (p_target = T · p_source). LookupError,
        naming the frames, when they are not connected."""
        target, source = _frame(target), _frame(source)
        up_from_source = dict(self._chain(source))
        up_from_target = dict(self._chain(target))
        common = next((f for f in up_from_source if f in up_from_target), None)  # nearest
        if common is None:
            known = ", ".join(self.frames) or "none"
            missing = [f for f in (target, source) if f not in self.frames]
            why = (f"{' and '.join(repr(f) for f in missing)} not in any transform"
                   if missing else "they are in separate trees")
            raise LookupError(f"no chain of static transforms from {target!r} to {source!r}: "
                              f"{why} (frames: {known}){STATIC_ONLY}")
        return np.linalg.inv(up_from_target[common]) @ up_from_source[common]

    def _chain(self, frame: str) -> list[tuple[str, np.ndarray]]:
        """(ancestor, pose of `frame` in it) from `frame` itself up to its tree's root."""
        out = [(frame, np.eye(4))]
        while out[-1][0] in self._parent:
            parent, pose = self._parent[out[-1][0]]
            if any(f == parent for f, _ in out):
                raise LookupError(f"static transforms form a loop through {parent!r}")
            out.append((parent, pose @ out[-1][1]))
        return out

    def not_optical(self, camera_frame: str) -> str | None:
        """Why `camera_frame` looks like a camera's body frame rather than its optical frame
        (a child of it is named *optical*: the image's frame_id should have been that one,
        REP-103), or None. A body frame (x forward, z up) read as optical gives a mount turned
        by 90°."""
        camera_frame = _frame(camera_frame)
        if "optical" in camera_frame:
            return None
        optical = sorted(c for c, (p, _) in self._parent.items()
                         if p == camera_frame and "optical" in c)
        if not optical:
            return None
        return (f"{camera_frame!r} is not an optical frame (x right, y down, z forward: "
                f"REP-103) but has the optical child {optical[0]!r}: the mount read for it is "
                "turned; the images' frame_id is probably wrong (pass the optical frame)")

    def not_on_floor(self, floor_frame: str) -> str | None:
        """Why `floor_frame` may not lie on the floor (it has a parent among the static
        transforms, as base_link has base_footprint: REP-120's floor frame is the root of the
        robot's tree), or None."""
        parent = self._parent.get(_frame(floor_frame))
        if parent is None:
            return None
        return (f"{_frame(floor_frame)!r} hangs from {parent[0]!r} in the static transforms, "
                f"{parent[1][2, 3]:+.3f} m from it along its z: the floor frame is usually the "
                "root (base_footprint, REP-120); the height read is above "
                f"{_frame(floor_frame)!r}, not the floor")

    def warnings(self, floor_frame: str, camera_frame: str) -> list[str]:
        """What looks wrong about the two frames a mount is read between (`not_optical`,
        `not_on_floor`); said, not refused."""
        return [hint for hint in (self.not_optical(camera_frame), self.not_on_floor(floor_frame))
                if hint]

    def camera_mount(self, floor_frame: str, camera_frame: str) -> CameraMount:
        """The optical frame `camera_frame` seen from `floor_frame` (z up, z = 0 on the floor,
        e.g. base_footprint). LookupError when they are not connected or the camera is not
        above the floor."""
        pose = self.pose(floor_frame, camera_frame)
        height = float(pose[2, 3])
        if not height > 0:
            raise LookupError(f"the static transforms put {camera_frame!r} {height:.3f} m above "
                              f"{floor_frame!r}: the floor frame must lie on the floor, z up, "
                              "below the camera (REP-120's base_footprint)")
        up = pose[:3, :3].T @ np.array([0.0, 0.0, 1.0])  # the floor's z in the optical frame
        return CameraMount(_frame(floor_frame), _frame(camera_frame), height,
                           tuple(float(v) for v in up))


def _frame(name: str) -> str:
    return str(name).lstrip("/")
