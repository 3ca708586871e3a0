"""Geometric transforms of raw samples and their conversion to model tensors.

The training recipe (REFERENCE.md §4–5): resize with the official ``lower_bound`` rule so the
shorter side becomes ``size`` (image bicubic on float [0, 1] as ``inference.preprocess`` does;
depth and mask nearest, so no depth is invented across edges), random square crop, horizontal
flip p = 0.5, ImageNet normalisation. Intrinsics follow every step, so metric training and
point clouds stay correct. Randomness comes only from the ``numpy.random.Generator`` passed in:
a transform is a pure function of (sample, generator state).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from depth_anything_ros.inference.preprocess import IMAGENET_MEAN, IMAGENET_STD
from depth_anything_ros.training.data.samples import DepthDataset, Sample, scale_intrinsics


def _as_float_image(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) * np.float32(1.0 / 255.0) if image.dtype == np.uint8 else image


def resize_lower_bound(sample: Sample, size: int) -> Sample:
    """Scale so the shorter side is ``size`` (aspect kept, each side ≥ ``size``).

    The image becomes float32 RGB in [0, 1] (bicubic, clipped); depth and valid use nearest.
    """
    image = _as_float_image(sample["image"])
    height, width = image.shape[:2]
    scale = max(size / height, size / width)
    new_w, new_h = max(size, int(round(width * scale))), max(size, int(round(height * scale)))
    out = dict(sample)
    out["image"] = np.clip(
        cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_CUBIC), 0.0, 1.0
    )
    if "depth" in sample:
        out["depth"] = cv2.resize(sample["depth"], (new_w, new_h), interpolation=cv2.INTER_NEAREST)
        out["valid"] = cv2.resize(
            sample["valid"].astype(np.uint8), (new_w, new_h), interpolation=cv2.INTER_NEAREST
        ).astype(bool)
    out["intrinsics"] = scale_intrinsics(sample["intrinsics"], new_w / width, new_h / height)
    return out


def crop(sample: Sample, top: int, left: int, height: int, width: int) -> Sample:
    """Cut a window out of every per-pixel field; shift the principal point."""
    image_h, image_w = sample["image"].shape[:2]
    if top < 0 or left < 0 or top + height > image_h or left + width > image_w:
        raise ValueError(
            f"{sample['name']}: crop {height}x{width} at ({top}, {left}) leaves the "
            f"{image_h}x{image_w} image"
        )
    out = dict(sample)
    for key in ("image", "depth", "valid"):
        if key in sample:
            out[key] = np.ascontiguousarray(sample[key][top : top + height, left : left + width])
    fx, fy, cx, cy = sample["intrinsics"]
    out["intrinsics"] = np.array([fx, fy, cx - left, cy - top], np.float32)
    return out


def random_crop(sample: Sample, size: int, rng: np.random.Generator) -> Sample:
    """A uniformly placed ``size``×``size`` window (the image must be at least that big)."""
    height, width = sample["image"].shape[:2]
    return crop(
        sample,
        int(rng.integers(height - size + 1)),
        int(rng.integers(width - size + 1)),
        size,
        size,
    )


def center_crop(sample: Sample, size: int) -> Sample:
    height, width = sample["image"].shape[:2]
    return crop(sample, (height - size) // 2, (width - size) // 2, size, size)


def hflip(sample: Sample) -> Sample:
    """Mirror left–right; the principal point mirrors too (cx → W − 1 − cx)."""
    out = dict(sample)
    for key in ("image", "depth", "valid"):
        if key in sample:
            out[key] = np.ascontiguousarray(sample[key][:, ::-1])
    fx, fy, cx, cy = sample["intrinsics"]
    out["intrinsics"] = np.array([fx, fy, sample["image"].shape[1] - 1 - cx, cy], np.float32)
    return out


def normalize_images(images: torch.Tensor) -> torch.Tensor:
    """ImageNet mean/std normalising of RGB in [0, 1], (…, 3, H, W), as ``inference.preprocess``."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=images.dtype, device=images.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=images.dtype, device=images.device).view(3, 1, 1)
    return (images - mean) / std


def to_tensors(sample: Sample, normalize: bool = True) -> dict:
    """Raw or transformed sample → tensors: ``image`` float32 (3, H, W) (ImageNet-normalised, or
    [0, 1] RGB with ``normalize=False``), ``depth`` float32 (H, W) with NaN → 0, ``valid`` bool,
    ``intrinsics`` float32 (4,), ``camera_height`` float32 scalar (NaN unknown), ``name`` str."""
    image = torch.from_numpy(
        np.ascontiguousarray(_as_float_image(sample["image"]).transpose(2, 0, 1))
    )
    out = {
        "image": normalize_images(image) if normalize else image,
        "intrinsics": torch.from_numpy(np.asarray(sample["intrinsics"], np.float32)),
        "camera_height": torch.tensor(float(sample.get("camera_height", np.nan))),
        "name": sample["name"],
    }
    if "depth" in sample:
        valid = sample["valid"] & np.isfinite(sample["depth"])
        out["depth"] = torch.from_numpy(np.where(valid, sample["depth"], 0.0).astype(np.float32))
        out["valid"] = torch.from_numpy(np.ascontiguousarray(valid))
    return out


@dataclass(frozen=True)
class TrainTransform:
    """lower_bound resize → random ``size``² crop → hflip (p = ``flip_p``) → tensors."""

    size: int = 518
    flip_p: float = 0.5
    normalize: bool = True

    def __call__(self, sample: Sample, rng: np.random.Generator) -> dict:
        sample = random_crop(resize_lower_bound(sample, self.size), self.size, rng)
        if rng.random() < self.flip_p:
            sample = hflip(sample)
        return to_tensors(sample, self.normalize)


@dataclass(frozen=True)
class EvalTransform:
    """Deterministic: lower_bound resize → centre ``size``² crop → tensors (``size=None``: none)."""

    size: int | None = None
    normalize: bool = True

    def __call__(self, sample: Sample, rng: np.random.Generator | None = None) -> dict:
        if self.size is not None:
            sample = center_crop(resize_lower_bound(sample, self.size), self.size)
        return to_tensors(sample, self.normalize)


class TransformedDataset(DepthDataset):
    """Applies a transform with a generator seeded by (``seed``, epoch, index): augmentation is
    the same whichever DataLoader worker or rank loads a sample, so resumed runs repeat exactly.
    Call :meth:`set_epoch` each epoch for fresh crops."""

    def __init__(self, dataset: DepthDataset, transform, seed: int = 0) -> None:
        self.dataset, self.transform, self.seed, self.epoch = dataset, transform, int(seed), 0
        self.labeled, self.spec = dataset.labeled, dataset.spec

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        index = self._check_index(index)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return self.transform(self.dataset[index], rng)
