"""Analytic ray casting against the shapes our synthetic scenes are built from.

Every primitive answers two questions, both vectorised over all pixels of a frame:

* ``intersect(origin, dirs) -> t``: the ray parameter of the nearest hit in front of the camera
  (``inf`` on a miss). The renderer passes *unnormalised* directions whose optical-z component is
  1, so ``t`` is directly the planar depth (REP-118 "metres along optical Z").
* ``surface(points) -> (normals, uv)``: the outward unit normal and 2-D surface coordinates in
  metres at hit points, from which textures are evaluated.

All shapes live in the world frame: x, y horizontal, z up (REP-103 body-style, right handed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from depth_anything_ros.training.data.textures import Material

EPS = 1e-4  # rays must travel at least this far (metres) before a hit counts
_CORNER_SIGNS = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)


def _rot_z(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class Rect:
    """A planar rectangle (infinite when a half size is ``inf``): floors, walls, ceilings.

    ``axis_u`` and ``axis_v`` are orthonormal in-plane directions; the normal is their cross
    product. Texture coordinates are the in-plane offsets from ``center`` in metres.
    """

    center: tuple[float, float, float]
    axis_u: tuple[float, float, float]
    axis_v: tuple[float, float, float]
    half_u: float
    half_v: float
    material: Material

    def _frame(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        c = np.asarray(self.center, dtype=np.float64)
        eu = np.asarray(self.axis_u, dtype=np.float64)
        ev = np.asarray(self.axis_v, dtype=np.float64)
        return c, eu, ev, np.cross(eu, ev)

    def bounds(self) -> np.ndarray | None:
        """Corners of a box enclosing the shape (for culling), or None when unbounded."""
        if not (np.isfinite(self.half_u) and np.isfinite(self.half_v)):
            return None
        c, eu, ev, _ = self._frame()
        return np.array(
            [c + su * self.half_u * eu + sv * self.half_v * ev for su in (-1, 1) for sv in (-1, 1)]
        )

    def intersect(self, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        c, eu, ev, n = self._frame()
        denom = dirs @ n
        with np.errstate(divide="ignore", invalid="ignore"):
            t = float(n @ (c - origin)) / denom
        ok = np.isfinite(t) & (t > EPS)
        if np.isfinite(self.half_u) or np.isfinite(self.half_v):
            rel_origin = origin - c
            pu = float(rel_origin @ eu) + t * (dirs @ eu)
            pv = float(rel_origin @ ev) + t * (dirs @ ev)
            with np.errstate(invalid="ignore"):
                ok &= (np.abs(pu) <= self.half_u) & (np.abs(pv) <= self.half_v)
        return np.where(ok, t, np.inf)

    def surface(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, eu, ev, n = self._frame()
        rel = points - c
        uv = np.stack([rel @ eu, rel @ ev], axis=-1)
        return np.broadcast_to(n, points.shape), uv


@dataclass(frozen=True)
class Box:
    """A box standing on its own frame, rotated by ``yaw`` about world z: furniture, buildings."""

    center: tuple[float, float, float]
    half_size: tuple[float, float, float]
    yaw: float
    material: Material
    _rot: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_rot", _rot_z(self.yaw))

    def bounds(self) -> np.ndarray:
        """The 8 corners of the box (for culling)."""
        return np.asarray(self.center) + (_CORNER_SIGNS * np.asarray(self.half_size)) @ self._rot.T

    def intersect(self, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        h = np.asarray(self.half_size)
        o_local = (origin - np.asarray(self.center)) @ self._rot
        d_local = dirs @ self._rot
        d_safe = np.where(np.abs(d_local) < 1e-12, 1e-12, d_local)
        t1 = (-h - o_local) / d_safe
        t2 = (h - o_local) / d_safe
        t_near = np.minimum(t1, t2).max(axis=1)
        t_far = np.maximum(t1, t2).min(axis=1)
        hit = (t_far >= t_near) & (t_near > EPS)
        return np.where(hit, t_near, np.inf)

    def surface(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = np.asarray(self.half_size)
        p_local = (points - np.asarray(self.center)) @ self._rot
        face_axis = np.argmax(np.abs(p_local) / h, axis=1)
        sign = np.sign(p_local[np.arange(len(points)), face_axis])
        n_local = np.zeros_like(p_local)
        n_local[np.arange(len(points)), face_axis] = sign
        # In-face coordinates: the two axes the face spans (z-faces use x, y; others use the
        # horizontal axis and z, so "up" on a wall texture is world up).
        u = np.where(face_axis == 0, p_local[:, 1], p_local[:, 0])
        v = np.where(face_axis == 2, p_local[:, 1], p_local[:, 2])
        return n_local @ self._rot.T, np.stack([u, v], axis=-1)


@dataclass(frozen=True)
class Sphere:
    """A sphere: lamps, balls, rocks, tree canopies."""

    center: tuple[float, float, float]
    radius: float
    material: Material

    def bounds(self) -> np.ndarray:
        return np.asarray(self.center) + _CORNER_SIGNS * self.radius

    def intersect(self, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        oc = origin - np.asarray(self.center)
        a = np.einsum("ij,ij->i", dirs, dirs)
        b = 2.0 * (dirs @ oc)
        c = float(oc @ oc) - self.radius**2
        disc = b * b - 4.0 * a * c
        with np.errstate(invalid="ignore"):
            t = (-b - np.sqrt(disc)) / (2.0 * a)
        return np.where((disc >= 0) & (t > EPS), t, np.inf)

    def surface(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rel = points - np.asarray(self.center)
        n = rel / self.radius
        azimuth = np.arctan2(n[:, 1], n[:, 0])
        elevation = np.arcsin(np.clip(n[:, 2], -1.0, 1.0))
        return n, np.stack([azimuth * self.radius, elevation * self.radius], axis=-1)


@dataclass(frozen=True)
class Cylinder:
    """An upright capped cylinder from ``base`` (bottom centre) up by ``height``: trunks, poles."""

    base: tuple[float, float, float]
    radius: float
    height: float
    material: Material

    def bounds(self) -> np.ndarray:
        centre = np.asarray(self.base) + (0.0, 0.0, self.height / 2)
        return centre + _CORNER_SIGNS * np.array([self.radius, self.radius, self.height / 2])

    def intersect(self, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        bx, by, bz = self.base
        z_top = bz + self.height
        ox, oy, oz = origin[0] - bx, origin[1] - by, origin[2]
        dx, dy, dz = dirs[:, 0], dirs[:, 1], dirs[:, 2]
        a = dx * dx + dy * dy
        b = 2.0 * (ox * dx + oy * dy)
        c = ox * ox + oy * oy - self.radius**2
        disc = b * b - 4.0 * a * c
        with np.errstate(invalid="ignore", divide="ignore"):
            t_side = (-b - np.sqrt(disc)) / (2.0 * a)
            z_side = oz + t_side * dz
            side_ok = (disc >= 0) & (t_side > EPS) & (z_side >= bz) & (z_side <= z_top)
            best = np.where(side_ok, t_side, np.inf)
            for z_cap in (bz, z_top):
                t_cap = (z_cap - oz) / dz
                px, py = ox + t_cap * dx, oy + t_cap * dy
                cap_ok = (t_cap > EPS) & (px * px + py * py <= self.radius**2)
                best = np.where(cap_ok & (t_cap < best), t_cap, best)
        return best

    def surface(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        bx, by, bz = self.base
        rel_x, rel_y = points[:, 0] - bx, points[:, 1] - by
        radial = np.hypot(rel_x, rel_y)
        cap_distance = np.minimum(
            np.abs(points[:, 2] - bz), np.abs(points[:, 2] - bz - self.height)
        )
        on_cap = cap_distance < np.abs(radial - self.radius)
        n = np.zeros_like(points)
        safe_r = np.maximum(radial, 1e-12)
        n[:, 0] = np.where(on_cap, 0.0, rel_x / safe_r)
        n[:, 1] = np.where(on_cap, 0.0, rel_y / safe_r)
        mid = bz + 0.5 * self.height
        n[:, 2] = np.where(on_cap, np.sign(points[:, 2] - mid), 0.0)
        angle = np.arctan2(rel_y, rel_x) * self.radius
        u = np.where(on_cap, rel_x, angle)
        v = np.where(on_cap, rel_y, points[:, 2] - bz)
        return n, np.stack([u, v], axis=-1)


Primitive = Rect | Box | Sphere | Cylinder
