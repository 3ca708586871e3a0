"""Metric anchors: sparse measured depths at known pixels of the camera image.

Anything from one lidar scan line projected into the image to a registered dense depth image
becomes the same thing here: pixel rows, columns and depths (metres, finite, > 0) for an image
of known size. A depth image with NaN or ≤ 0 for "no measurement" (REP-117/118) converts with
`Anchors.from_depth_image`; `scan_line_depth` simulates a sparse sensor from dense ground truth
(the evaluation protocol of issue #11: 3 scan lines, every 8th column).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depth_anything_ros.conversions import DEPTH_ENCODINGS, decode_depth

__all__ = ["Anchors", "decode_sparse_depth", "scan_line_depth"]


@dataclass(frozen=True)
class Anchors:
    """Measured depths at pixels of a `width`×`height` image (the camera's, registered)."""

    rows: np.ndarray  # int64 (N,)
    cols: np.ndarray  # int64 (N,)
    depth: np.ndarray  # float64 (N,) metres, finite and > 0
    height: int
    width: int

    @classmethod
    def from_depth_image(cls, depth: np.ndarray, max_anchors: int | None = None,
                         seed: int = 0) -> Anchors:
        """Every finite, positive pixel of `depth` (metres, H×W) as an anchor.

        With `max_anchors`, a dense image keeps a seeded random subset of that size (spread
        over the whole image, unlike a raster stride that aliases with the row length), so a
        registered RGB-D image costs no more to fit than a lidar.
        """
        depth = np.asarray(depth)
        if depth.ndim != 2:
            raise ValueError(f"sparse depth: expected an H×W array, got shape {depth.shape}")
        with np.errstate(invalid="ignore"):
            flat = np.flatnonzero(np.isfinite(depth) & (depth > 0))
        if max_anchors is not None and flat.size > max_anchors:
            rng = np.random.default_rng(seed)
            flat = np.sort(rng.choice(flat, size=max_anchors, replace=False))
        rows, cols = np.divmod(flat, depth.shape[1])
        return cls(rows, cols, depth.reshape(-1)[flat].astype(np.float64), *depth.shape)

    def __len__(self) -> int:
        return int(self.depth.size)

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    def subset(self, keep: np.ndarray) -> Anchors:
        """The anchors where the boolean (or index) array `keep` selects."""
        return Anchors(self.rows[keep], self.cols[keep], self.depth[keep], self.height,
                       self.width)

    def coverage(self) -> float:
        """The larger of the fractions of the image width and height the anchors span (0 when
        empty): one full-width scan line covers 1.0, a cluster in one corner very little."""
        if not len(self):
            return 0.0
        width_span = (self.cols.max() - self.cols.min() + 1) / self.width
        height_span = (self.rows.max() - self.rows.min() + 1) / self.height
        return float(max(width_span, height_span))


def scan_line_depth(depth: np.ndarray, lines: int = 3, column_step: int = 8) -> np.ndarray:
    """A simulated sparse sensor: `depth` kept on `lines` evenly spaced rows (at k/(lines+1) of
    the height), every `column_step`-th column; NaN elsewhere. float32 metres, H×W."""
    depth = np.asarray(depth, dtype=np.float32)
    if depth.ndim != 2:
        raise ValueError(f"depth: expected an H×W array, got shape {depth.shape}")
    if lines < 1 or column_step < 1:
        raise ValueError(f"lines ({lines}) and column_step ({column_step}) must be ≥ 1")
    height = depth.shape[0]
    rows = [round(height * k / (lines + 1)) for k in range(1, lines + 1)]
    sparse = np.full_like(depth, np.nan)
    sparse[rows, ::column_step] = depth[rows, ::column_step]
    return sparse


def decode_sparse_depth(encoding: str, height: int, width: int, step: int, is_bigendian: bool,
                        data, frame_id: str, image_frame_id: str
                        ) -> tuple[np.ndarray | None, str | None]:
    """A sparse depth Image's fields → (metres H×W with NaN for none, None) or (None, why not).

    The one check node and bag job share: registered to the camera (same frame_id), 32FC1
    metres or 16UC1 millimetres (REP-118), a payload that matches its size. The size against
    the camera image is the fit's check (`fit_anchors`).
    """
    if frame_id != image_frame_id:
        return None, (f"frame_id '{frame_id}' differs from the image's '{image_frame_id}' "
                      "(sparse depth must be registered to the camera)")
    if encoding not in DEPTH_ENCODINGS:
        return None, f"encoding '{encoding}' is not 32FC1 (metres) or 16UC1 (millimetres)"
    itemsize = 4 if encoding == "32FC1" else 2
    if height <= 0 or width <= 0 or step < width * itemsize or len(data) < step * height:
        return None, (f"{width}×{height} {encoding} with step {step} does not fit its "
                      f"{len(data)} bytes of data")
    return decode_depth(encoding, height, width, step, is_bigendian, data), None
