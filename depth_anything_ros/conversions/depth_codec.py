"""Metric depth arrays to REP-118 image payloads, without ROS."""
from __future__ import annotations

import numpy as np

DEPTH_ENCODINGS = ("32FC1", "16UC1")


def depth_to_millimetres(depth: np.ndarray) -> np.ndarray:
    """Metres → uint16 millimetres (REP-118 16UC1): non-finite, ≤ 0, or rounding beyond 65535 mm
    (65.535 m) → 0. The one rule for 16UC1 messages and 16-bit PNG exports alike."""
    mm = np.round(np.asarray(depth, dtype=np.float32) * 1000.0)
    valid = np.isfinite(mm) & (mm > 0) & (mm <= np.iinfo(np.uint16).max)
    return np.where(valid, mm, 0).astype("<u2")


def encode_depth(depth: np.ndarray, encoding: str = "32FC1") -> tuple[str, int, bytes]:
    """Depth in metres (float H×W, NaN invalid) → (encoding, step, little-endian bytes).

    32FC1: metres, non-finite or ≤ 0 written as NaN (REP-117; 0.0 would be a valid point for
    depth_image_proc). 16UC1: millimetres rounded, 0 where invalid or beyond 65.535 m.
    """
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f"depth: expected a H×W array, got shape {depth.shape}")
    valid = np.isfinite(depth) & (depth > 0)
    height, width = depth.shape
    if encoding == "32FC1":
        values = np.where(valid, depth, np.nan).astype("<f4", copy=False)
        return encoding, width * 4, values.tobytes()
    if encoding == "16UC1":
        return encoding, width * 2, depth_to_millimetres(depth).tobytes()
    raise ValueError(f"depth encoding '{encoding}' is not supported (use one of {DEPTH_ENCODINGS})")


def decode_depth(encoding: str, height: int, width: int, step: int, is_bigendian: bool,
                 data) -> np.ndarray:
    """A depth image payload → metres float32 H×W with NaN invalid (inverse of encode_depth)."""
    if encoding not in DEPTH_ENCODINGS:
        raise ValueError(f"depth encoding '{encoding}' is not supported")
    itemsize = 4 if encoding == "32FC1" else 2
    order = ">" if is_bigendian else "<"
    dtype = np.dtype(order + ("f4" if encoding == "32FC1" else "u2"))
    rows = np.frombuffer(data, np.uint8)[: step * height].reshape(height, step)
    values = np.ascontiguousarray(rows[:, : width * itemsize]).view(dtype).reshape(height, width)
    if encoding == "32FC1":
        return values.astype(np.float32)
    metres = values.astype(np.float32) / 1000.0
    metres[values == 0] = np.nan
    return metres
