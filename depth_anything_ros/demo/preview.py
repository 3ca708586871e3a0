"""preview.png: RGB | predicted depth | ground-truth depth | bird's-eye view of the cloud.

ROS-free: the recorder hands plain arrays here. Both depth panels share one colour range (the
convention of ``visualize``, range from the ground truth) and one scale bar in metres, and
the bird's-eye view draws the ground-truth points grey under the predicted cloud, so a person
sees at a glance whether the depth follows the scene. Written with
``visualize.write_image_atomic`` (a temporary file and a rename).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from depth_anything_ros.previews import enlarge, enlargement, side_by_side, titled
from depth_anything_ros.scale_bar import with_scale_bar
from depth_anything_ros.visualize import color_range, colorize

GT_POINT_BGR = (110, 110, 110)
GRID_BGR = (60, 60, 60)
FOV_BGR = (0, 160, 255)


def _nice_step(span: float) -> float:
    """A round grid spacing (1, 2 or 5 × 10^k metres) giving about five lines over ``span``."""
    raw = max(span / 5.0, 1e-3)
    base = 10.0 ** math.floor(math.log10(raw))
    for mult in (1.0, 2.0, 5.0, 10.0):
        if raw <= mult * base:
            return mult * base
    return 10.0 * base


def birds_eye_view(
    points_xyz: np.ndarray,
    points_bgr: np.ndarray | None,
    height: int,
    width: int,
    z_max: float,
    *,
    gt_points_xyz: np.ndarray | None = None,
    half_fov_tan: float | None = None,
) -> np.ndarray:
    """Top-down picture of a cloud in the optical frame: x to the right, z (forward) upwards.

    The camera sits at the bottom centre; metres per pixel are the same on both axes. Ground-truth
    points (if given) are drawn grey underneath, predicted points in their own colour on top.
    """
    canvas = np.zeros((height, width, 3), np.uint8)
    scale = (height - 1) / z_max  # pixels per metre
    cx = (width - 1) / 2.0
    step = _nice_step(z_max)
    for k in range(1, int(z_max / step) + 1):
        row = int(round(height - 1 - k * step * scale))
        cv2.line(canvas, (0, row), (width - 1, row), GRID_BGR, 1)
        cv2.putText(canvas, f"{k * step:g} m", (3, max(row - 3, 10)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.35, (150, 150, 150), 1, cv2.LINE_AA)
    if half_fov_tan is not None and math.isfinite(half_fov_tan):
        for sign in (-1.0, 1.0):
            end = (int(round(cx + sign * half_fov_tan * z_max * scale)), 0)
            cv2.line(canvas, (int(round(cx)), height - 1), end, FOV_BGR, 1, cv2.LINE_AA)

    def splat(xyz: np.ndarray, bgr: np.ndarray | tuple[int, int, int]) -> None:
        xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
        ok = np.isfinite(xyz).all(axis=1)
        cols = np.round(cx + xyz[:, 0] * scale)
        rows = np.round(height - 1 - xyz[:, 2] * scale)
        ok &= (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
        colour = bgr if isinstance(bgr, tuple) else np.asarray(bgr).reshape(-1, 3)[ok]
        canvas[rows[ok].astype(int), cols[ok].astype(int)] = colour

    if gt_points_xyz is not None:
        splat(gt_points_xyz, GT_POINT_BGR)
    splat(points_xyz, (255, 255, 255) if points_bgr is None else points_bgr)
    return canvas


def compose_preview(
    rgb: np.ndarray,
    pred_depth: np.ndarray,
    gt_depth: np.ndarray,
    cloud_xyz: np.ndarray,
    cloud_bgr: np.ndarray | None,
    *,
    fx: float,
    cx: float,
    title: str = "",
) -> np.ndarray:
    """RGB | predicted depth | ground-truth depth | bird's-eye view of the cloud, labelled (BGR).

    Both depth panels share one colour range (from the ground truth), so equal colours mean
    equal metres.
    """
    height, width = gt_depth.shape
    vmin, vmax = color_range(gt_depth)  # the range rule, on the ground truth
    factor = enlargement(height)

    def enlarged(image: np.ndarray) -> np.ndarray:
        return enlarge(image, factor)

    gt_xyz = _unproject(gt_depth, fx, cx)
    z_max = max(vmax * 1.1, 1.0)
    bev = birds_eye_view(cloud_xyz, cloud_bgr, height, width, z_max,
                         gt_points_xyz=gt_xyz, half_fov_tan=cx / fx)
    gt_panel = with_scale_bar(enlarged(colorize(gt_depth, vmin, vmax)), vmin, vmax)
    row = [
        titled(enlarged(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)),
               "RGB (synthetic camera)"),
        titled(enlarged(colorize(pred_depth, vmin, vmax)), "predicted depth"),
        titled(gt_panel, "ground truth (same colours = same metres)"),
        titled(enlarged(bev), "cloud, top view x-z (grey: GT)"),
    ]
    picture = side_by_side(row)
    if title:
        picture = titled(picture, title)
    return picture


def _unproject(depth: np.ndarray, fx: float, cx: float) -> np.ndarray:
    """x and z of every pixel (y is not needed for a top view), as an N×3 array with y = 0."""
    height, width = depth.shape
    u = np.arange(width, dtype=np.float64)[None, :].repeat(height, axis=0)
    z = depth.astype(np.float64)
    x = (u - cx) * z / fx
    return np.stack([x, np.zeros_like(z), z], axis=-1).reshape(-1, 3)
