"""Atomic file writes for the library's outputs: a temporary file beside the target, then a rename.

A reader never sees half a file, and an interrupted write leaves the previous file in place.
Used by `visualize` (PNGs), `model.save_model` (.safetensors), `.npy` outputs (predict, bag
export, training caches) and JSON/text outputs.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

# mkstemp makes 0600; outputs (images, depth, models) are for everyone to read.
OUTPUT_MODE = 0o644


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, mode: int = OUTPUT_MODE) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; when the block succeeds it gets ``mode`` and
    is renamed over ``path``, when it raises it is removed."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def save_npy_atomic(path: str | os.PathLike, array) -> None:
    """``np.save`` (no pickles) through a temporary file; numpy is imported only here."""
    import numpy as np

    with atomic_path(path) as tmp, open(tmp, "wb") as handle:  # a file object: no .npy appended
        np.save(handle, array, allow_pickle=False)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))
