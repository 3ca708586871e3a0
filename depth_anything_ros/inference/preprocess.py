"""Turn camera RGB frames into the network's input tensor, exactly as the official code does.

Official pipeline (REFERENCE.md § 3, DA1 run.py / DA2 ``infer_image``): RGB / 255 → resize with
``lower_bound`` to ``input_size``, keeping the aspect ratio, each side a multiple of 14, with
``cv2.INTER_CUBIC`` → ImageNet mean/std → CHW float32.

Two implementations:

* :func:`prepare_batch_cv2` — the reference path (numpy + cv2 on the CPU). The official code
  resizes a float64 image; we resize float32, which differs by float rounding only (~1e-6).
  Because bicubic weights sum to one, normalising before or after the resize is the same map.
* :func:`prepare_batch_torch` — the GPU path: upload uint8, resize with
  ``F.interpolate(mode="bicubic", antialias=False)`` and normalise on the device. Both use the
  same cubic kernel (a = -0.75) and half-pixel centres, but cv2 and torch handle the image
  border and rounding differently, so results differ slightly near the edges (measured in
  ``test/test_inference_preprocess.py``). It is device-agnostic, so it runs on CPU tensors too.
"""
from __future__ import annotations

import math
from typing import Literal

import cv2
import numpy as np
import torch
import torch.nn.functional as F

PATCH_SIZE = 14
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

PreprocessMethod = Literal["auto", "cv2", "torch"]


def _constrain_to_multiple(x: float, min_val: int, multiple: int) -> int:
    """Official ``constrain_to_multiple_of``: round to a multiple, ceil when below ``min_val``."""
    y = int(np.round(x / multiple) * multiple)
    if y < min_val:
        y = int(math.ceil(x / multiple) * multiple)
    return y


# Longest side over shortest the network is shown: camera images are ≤ 4:1 (automotive strips
# 8:1); a 4×400 strip would make the shipped model see 168×16800 (35 s instead of 0.1 s).
MAX_ASPECT = 10


def network_size(
    height: int, width: int, input_size: int = 518, multiple: int = PATCH_SIZE
) -> tuple[int, int]:
    """(h, w) the network sees for a ``height``×``width`` image (official ``lower_bound`` rule).

    The shorter side becomes ``input_size`` (the scale is the larger of the two ratios) and
    both sides are rounded to multiples of ``multiple``, never below ``input_size``.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {height}x{width} (HxW)")
    if input_size <= 0 or input_size % multiple:
        raise ValueError(f"input_size must be a positive multiple of {multiple}, got {input_size}")
    if max(height, width) > MAX_ASPECT * min(height, width):
        raise ValueError(
            f"image {width}x{height} (WxH) is more than {MAX_ASPECT}:1; its shorter side would "
            f"become {input_size} px and the longer one {MAX_ASPECT}+ times that (seconds to "
            "minutes a frame): crop it")
    scale = max(input_size / height, input_size / width)
    new_h = _constrain_to_multiple(scale * height, input_size, multiple)
    new_w = _constrain_to_multiple(scale * width, input_size, multiple)
    return new_h, new_w


def validate_rgb_batch(images: np.ndarray, name: str = "images") -> None:
    """Reject anything that is not a non-empty uint8 (B, H, W, 3) array, naming the problem."""
    if not isinstance(images, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (B, H, W, 3) RGB, got {images.shape}")
    if images.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8 RGB, got dtype {images.dtype}")
    if images.size == 0:
        raise ValueError(f"{name} is empty: shape {images.shape}")


def prepare_batch_cv2(images: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """Reference preprocessing on the CPU: (B, H, W, 3) uint8 RGB → (B, 3, h, w) float32."""
    validate_rgb_batch(images)
    h, w = size
    mean = np.asarray(IMAGENET_MEAN, dtype=np.float32)
    inv_std = 1.0 / np.asarray(IMAGENET_STD, dtype=np.float32)
    out = np.empty((images.shape[0], 3, h, w), dtype=np.float32)
    for i, image in enumerate(images):
        scaled = image.astype(np.float32) * np.float32(1.0 / 255.0)
        resized = cv2.resize(scaled, (w, h), interpolation=cv2.INTER_CUBIC)
        out[i] = ((resized - mean) * inv_std).transpose(2, 0, 1)
    return torch.from_numpy(out)


def prepare_batch_torch(
    images: np.ndarray | torch.Tensor, size: tuple[int, int], device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Device-side preprocessing: upload uint8, bicubic resize and normalise where the model is.

    Accepts a numpy array or a uint8 tensor of shape (B, H, W, 3); returns (B, 3, h, w) float32
    on ``device``. Uploading uint8 moves 4× fewer bytes than float32.
    """
    if isinstance(images, np.ndarray):
        validate_rgb_batch(images)
        tensor = torch.from_numpy(np.ascontiguousarray(images))
    else:
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(
                "images must be a uint8 (B, H, W, 3) tensor, "
                f"got {images.dtype} {tuple(images.shape)}"
            )
        tensor = images
    device = torch.device(device)
    non_blocking = device.type == "cuda"
    x = tensor.to(device, non_blocking=non_blocking).permute(0, 3, 1, 2).float().div_(255.0)
    if tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=tuple(size), mode="bicubic", align_corners=False, antialias=False)
    mean = torch.tensor(IMAGENET_MEAN, device=device, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device, dtype=torch.float32).view(1, 3, 1, 1)
    return x.sub_(mean).div_(std).contiguous()


def prepare_batch(
    images: np.ndarray,
    size: tuple[int, int],
    device: torch.device | str = "cpu",
    method: PreprocessMethod = "auto",
) -> torch.Tensor:
    """(B, H, W, 3) uint8 RGB → (B, 3, h, w) float32 on ``device``.

    ``method="auto"`` uses the exact cv2 path on the CPU and the device path on CUDA (where the
    upload of uint8 and the resize on the GPU save several milliseconds per frame).
    """
    device = torch.device(device)
    if method == "auto":
        method = "torch" if device.type == "cuda" else "cv2"
    if method == "cv2":
        return prepare_batch_cv2(images, size).to(device)
    if method == "torch":
        return prepare_batch_torch(images, size, device)
    raise ValueError(f"unknown preprocessing method {method!r}; use 'auto', 'cv2' or 'torch'")
