"""Depth images for people: colourised previews and 16-bit millimetre PNGs.

Used by the CLI, the node's ``depth/colored`` topic, bag export and the demo. Colourising maps
near→far onto a cv2 colormap over a robust range (percentiles) or a fixed one, so a single
outlier pixel does not wash out the picture; invalid pixels (NaN, ±inf) are black.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from depth_anything_ros.atomic_file import write_bytes_atomic
from depth_anything_ros.conversions.depth_codec import depth_to_millimetres

# Percentiles that set the range when vmin/vmax are not given.
ROBUST_PERCENTILES = (2.0, 98.0)

COLORMAPS = {
    "turbo": cv2.COLORMAP_TURBO,
    "inferno": cv2.COLORMAP_INFERNO,
    "magma": cv2.COLORMAP_MAGMA,
    "plasma": cv2.COLORMAP_PLASMA,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "jet": cv2.COLORMAP_JET,
    "bone": cv2.COLORMAP_BONE,
    "gray": None,
}


def colorize(
    depth: np.ndarray,
    vmin: float | None = None,
    vmax: float | None = None,
    colormap: str = "turbo",
) -> np.ndarray:
    """float H×W depth (or disparity) → H×W×3 uint8 BGR; non-finite pixels black.

    ``vmin``/``vmax`` default to the 2nd/98th percentile of the finite values; values outside
    are clipped. Low values get the colormap's first colour; a name ending in ``_r`` (e.g.
    "turbo_r") reverses the map, so metric depth (near = small) and disparity (near = large)
    can show near things in the same colour.
    """
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f"depth must be a 2-D H×W array, got shape {depth.shape}")
    name, reverse = (colormap[:-2], True) if colormap.endswith("_r") else (colormap, False)
    if name not in COLORMAPS:
        raise ValueError(
            f"unknown colormap {colormap!r}; choose one of {sorted(COLORMAPS)} "
            "(add '_r' to reverse)"
        )
    values = depth.astype(np.float32, copy=False)
    valid = np.isfinite(values)
    if vmin is None or vmax is None:
        finite = values[valid]
        lo, hi = np.percentile(finite, ROBUST_PERCENTILES) if finite.size else (0.0, 1.0)
        vmin = float(lo) if vmin is None else float(vmin)
        vmax = float(hi) if vmax is None else float(vmax)
    if not vmax > vmin:
        vmax = vmin + 1e-6  # a flat image: everything maps to the first colour
    scaled = (np.where(valid, values, vmin) - vmin) * (255.0 / (vmax - vmin))
    gray = np.clip(scaled, 0.0, 255.0).round().astype(np.uint8)
    if reverse:
        gray = 255 - gray
    cmap = COLORMAPS[name]
    bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR) if cmap is None else cv2.applyColorMap(gray, cmap)
    bgr[~valid] = 0
    return bgr


def write_image_atomic(path: str | os.PathLike, image: np.ndarray) -> None:
    """Encode an image with cv2 (format from the suffix) and write it atomically."""
    path = Path(path)
    suffix = path.suffix or ".png"
    ok, encoded = cv2.imencode(suffix, image)
    if not ok:
        raise OSError(
            f"{path}: cv2 could not encode a {image.dtype} {image.shape} image as {suffix}"
        )
    write_bytes_atomic(path, encoded.tobytes())


def write_depth_png_mm(path: str | os.PathLike, depth: np.ndarray) -> None:
    """Save metric depth (metres, H×W) as a 16-bit PNG in millimetres, 0 = invalid; atomic."""
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f"{path}: depth must be a 2-D H×W array, got shape {depth.shape}")
    write_image_atomic(path, depth_to_millimetres(depth))
