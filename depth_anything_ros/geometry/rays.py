"""Per-pixel viewing rays: which direction each pixel of an image looks, through a real lens.

A ray is stored as its normalised coordinates (x/z, y/z) in the REP-103 optical frame, so the
point of pixel (u, v) with depth z (along the optical axis) is (x·z, y·z, z). A pinhole camera's
rays are separable (x depends only on u, y only on v) and kept as one row and one column; a
distorted lens gives full H×W tables, computed once per calibration by OpenCV's own inverse of
its lens model (`cv2.undistortPoints` for plumb_bob / rational_polynomial, `cv2.fisheye` for
equidistant, as image_geometry does; REFERENCE.md §14) and checked by projecting back.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Iterate the undistortion to convergence: OpenCV's default 5 iterations leave up to 0.1 px
# (1.4e-4 normalised) in the corners of the TUM freiburg1 Kinect lens; 100 reach 1e-9 px.
UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)
# A pixel whose ray does not project back onto it within this many pixels has no ray (beyond
# the fold of a fitted polynomial, or behind a fisheye): its point is NaN, never a wrong one.
REPROJECTION_TOLERANCE_PX = 0.01
_ROWS_PER_CHUNK = 128  # bounds the float64 temporaries for 4K images


@dataclass(frozen=True)
class PixelRays:
    """x/z and y/z of every pixel's ray for a `width`×`height` image.

    `x` is (1, W) or (H, W) and `y` is (H, 1) or (H, W), float32; NaN where a pixel has no ray.
    """

    x: np.ndarray
    y: np.ndarray
    width: int
    height: int
    has_invalid: bool = False

    def strided(self, stride: int) -> "PixelRays":
        """Rays of the pixels u = stride·i, v = stride·j (the organized cloud's sampling)."""
        if stride < 1:
            raise ValueError(f"stride is {stride}: must be ≥ 1")
        if stride == 1:
            return self
        return PixelRays(self.x[::stride, ::stride], self.y[::stride, ::stride],
                         -(-self.width // stride), -(-self.height // stride), self.has_invalid)


def pinhole_rays(fx: float, fy: float, cx: float, cy: float, width: int,
                 height: int) -> PixelRays:
    """Separable rays of an ideal pinhole: x = (u − cx)/fx, y = (v − cy)/fy."""
    x = ((np.arange(width, dtype=np.float64) - cx) / fx).astype(np.float32)[None, :]
    y = ((np.arange(height, dtype=np.float64) - cy) / fy).astype(np.float32)[:, None]
    return PixelRays(x, y, width, height)


def lens_rays(k: np.ndarray, d: np.ndarray, distortion_model: str, width: int,
              height: int) -> PixelRays:
    """Rays of a distorted lens: OpenCV's inverse of its own model for every pixel centre.

    k: 3×3 camera matrix of this image; d: the coefficients (4 for equidistant; 4, 5 or 8 for
    plumb_bob / rational_polynomial, OpenCV's order k1 k2 p1 p2 [k3 [k4 k5 k6]]).
    """
    k = np.asarray(k, np.float64).reshape(3, 3)
    d = np.asarray(d, np.float64).reshape(-1)
    fisheye = distortion_model == "equidistant"
    x = np.empty((height, width), np.float32)
    y = np.empty((height, width), np.float32)
    u = np.arange(width, dtype=np.float64)
    for top in range(0, height, _ROWS_PER_CHUNK):
        rows = np.arange(top, min(top + _ROWS_PER_CHUNK, height), dtype=np.float64)
        pixels = np.stack(np.broadcast_arrays(u[None, :], rows[:, None]), -1).reshape(-1, 1, 2)
        normalised = (_undistort_fisheye(pixels, k, d) if fisheye
                      else _undistort(pixels, k, d)).reshape(-1, 2)
        error = _reprojection_error(normalised, pixels.reshape(-1, 2), k, d, fisheye)
        normalised[~(error <= REPROJECTION_TOLERANCE_PX)] = np.nan
        x[top:top + len(rows)] = normalised[:, 0].reshape(len(rows), width)
        y[top:top + len(rows)] = normalised[:, 1].reshape(len(rows), width)
    return PixelRays(x, y, width, height, has_invalid=bool(np.isnan(x).any()))


def _undistort(pixels: np.ndarray, k: np.ndarray, d: np.ndarray) -> np.ndarray:
    identity = np.eye(3)
    if hasattr(cv2, "undistortPointsIter"):  # OpenCV 4.x (ROS Humble/Jazzy system OpenCV)
        return cv2.undistortPointsIter(pixels, k, d, identity, identity, UNDISTORT_CRITERIA)
    return cv2.undistortPoints(pixels, k, d, None, identity, identity,  # OpenCV 5
                               UNDISTORT_CRITERIA)


def _undistort_fisheye(pixels: np.ndarray, k: np.ndarray, d: np.ndarray) -> np.ndarray:
    try:
        return cv2.fisheye.undistortPoints(pixels, k, d, None, np.eye(3), np.eye(3),
                                           UNDISTORT_CRITERIA)
    except (TypeError, cv2.error):  # OpenCV < 4.7 has no criteria argument
        return cv2.fisheye.undistortPoints(pixels, k, d, None, np.eye(3), np.eye(3))


def _reprojection_error(normalised: np.ndarray, pixels: np.ndarray, k: np.ndarray,
                        d: np.ndarray, fisheye: bool) -> np.ndarray:
    """Pixels between each ray projected through the lens model and the pixel it came from."""
    finite = np.isfinite(normalised).all(axis=1)
    error = np.full(len(pixels), np.inf)
    if not finite.any():
        return error
    points = np.concatenate([normalised[finite], np.ones((int(finite.sum()), 1))], axis=1)
    zero = np.zeros((3, 1))
    if fisheye:
        projected, _ = cv2.fisheye.projectPoints(points.reshape(-1, 1, 3), zero, zero, k, d)
    else:
        projected, _ = cv2.projectPoints(points, zero, zero, k, d)
    error[finite] = np.abs(projected.reshape(-1, 2) - pixels[finite]).max(axis=1)
    return error
