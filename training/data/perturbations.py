"""Strong perturbations for the student's unlabeled images (P1 §3, REFERENCE.md §5).

Colour jitter, grayscale and Gaussian blur change only pixels' colours, never their positions,
so they take images alone and pseudo-labels need nothing. CutMix moves content between images:
``u = u_a ⊙ M + u_b ⊙ (1 − M)``. :func:`cutmix` returns the mask M and each image's partner b, and
:func:`mix_like` applies exactly that mixing to pseudo-labels (or anything pixel-aligned), so the
loss can weight the two regions by ΣM/HW and Σ(1 − M)/HW. All functions work on batches
(B, 3, H, W) of RGB in [0, 1] (before ImageNet normalisation), on any device, and draw random
numbers only from the ``torch.Generator`` passed in (on the CPU), so runs repeat exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

_LUMA = (0.299, 0.587, 0.114)


def _uniform(n: int, lo: float, hi: float, generator: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=generator)


def _check_images(images: torch.Tensor) -> None:
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(
            f"images must be (B, 3, H, W) RGB in [0, 1], got shape {tuple(images.shape)}"
        )


def _gray(images: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor(_LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


def _rotate_hue(images: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate chroma about the gray axis by ``angle`` (B,) radians (YIQ rotation)."""
    to_yiq = torch.tensor(
        [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
        dtype=images.dtype,
        device=images.device,
    )
    c, s = torch.cos(angle), torch.sin(angle)
    rot = torch.zeros(len(angle), 3, 3, dtype=images.dtype, device=images.device)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = c, -s, s, c
    matrix = torch.linalg.inv(to_yiq) @ rot @ to_yiq  # (B, 3, 3)
    return torch.einsum("bij,bjhw->bihw", matrix, images)


def colour_jitter(
    images: torch.Tensor,
    generator: torch.Generator,
    brightness: float = 0.5,
    contrast: float = 0.5,
    saturation: float = 0.5,
    hue: float = 0.25,
    p: float = 0.8,
    grayscale_p: float = 0.2,
) -> torch.Tensor:
    """Per image, with probability ``p``: brightness, contrast, saturation factors in
    [1 − x, 1 + x] and a hue rotation of up to ±``hue``·π; then grayscale with ``grayscale_p``."""
    _check_images(images)
    n, device, dtype = len(images), images.device, images.dtype
    apply = (torch.rand(n, generator=generator) < p).to(device)
    factors = [
        _uniform(n, 1 - x, 1 + x, generator).to(device, dtype).view(n, 1, 1, 1)
        for x in (brightness, contrast, saturation)
    ]
    angle = (_uniform(n, -hue, hue, generator) * torch.pi).to(device, dtype)
    gray_now = (torch.rand(n, generator=generator) < grayscale_p).to(device)
    out = images * factors[0]
    mean = _gray(out).mean(dim=(2, 3), keepdim=True)
    out = (out - mean) * factors[1] + mean
    out = (out - _gray(out)) * factors[2] + _gray(out)
    out = _rotate_hue(out.clamp(0, 1), angle).clamp(0, 1)
    out = torch.where(apply.view(n, 1, 1, 1), out, images)
    return torch.where(gray_now.view(n, 1, 1, 1), _gray(out).expand_as(out), out)


def gaussian_blur(
    images: torch.Tensor,
    generator: torch.Generator,
    p: float = 0.5,
    sigma: tuple[float, float] = (0.1, 2.0),
) -> torch.Tensor:
    """Per image, with probability ``p``, a separable Gaussian blur with σ ∈ ``sigma`` pixels
    (kernel radius ⌈3σ⌉, reflected borders)."""
    _check_images(images)
    n = len(images)
    apply = torch.rand(n, generator=generator) < p
    sigmas = _uniform(n, *sigma, generator)
    out = images.clone()
    for i in torch.nonzero(apply).flatten().tolist():
        s = float(sigmas[i])
        radius = max(1, int(torch.ceil(torch.tensor(3.0 * s))))
        x = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
        kernel = torch.exp(-0.5 * (x / s) ** 2)
        kernel = kernel / kernel.sum()
        img = F.pad(images[i : i + 1], (radius, radius, radius, radius), mode="reflect")
        img = F.conv2d(img, kernel.view(1, 1, 1, -1).expand(3, 1, 1, -1), groups=3)
        out[i] = F.conv2d(img, kernel.view(1, 1, -1, 1).expand(3, 1, -1, 1), groups=3)[0]
    return out


@dataclass(frozen=True)
class CutMixResult:
    """``images`` = images ⊙ M + images[partner] ⊙ (1 − M); ``mask`` (B, 1, H, W) float32 M
    (1 = own image u_a, 0 = pasted from u_b; all ones where no CutMix happened); ``partner``
    (B,) long, the index of each image's u_b in the batch."""

    images: torch.Tensor
    mask: torch.Tensor
    partner: torch.Tensor


def cutmix(
    images: torch.Tensor,
    generator: torch.Generator,
    p: float = 0.5,
    area: tuple[float, float] = (0.02, 0.4),
    aspect: tuple[float, float] = (0.3, 1 / 0.3),
) -> CutMixResult:
    """With probability ``p`` per image, paste a random box (``area`` fraction of the image,
    aspect ratio in ``aspect``) from its partner image (the batch rolled by a random shift)."""
    _check_images(images)
    n, _, height, width = images.shape
    shift = int(torch.randint(1, n, (1,), generator=generator)) if n > 1 else 0
    partner = (torch.arange(n) + shift) % n
    apply = torch.rand(n, generator=generator) < p
    areas = _uniform(n, *area, generator) * height * width
    ratios = torch.exp(
        _uniform(
            n,
            torch.log(torch.tensor(aspect[0])).item(),
            torch.log(torch.tensor(aspect[1])).item(),
            generator,
        )
    )
    box_h = torch.sqrt(areas / ratios).round().clamp(1, height).long()
    box_w = torch.sqrt(areas * ratios).round().clamp(1, width).long()
    top = (torch.rand(n, generator=generator) * (height - box_h + 1)).long()
    left = (torch.rand(n, generator=generator) * (width - box_w + 1)).long()
    mask = torch.ones(n, 1, height, width, dtype=torch.float32)
    for i in range(n):
        if apply[i] and shift:
            mask[i, :, top[i] : top[i] + box_h[i], left[i] : left[i] + box_w[i]] = 0.0
    mask = mask.to(images.device)
    partner = partner.to(images.device)
    return CutMixResult(mix_like(images, mask, partner), mask, partner)


def mix_like(values: torch.Tensor, mask: torch.Tensor, partner: torch.Tensor) -> torch.Tensor:
    """Mix any pixel-aligned batch (B, H, W) or (B, C, H, W) with the same M and partners as a
    :func:`cutmix` result: values ⊙ M + values[partner] ⊙ (1 − M)."""
    if values.shape[0] != mask.shape[0] or values.shape[-2:] != mask.shape[-2:]:
        raise ValueError(
            f"values {tuple(values.shape)} do not match the CutMix mask {tuple(mask.shape)}"
        )
    m = mask[:, 0] if values.ndim == 3 else mask
    m = m.to(values.dtype)
    return values * m + values[partner] * (1 - m)


@dataclass(frozen=True)
class StrongPerturbation:
    """The student's strong view: colour jitter → blur → CutMix (each with its probability).

    ``__call__(images, generator) -> CutMixResult``; mix the teacher's pseudo-labels with
    ``mix_like(labels, result.mask, result.partner)``.
    """

    jitter_p: float = 0.8
    grayscale_p: float = 0.2
    blur_p: float = 0.5
    cutmix_p: float = 0.5

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> CutMixResult:
        images = colour_jitter(images, generator, p=self.jitter_p, grayscale_p=self.grayscale_p)
        images = gaussian_blur(images, generator, p=self.blur_p)
        return cutmix(images, generator, p=self.cutmix_p)
