"""Depth files on disk → metres: float ``.npy`` (metres) or 16-bit PNG (units per metre).

One reader for every place that takes ground truth or exported depth from files (`predict
--gt`, training's folder datasets). 16-bit PNG units differ between sources: our exports and
most RGB-D drivers write millimetres (1000 per metre); TUM RGB-D writes 5000 per metre.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

MILLIMETRES_PER_METRE = 1000.0


class DepthFileError(ValueError):
    """A depth file cannot be read as depth; the message names the file and the reason."""


def read_depth_file(path: str | os.PathLike, units_per_metre: float = MILLIMETRES_PER_METRE
                    ) -> np.ndarray:
    """Depth in metres (float32 H×W, NaN invalid) from ``.npy`` metres or a uint16 PNG.

    PNG values are divided by ``units_per_metre``; 0 is invalid. In ``.npy`` files NaN, ±inf and
    values ≤ 0 are invalid.
    """
    path = Path(path)
    if not units_per_metre > 0:
        raise DepthFileError(f"{path}: units per metre must be positive, got {units_per_metre}")
    if path.suffix.lower() == ".npy":
        try:
            depth = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise DepthFileError(f"{path}: unreadable .npy depth ({error})") from error
        if depth.ndim != 2 or depth.dtype.kind != "f":
            raise DepthFileError(
                f"{path}: depth .npy must be a 2-D float array of metres, "
                f"got {depth.dtype} {depth.shape}"
            )
        depth = depth.astype(np.float32)
    else:
        raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if raw is None:
            raise DepthFileError(f"{path}: unreadable depth PNG")
        if raw.ndim != 2 or raw.dtype != np.uint16:
            raise DepthFileError(
                f"{path}: depth PNG must be single-channel 16-bit, got {raw.dtype} {raw.shape}"
            )
        depth = np.where(
            raw > 0, raw.astype(np.float32) / np.float32(units_per_metre), np.float32(np.nan)
        )
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(depth) & (depth > 0), depth, np.float32(np.nan)).astype(
            np.float32
        )
