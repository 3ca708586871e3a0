"""On-disk cache of generated frames: one memory-mappable ``.npy`` shard per block of frames.

Rendering a frame costs ~0.1 s of CPU; reading it back from a shard costs microseconds, so
every synthetic frame is rendered once per machine. A shard is a structured numpy array (fields
``rgb``, ``depth``, ``intrinsics``, ``seed``, ``camera_height``) saved with ``np.save`` and
opened with ``mmap_mode="r"``, so a shuffled DataLoader touches only the frames it reads. Writes go to a
temporary file in the same folder and are renamed into place (atomic: concurrent ranks or a
kill never leave a half-written shard behind).

Root: ``$DEPTH_ANYTHING_CACHE`` if set, else ``<repo>/.cache/depth_anything_ros``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from depth_anything_ros.atomic_file import save_npy_atomic

CACHE_ENV = "DEPTH_ANYTHING_CACHE"


def cache_root() -> Path:
    """Cache folder: ``$DEPTH_ANYTHING_CACHE`` or ``<repo>/.cache/depth_anything_ros``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / ".cache" / "depth_anything_ros"


def frame_dtype(width: int, height: int) -> np.dtype:
    """Record layout of one cached frame."""
    return np.dtype(
        [
            ("rgb", np.uint8, (height, width, 3)),
            ("depth", np.float32, (height, width)),
            ("intrinsics", np.float32, (4,)),
            ("seed", np.int64),
            ("camera_height", np.float32),
        ]
    )


def save_atomic(path: Path, array: np.ndarray) -> None:
    """``np.save`` to a temporary file beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_npy_atomic(path, array)


def load_shard(path: Path, expected: np.dtype, count: int) -> np.ndarray:
    """Memory-map a shard, checking it holds ``count`` records of ``expected`` layout."""
    try:
        shard = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"cache shard {path} is unreadable ({error}); delete it to regenerate"
        ) from error
    if shard.dtype != expected or shard.shape != (count,):
        raise ValueError(
            f"cache shard {path} holds {shard.shape} of {shard.dtype}, expected ({count},) of "
            f"{expected}; delete it to regenerate"
        )
    return shard
