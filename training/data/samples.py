"""The one sample format every dataset returns, so stages never care where data came from.

A *raw sample* (what ``dataset[i]`` returns) is a dict of numpy arrays:

=================  ===========================================================================
``image``          uint8 (H, W, 3) RGB
``depth``          float32 (H, W) metres along optical z, NaN invalid — labeled datasets only
``valid``          bool (H, W): finite and > 0 depth — labeled datasets only
``intrinsics``     float32 (4,) (fx, fy, cx, cy) in pixels of this image; all NaN when unknown
``camera_height``  float, the optical centre's height above the floor in metres; NaN unknown
``name``           str, stable id of the frame (file stem, bag stamp, synthetic index)
=================  ===========================================================================

Transforms (``depth_anything_ros.training.data.transforms``) turn raw samples into tensors for a model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch.utils.data

Sample = dict[str, Any]
UNKNOWN_INTRINSICS = np.full(4, np.nan, dtype=np.float32)


def make_sample(
    image: np.ndarray,
    name: str,
    depth: np.ndarray | None = None,
    intrinsics: np.ndarray | None = None,
    camera_height: float | None = None,
) -> Sample:
    """Build a raw sample, checking shapes and dtypes so a bad source fails where it is read."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"{name}: image must be uint8 (H, W, 3) RGB, got {image.dtype} {image.shape}"
        )
    sample: Sample = {
        "image": image,
        "intrinsics": UNKNOWN_INTRINSICS.copy()
        if intrinsics is None
        else np.asarray(intrinsics, dtype=np.float32).reshape(4),
        "camera_height": float("nan") if camera_height is None else float(camera_height),
        "name": name,
    }
    if depth is not None:
        if depth.shape != image.shape[:2]:
            raise ValueError(
                f"{name}: depth shape {depth.shape} does not match image shape {image.shape[:2]}"
            )
        depth = depth.astype(np.float32, copy=False)
        with np.errstate(invalid="ignore"):
            valid = np.isfinite(depth) & (depth > 0)
        sample["depth"] = np.where(valid, depth, np.float32(np.nan)).astype(np.float32)
        sample["valid"] = valid
    return sample


def scale_intrinsics(intrinsics: Any, sx: float, sy: float) -> np.ndarray:
    """(fx, fy, cx, cy) of an image resized by ``sx``×``sy``, pixel centres kept on centres."""
    fx, fy, cx, cy = intrinsics
    return np.array(
        [fx * sx, fy * sy, (cx + 0.5) * sx - 0.5, (cy + 0.5) * sy - 0.5], np.float32
    )


class DepthDataset(torch.utils.data.Dataset):
    """Base of all datasets: ``len``, ``dataset[i] -> raw sample``; ``labeled`` says whether
    samples carry ``depth``/``valid``; ``spec`` is the string that reopens it."""

    labeled: bool = False
    spec: str = ""

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, index: int) -> Sample:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_index(self, index: int) -> int:
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(
                f"index {index} out of range for {self.spec or type(self).__name__} of {n} samples"
            )
        return index
