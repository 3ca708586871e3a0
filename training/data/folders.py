"""Folder datasets: your own RGB images, with or without depth, paired by file stem.

Layout (the same one ``depth-anything-ros bag --export-dir`` writes)::

    <root>/rgb/<stem>.png | .jpg | .jpeg    colour images (required)
    <root>/depth/<stem>.npy                 float32 metres, NaN / 0 / inf invalid   (preferred)
    <root>/depth/<stem>.png                 uint16, metres = value / depth_scale, 0 invalid
    <root>/intrinsics/<stem>.json           {"fx", "fy", "cx", "cy"[, "width", "height"]}
    <root>/camera.json                      the same keys, for every frame without its own file

With no ``depth/`` folder (or ``use_depth=False``) the dataset is unlabeled. With one, every
image needs its depth and every depth its image; otherwise construction fails naming the files.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from depth_anything_ros.conversions import depth_files
from depth_anything_ros.training.data.samples import DepthDataset, Sample, make_sample, scale_intrinsics

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
DEPTH_SUFFIXES = (".npy", ".png")  # .npy first: exact metres beat millimetre PNGs


class FolderDatasetError(ValueError):
    """A folder dataset is malformed; the message names the file and the reason."""


def _index(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    """stem → file, choosing the earliest suffix in ``suffixes`` when a stem has several."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        suffix = path.suffix.lower()
        if path.is_file() and suffix in suffixes and not path.name.startswith("."):
            current = found.get(path.stem)
            if current is None or suffixes.index(suffix) < suffixes.index(current.suffix.lower()):
                found[path.stem] = path
    return found


def _read_intrinsics(path: Path, image_shape: tuple[int, int]) -> np.ndarray:
    try:
        record = json.loads(path.read_text())
        values = [float(record[key]) for key in ("fx", "fy", "cx", "cy")]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise FolderDatasetError(
            f"{path}: not intrinsics JSON with fx, fy, cx, cy ({error!r})"
        ) from error
    height, width = image_shape
    if (
        "width" in record
        and "height" in record
        and (record["width"], record["height"]) != (width, height)
    ):
        sx, sy = width / float(record["width"]), height / float(record["height"])
        return scale_intrinsics(values, sx, sy)
    return np.asarray(values, dtype=np.float32)


def read_depth_file(path: Path, depth_scale: float = 1000.0) -> np.ndarray:
    """Depth in metres (float32, NaN invalid): ``.npy`` metres or uint16 PNG / ``depth_scale``."""
    try:
        return depth_files.read_depth_file(path, depth_scale)
    except depth_files.DepthFileError as error:
        raise FolderDatasetError(str(error)) from error


class FolderDataset(DepthDataset):
    """``folder:<root>``: images in ``rgb/``, optional depth in ``depth/``, paired by stem."""

    def __init__(
        self, root: str | Path, *, depth_scale: float = 1000.0, use_depth: bool = True
    ) -> None:
        self.root = Path(root)
        self.depth_scale = float(depth_scale)
        self.spec = f"folder:{self.root}"
        if self.depth_scale <= 0:
            raise FolderDatasetError(
                f"{self.root}: depth_scale must be positive, got {depth_scale}"
            )
        rgb_dir = self.root / "rgb"
        if not rgb_dir.is_dir():
            raise FolderDatasetError(f"{self.root}: no rgb/ folder (expected rgb/<stem>.png|jpg)")
        images = _index(rgb_dir, IMAGE_SUFFIXES)
        if not images:
            raise FolderDatasetError(f"{rgb_dir}: no .png/.jpg images")
        self.stems = sorted(images)
        self.images = images
        depth_dir = self.root / "depth"
        self.depths: dict[str, Path] = {}
        self.labeled = use_depth and depth_dir.is_dir()
        if self.labeled:
            self.depths = _index(depth_dir, DEPTH_SUFFIXES)
            missing = [images[s].name for s in self.stems if s not in self.depths]
            orphans = [p.name for s, p in sorted(self.depths.items()) if s not in images]
            if missing or orphans:
                parts = []
                if missing:
                    parts.append(
                        f"images without depth in {depth_dir}: {', '.join(missing[:5])}"
                        + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else "")
                    )
                if orphans:
                    parts.append(
                        f"depth without an image in {rgb_dir}: {', '.join(orphans[:5])}"
                        + (f" (+{len(orphans) - 5} more)" if len(orphans) > 5 else "")
                    )
                raise FolderDatasetError(f"{self.root}: unpaired files: " + "; ".join(parts))
        intrinsics_dir = self.root / "intrinsics"
        self.intrinsics_files = (
            _index(intrinsics_dir, (".json",)) if intrinsics_dir.is_dir() else {}
        )
        camera = self.root / "camera.json"
        self.camera_file = camera if camera.is_file() else None

    def __len__(self) -> int:
        return len(self.stems)

    def __getitem__(self, index: int) -> Sample:
        stem = self.stems[self._check_index(index)]
        path = self.images[stem]
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FolderDatasetError(f"{path}: unreadable image")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        depth = None
        if self.labeled:
            depth_path = self.depths[stem]
            depth = read_depth_file(depth_path, self.depth_scale)
            if depth.shape != rgb.shape[:2]:
                raise FolderDatasetError(
                    f"{depth_path}: depth is {depth.shape[1]}x{depth.shape[0]} but {path.name} is "
                    f"{rgb.shape[1]}x{rgb.shape[0]} (WxH)"
                )
        intrinsics_path = self.intrinsics_files.get(stem, self.camera_file)
        intrinsics = _read_intrinsics(intrinsics_path, rgb.shape[:2]) if intrinsics_path else None
        return make_sample(rgb, stem, depth, intrinsics)
