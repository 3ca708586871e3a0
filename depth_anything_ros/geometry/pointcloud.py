"""Depth image → organized point cloud (structured numpy array), without ROS.

Layout (one point = 16 bytes, little-endian), the packed layout RViz's RGB8 transformer and
depth_image_proc's consumers read on Humble and Jazzy alike (REFERENCE.md §8, §10):

    offset 0  x    float32  metres, optical frame (x right)
    offset 4  y    float32  metres (y down)
    offset 8  z    float32  metres (z forward) = depth
    offset 12 rgb  float32  bytes B, G, R, 0 = uint32 (r << 16) | (g << 8) | b

Each point lies on its pixel's ray (`geometry.rays`): x = ray_x·z, y = ray_y·z. Invalid points
(no depth, depth outside [min_range, max_range], or a pixel the lens model gives no ray) have
x = y = z = NaN and keep their colour; the cloud keeps the image's rows and columns (organized,
is_dense false).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from depth_anything_ros.geometry.camera import CameraIntrinsics
from depth_anything_ros.geometry.rays import PixelRays

FLOAT32 = 7  # sensor_msgs/PointField.FLOAT32
POINT_STEP = 16
POINT_FIELDS: tuple[tuple[str, int, int, int], ...] = (
    ("x", 0, FLOAT32, 1),
    ("y", 4, FLOAT32, 1),
    ("z", 8, FLOAT32, 1),
    ("rgb", 12, FLOAT32, 1),
)
CLOUD_DTYPE = np.dtype({
    "names": [name for name, *_ in POINT_FIELDS],
    "formats": ["<f4"] * len(POINT_FIELDS),
    "offsets": [offset for _, offset, *_ in POINT_FIELDS],
    "itemsize": POINT_STEP,
})


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 (..., 3) → float32 (...) whose bits are (r << 16) | (g << 8) | b."""
    rgb = np.asarray(rgb, dtype=np.uint8)
    packed = rgb[..., 0].astype(np.uint32)  # in place from here: one temporary, not five
    packed <<= 8
    packed |= rgb[..., 1]
    packed <<= 8
    packed |= rgb[..., 2]
    return packed.view(np.float32)


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """Inverse of `pack_rgb`: float32 (...) → RGB uint8 (..., 3)."""
    bits = np.ascontiguousarray(packed, dtype=np.float32).view(np.uint32)
    return np.stack([(bits >> 16) & 255, (bits >> 8) & 255, bits & 255], axis=-1).astype(np.uint8)


def cloud_shape(height: int, width: int, stride: int = 1) -> tuple[int, int]:
    """(rows, columns) of the organized cloud of a height×width image at `stride`."""
    return -(-height // stride), -(-width // stride)


def organized_cloud(depth: np.ndarray, rgb: np.ndarray | None,
                    camera: CameraIntrinsics | PixelRays | Any, stride: int = 1,
                    min_range: float = 0.0, max_range: float = math.inf,
                    out: np.ndarray | None = None) -> np.ndarray:
    """Back-project every `stride`-th pixel of a metric depth image (REP-103 optical frame).

    depth: float H×W metres along the optical axis (NaN/≤0 invalid); rgb: uint8 H×W×3 or None
    (then colour 0); camera: the rays of the H×W image — `PixelRays`, or anything with a
    `rays()` method (`CameraIntrinsics` for a pinhole, `camera_model.CameraModel` for a real
    lens). Returns a CLOUD_DTYPE array of shape (ceil(H/stride), ceil(W/stride)); point (j, i)
    comes from pixel (u, v) = (stride·i, stride·j). Depth (z) outside [min_range, max_range]
    (inclusive limits) becomes NaN.
    `out`: a CLOUD_DTYPE array of that shape to fill instead of a new one — e.g. a view of a
    message's payload buffer, so the cloud is written once and never copied.
    """
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f"depth: expected H×W, got shape {depth.shape}")
    height, width = depth.shape
    rays = camera if isinstance(camera, PixelRays) else camera.rays()
    if (rays.width, rays.height) != (width, height):
        raise ValueError(
            f"intrinsics are for {rays.width}x{rays.height}, depth is {width}x{height}")
    if rgb is not None and np.shape(rgb)[:2] != (height, width):
        raise ValueError(f"rgb: shape {np.shape(rgb)} does not match depth {depth.shape}")
    if stride < 1:
        raise ValueError(f"stride is {stride}: must be ≥ 1")
    z = depth[::stride, ::stride].astype(np.float32)
    sampled = rays.strided(stride)
    invalid = ~np.isfinite(z) | (z <= 0) | (z < min_range) | (z > max_range)
    if sampled.has_invalid:
        invalid |= ~np.isfinite(sampled.x)
    z[invalid] = np.nan
    if out is None:
        cloud = np.empty(z.shape, dtype=CLOUD_DTYPE)
    elif out.dtype != CLOUD_DTYPE or out.shape != z.shape or not out.flags.c_contiguous:
        raise ValueError(f"out: expected a contiguous CLOUD_DTYPE array of shape {z.shape}, "
                         f"got {out.dtype} {out.shape}")
    else:
        cloud = out
    np.multiply(sampled.x, z, out=cloud["x"])
    np.multiply(sampled.y, z, out=cloud["y"])
    cloud["z"] = z
    if rgb is None:
        cloud["rgb"] = np.zeros(z.shape, np.uint32).view(np.float32)
    else:
        cloud["rgb"] = pack_rgb(np.asarray(rgb)[::stride, ::stride])
    return cloud
