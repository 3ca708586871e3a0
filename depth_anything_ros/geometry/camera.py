"""Pinhole intrinsics: read from CameraInfo matrices, scaled to other resolutions, strided.

Pixel convention (as image_geometry): pixel (u, v) has its centre at integer coordinates, so
X = (u − cx)·Z/fx, Y = (v − cy)·Z/fy in the REP-103 optical frame (z forward, x right, y down).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from depth_anything_ros.geometry.rays import PixelRays


class CameraInfoError(ValueError):
    """Intrinsics are unusable; the message names the field and the reason."""


@dataclass(frozen=True)
class CameraIntrinsics:
    """Focal lengths and principal point in pixels for an image of `width`×`height`."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def validate(self) -> "CameraIntrinsics":
        """Raise CameraInfoError unless focal lengths are finite and > 0 and the size is > 0."""
        for name in ("fx", "fy"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise CameraInfoError(f"{name} is {value}: focal length must be finite and > 0")
        for name in ("cx", "cy"):
            if not math.isfinite(getattr(self, name)):
                raise CameraInfoError(f"{name} is {getattr(self, name)}: must be finite")
        if self.width <= 0 or self.height <= 0:
            raise CameraInfoError(
                f"width/height is {self.width}x{self.height}: both must be > 0")
        return self

    def same_aspect(self, width: int, height: int, tolerance: float = 0.01) -> bool:
        """True when width:height matches this image's aspect ratio (relative `tolerance`)."""
        return abs(self.width * height - width * self.height) <= tolerance * self.width * height

    def scaled_to(self, width: int, height: int) -> "CameraIntrinsics":
        """Intrinsics of the same camera resized to `width`×`height`.

        Every parameter is multiplied by the size ratio, as image_geometry does for binning and
        image_proc's resize node does for K and P (the sub-pixel centre offset is ignored, as
        there).
        """
        sx = width / self.width
        sy = height / self.height
        return CameraIntrinsics(self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy,
                                width, height)

    def rays(self) -> "PixelRays":
        """The pinhole rays of every pixel (what `organized_cloud` multiplies by depth)."""
        from depth_anything_ros.geometry.rays import pinhole_rays

        return pinhole_rays(self.fx, self.fy, self.cx, self.cy, self.width, self.height)

    def strided(self, stride: int) -> "CameraIntrinsics":
        """Intrinsics of the image that keeps pixels u = stride·i, v = stride·j.

        Strided pixel (i, j) is exactly source pixel (stride·i, stride·j) (its centre, not the
        centre of a stride×stride block), so fx' = fx/s and cx' = cx/s hold without an offset.
        """
        if stride < 1:
            raise ValueError(f"stride is {stride}: must be ≥ 1")
        return CameraIntrinsics(self.fx / stride, self.fy / stride, self.cx / stride,
                                self.cy / stride, -(-self.width // stride),
                                -(-self.height // stride))


def intrinsics_from_matrices(k: Sequence[float], p: Sequence[float], width: int, height: int,
                             use_rectified: bool) -> CameraIntrinsics:
    """Intrinsics from CameraInfo's row-major K (3×3) or P (3×4), validated.

    P describes the rectified image, K the raw one (REFERENCE.md §8: image_geometry reads P).
    """
    if use_rectified:
        if len(p) != 12:
            raise CameraInfoError(f"P has {len(p)} values, expected 12")
        fx, cx, fy, cy = p[0], p[2], p[5], p[6]
        source = "P"
    else:
        if len(k) != 9:
            raise CameraInfoError(f"K has {len(k)} values, expected 9")
        fx, cx, fy, cy = k[0], k[2], k[4], k[5]
        source = "K"
    try:
        return CameraIntrinsics(float(fx), float(fy), float(cx), float(cy), int(width),
                                int(height)).validate()
    except CameraInfoError as error:
        raise CameraInfoError(f"{source}: {error}") from None
