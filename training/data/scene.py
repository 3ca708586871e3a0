"""A fixed 3-D scene you can render from any camera pose: RGB + exact metric depth.

Frames (documented in docs/interfaces.md):

* **World**: right handed, x and y horizontal, z up; the floor / ground is z = 0.
* **Camera**: the REP-103 optical frame, z forward, x right, y down. A :class:`CameraPose`
  holds ``rotation`` (3×3, world_from_optical: its columns are the optical x, y, z axes in world
  coordinates) and ``position`` (the optical centre in the world, metres).
* **Pixels**: (u, v) with pixel centres at integers; a point (X, Y, Z) in the optical frame
  projects to u = fx·X/Z + cx, v = fy·Y/Z + cy (as depth_image_proc un-projects).

Depth is planar (metres along optical z, REP-118): because each ray direction is built with
optical-z component 1, the ray parameter of a hit *is* its depth. Misses (sky) and hits beyond
``max_depth`` are NaN (REP-117).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from depth_anything_ros.training.data.primitives import EPS, Primitive
from depth_anything_ros.training.data.textures import albedo, fbm

IntrinsicsLike = Any  # (fx, fy, cx, cy) sequence/array, or an object with fx, fy, cx, cy


def intrinsics_array(intrinsics: IntrinsicsLike) -> np.ndarray:
    """(fx, fy, cx, cy) as float64 from a sequence or anything with those attributes."""
    if hasattr(intrinsics, "fx"):
        values = [intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy]
    else:
        values = list(np.asarray(intrinsics, dtype=np.float64).reshape(-1))
    if len(values) != 4 or not all(np.isfinite(values)) or values[0] <= 0 or values[1] <= 0:
        raise ValueError(
            f"intrinsics must be finite (fx, fy, cx, cy) with fx, fy > 0, got {values}"
        )
    return np.asarray(values, dtype=np.float64)


def intrinsics_from_fov(width: int, height: int, hfov_deg: float) -> np.ndarray:
    """Square-pixel pinhole intrinsics (fx, fy, cx, cy) with the given horizontal field of view."""
    if not 1.0 <= hfov_deg <= 179.0:
        raise ValueError(f"horizontal field of view must be within 1..179 degrees, got {hfov_deg}")
    f = 0.5 * width / np.tan(np.radians(hfov_deg) / 2.0)
    return np.array([f, f, (width - 1) / 2.0, (height - 1) / 2.0])


def _pixel_window(
    corners: np.ndarray | None,
    rotation: np.ndarray,
    origin: np.ndarray,
    k: tuple,
    width: int,
    height: int,
) -> tuple[int, int, int, int] | None:
    """Rows v0:v1 and columns u0:u1 whose rays can hit a shape inside ``corners``; None when it
    is off-screen or behind the camera. A convex shape in front of the camera projects inside
    the box of its projected corners, so far, small objects cost a few pixels, not a frame."""
    if corners is None:
        return 0, height, 0, width
    camera = (corners - origin) @ rotation
    z = camera[:, 2]
    if (z <= EPS).all():
        return None  # every hit needs depth > EPS
    if (z <= EPS).any():
        return 0, height, 0, width  # straddles the camera plane: no finite projection
    fx, fy, cx, cy = k
    u, v = fx * camera[:, 0] / z + cx, fy * camera[:, 1] / z + cy
    u0, u1 = max(0, int(np.floor(u.min()))), min(width, int(np.ceil(u.max())) + 1)
    v0, v1 = max(0, int(np.floor(v.min()))), min(height, int(np.ceil(v.max())) + 1)
    if u0 >= u1 or v0 >= v1:
        return None
    return v0, v1, u0, u1


@dataclass(frozen=True)
class CameraPose:
    """Where the camera is: world_from_optical rotation (3×3) and optical centre (3,)."""

    rotation: np.ndarray
    position: np.ndarray

    @staticmethod
    def from_yaw_pitch(
        position: Sequence[float], yaw: float, pitch: float, roll: float = 0.0
    ) -> "CameraPose":
        """Camera at ``position`` looking along heading ``yaw`` (rad, about world z, 0 = +x),
        tilted up by ``pitch`` (rad, negative looks down), rolled by ``roll`` about the view axis.
        """
        forward = np.array(
            [np.cos(yaw) * np.cos(pitch), np.sin(yaw) * np.cos(pitch), np.sin(pitch)]
        )
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        if roll:
            c, s = np.cos(roll), np.sin(roll)
            right, down = c * right + s * down, -s * right + c * down
        return CameraPose(np.stack([right, down, forward], axis=1), np.asarray(position, float))

    @staticmethod
    def look_at(position: Sequence[float], target: Sequence[float]) -> "CameraPose":
        """Camera at ``position`` looking at ``target``, no roll (target not straight up/down)."""
        delta = np.asarray(target, float) - np.asarray(position, float)
        yaw = float(np.arctan2(delta[1], delta[0]))
        pitch = float(np.arctan2(delta[2], np.hypot(delta[0], delta[1])))
        return CameraPose.from_yaw_pitch(position, yaw, pitch)

    def matrix(self) -> np.ndarray:
        """4×4 homogeneous world_from_optical transform."""
        m = np.eye(4)
        m[:3, :3], m[:3, 3] = self.rotation, self.position
        return m


@dataclass(frozen=True)
class DirectionalLight:
    """A light at infinity (the sun): ``direction`` points from surfaces towards the light."""

    direction: tuple[float, float, float]
    colour: tuple[float, float, float]


@dataclass(frozen=True)
class PointLight:
    """A lamp with smooth falloff 1 / (1 + (d / reach)²)."""

    position: tuple[float, float, float]
    colour: tuple[float, float, float]
    reach: float = 4.0


@dataclass(frozen=True)
class Sky:
    """Colour of rays that hit nothing: a zenith–horizon gradient with soft clouds."""

    zenith: tuple[float, float, float]
    horizon: tuple[float, float, float]
    cloudiness: float = 0.3
    seed: int = 0


@dataclass
class Scene:
    """Primitives, lights and atmosphere; :meth:`render` gives RGB + planar depth for a pose.

    ``free_region`` (x_min, x_max, y_min, y_max) is floor space kept clear of objects, where a
    camera can move; ``camera_height`` (min, max) is the sensible range of camera heights.
    """

    domain: str
    seed: int
    primitives: list[Primitive]
    ambient: tuple[float, float, float]
    lights: list[DirectionalLight | PointLight] = field(default_factory=list)
    sky: Sky | None = None
    fog_colour: tuple[float, float, float] = (0.7, 0.75, 0.8)
    fog_distance: float = float("inf")
    max_depth: float = float("inf")
    free_region: tuple[float, float, float, float] = (-1.0, 1.0, -1.0, 1.0)
    camera_height: tuple[float, float] = (1.0, 1.5)

    def render(
        self, pose: CameraPose, intrinsics: IntrinsicsLike, width: int, height: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """RGB uint8 (H, W, 3) and planar depth float32 (H, W) in metres, NaN where invalid."""
        if width <= 0 or height <= 0:
            raise ValueError(f"image size must be positive, got {width}x{height} (WxH)")
        fx, fy, cx, cy = intrinsics_array(intrinsics)
        u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
        rays_optical = np.stack([(u - cx) / fx, (v - cy) / fy, np.ones_like(u)], axis=-1)
        rotation = np.asarray(pose.rotation, dtype=np.float64)
        grid = rays_optical @ rotation.T  # (H, W, 3) world directions
        origin = np.asarray(pose.position, dtype=np.float64)

        nearest = np.full((height, width), np.inf)
        owner = np.full((height, width), -1, dtype=np.int32)
        for index, primitive in enumerate(self.primitives):
            window = _pixel_window(
                primitive.bounds(), rotation, origin, (fx, fy, cx, cy), width, height
            )
            if window is None:
                continue
            v0, v1, u0, u1 = window
            t = primitive.intersect(origin, grid[v0:v1, u0:u1].reshape(-1, 3)).reshape(
                v1 - v0, u1 - u0
            )
            block, block_owner = nearest[v0:v1, u0:u1], owner[v0:v1, u0:u1]  # views
            closer = t < block
            block[closer] = t[closer]
            block_owner[closer] = index

        dirs, nearest, owner = grid.reshape(-1, 3), nearest.reshape(-1), owner.reshape(-1)
        colour = self._sky_colour(dirs)
        order = np.argsort(owner, kind="stable")  # pixels grouped by the primitive they see
        starts = np.searchsorted(owner[order], np.arange(len(self.primitives) + 1))
        for index, primitive in enumerate(self.primitives):
            mine = order[starts[index] : starts[index + 1]]
            if mine.size:
                colour[mine] = self._shade(primitive, origin, dirs[mine], nearest[mine])
        hit = owner >= 0
        if np.isfinite(self.fog_distance):
            distance = nearest[hit] * np.linalg.norm(dirs[hit], axis=1)
            haze = (1.0 - np.exp(-distance / self.fog_distance))[:, None]
            colour[hit] = colour[hit] * (1.0 - haze) + np.asarray(self.fog_colour) * haze

        depth = np.where(hit & (nearest <= self.max_depth), nearest, np.nan)
        rgb = np.clip(colour * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return rgb.reshape(height, width, 3), depth.astype(np.float32).reshape(height, width)

    def _shade(
        self, primitive: Primitive, origin: np.ndarray, dirs: np.ndarray, t: np.ndarray
    ) -> np.ndarray:
        """Lambertian shading: albedo × (ambient + Σ lights · max(0, n·l)), two-sided normals."""
        points = origin + dirs * t[:, None]
        normals, uv = primitive.surface(points)
        facing = np.einsum("ij,ij->i", normals, dirs) > 0
        normals = np.where(facing[:, None], -normals, normals)
        light = np.broadcast_to(np.asarray(self.ambient, dtype=np.float64), points.shape).copy()
        for lamp in self.lights:
            if isinstance(lamp, DirectionalLight):
                to_light = np.asarray(lamp.direction, float)
                to_light = to_light / np.linalg.norm(to_light)
                lambert = np.clip(normals @ to_light, 0.0, None)
            else:
                offset = np.asarray(lamp.position, float) - points
                dist = np.linalg.norm(offset, axis=1)
                lambert = np.clip(
                    np.einsum("ij,ij->i", normals, offset) / np.maximum(dist, 1e-9), 0, None
                )
                lambert = lambert / (1.0 + (dist / lamp.reach) ** 2)
            light += lambert[:, None] * np.asarray(lamp.colour, float)
        return albedo(primitive.material, uv) * light

    def _sky_colour(self, dirs: np.ndarray) -> np.ndarray:
        if self.sky is None:  # closed rooms: every ray hits something; black marks a bug
            return np.zeros_like(dirs)
        unit = dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
        elevation = np.clip(unit[:, 2], 0.0, 1.0)
        w = np.sqrt(elevation)[:, None]
        colour = np.asarray(self.sky.horizon) * (1 - w) + np.asarray(self.sky.zenith) * w
        if self.sky.cloudiness > 0:  # clouds on a plane 1 unit up, fading towards the horizon
            lift = np.maximum(unit[:, 2], 0.05)
            clouds = fbm(unit[:, 0] / lift * 1.5, unit[:, 1] / lift * 1.5, self.sky.seed, 3)
            amount = np.clip((clouds - (1 - self.sky.cloudiness)) * 3, 0, 1) * np.clip(
                elevation * 4, 0, 1
            )
            colour = colour * (1 - amount[:, None]) + 0.95 * amount[:, None]
        return colour
