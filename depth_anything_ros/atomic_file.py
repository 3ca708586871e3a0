"""Atomic file writes for the library's outputs: a temporary file beside the target, then a rename.

A reader never sees half a file, and an interrupted write leaves the previous file in place:
``os.replace`` swaps the name in one step, so a process killed at any instant (SIGKILL, OOM)
leaves either the old file or the complete new one, plus at worst a stray ``.<name>.*.tmp``.
``durable=True`` also survives a power loss: the data is fsync'ed before the rename and the
folder after it (ext4 may otherwise rename before the data reaches the disk); worth ~2 ms per
file, so it is for checkpoints and models rather than per-frame outputs.
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
def atomic_path(path: str | os.PathLike, mode: int = OUTPUT_MODE, *,
                durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; when the block succeeds it gets ``mode`` and
    is renamed over ``path`` (fsync'ed first with ``durable``), when it raises it is removed."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, mode)
        if durable:
            _fsync(tmp, os.O_RDONLY)
        os.replace(tmp, path)
        if durable:
            _fsync(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Temporary files :func:`atomic_path` left beside ``path`` when its writer was killed."""
    path = Path(path)
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


def _fsync(target: str | os.PathLike, flags: int) -> None:
    fd = os.open(target, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
