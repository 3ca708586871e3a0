"""Training losses of the Depth Anything recipe (REFERENCE.md §4 and §5), in torch.

Shapes: predictions and targets are (B, H, W) disparity or depth; masks are (B, H, W) bool;
features are (B, C, h, w). Every loss returns a scalar tensor that carries gradients to the
prediction. Where a formula is per image, images are averaged with equal weight, so a batch
split across DDP ranks gives the same mean gradient as the whole batch on one process.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "normalize_disparity",
    "affine_invariant_loss",
    "cutmix_affine_invariant_loss",
    "feature_alignment_loss",
    "silog_loss",
    "gradient_matching_loss",
]

_EPS = 1e-6


def _check(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> None:
    if pred.dim() != 3 or pred.shape != target.shape or mask.shape != pred.shape:
        raise ValueError(
            f"expected (B,H,W) pred/target/mask of one shape, got {tuple(pred.shape)}, "
            f"{tuple(target.shape)}, {tuple(mask.shape)}"
        )


def normalize_disparity(d: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-image ``(d − median) / mean|d − median|`` over ``mask`` (P1 Eq. 2–3; REFERENCE §5).

    The median is the lower median (``torch.median`` convention, as MiDaS). Pixels outside the
    mask come out as 0. This removes any positive scale and any shift of ``d``.
    """
    flat = d.flatten(1)
    m = mask.flatten(1)
    count = m.sum(1).clamp_min(1)
    med = torch.nanmedian(torch.where(m, flat, torch.full_like(flat, float("nan"))), dim=1).values
    med = torch.nan_to_num(med)  # images with no valid pixel
    centred = (flat - med[:, None]) * m
    scale = centred.abs().sum(1) / count
    return (centred / scale.clamp_min(_EPS)[:, None]).view_as(d)


def _per_image_affine_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image mean |d̂* − d̂| over ``mask`` and the per-image valid-pixel count."""
    diff = (normalize_disparity(pred, mask) - normalize_disparity(target, mask)).abs()
    count = mask.flatten(1).sum(1)
    per_image = (diff * mask).flatten(1).sum(1) / count.clamp_min(1).to(pred.dtype)
    return per_image, count


def affine_invariant_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Scale-and-shift invariant loss on disparity (P1 §3.1; REFERENCE §5 "Labeled loss").

    Each image: both maps normalised by median and mean absolute deviation over its valid
    pixels, then mean |d̂* − d̂|. Images without a valid pixel are left out of the mean.
    """
    _check(pred, target, mask)
    per_image, count = _per_image_affine_loss(pred, target, mask.bool())
    has = count > 0
    if not has.any():
        return pred.sum() * 0.0
    return per_image[has].mean()


def cutmix_affine_invariant_loss(
    pred: torch.Tensor,
    target_a: torch.Tensor,
    target_b: torch.Tensor,
    cut_mask: torch.Tensor,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Region-weighted CutMix loss (P1 Eq. 6–7; REFERENCE §5 "Perturbations").

    ``L_u = (ΣM/HW)·L^M(pred, T(u_a)) + (Σ(1−M)/HW)·L^{1−M}(pred, T(u_b))`` where ``M`` is
    ``cut_mask`` (True where the mixed image shows ``u_a``) and each ``L^R`` is the affine-invariant
    loss normalised inside region ``R`` only. An image without CutMix has ``M`` all True and this
    reduces to :func:`affine_invariant_loss`.
    """
    _check(pred, target_a, cut_mask)
    m = cut_mask.bool()
    v = torch.ones_like(m) if valid is None else valid.bool()
    hw = m.shape[1] * m.shape[2]
    loss_a, count_a = _per_image_affine_loss(pred, target_a, m & v)
    loss_b, count_b = _per_image_affine_loss(pred, target_b, ~m & v)
    weight_a = m.flatten(1).sum(1).to(pred.dtype) / hw
    weight_b = (~m).flatten(1).sum(1).to(pred.dtype) / hw
    per_image = weight_a * loss_a * (count_a > 0) + weight_b * loss_b * (count_b > 0)
    return per_image.mean()


def feature_alignment_loss(
    student: torch.Tensor, frozen: torch.Tensor, alpha: float = 0.85
) -> torch.Tensor:
    """``1 − cos`` between student and frozen-encoder features with a tolerance margin (P1 Eq. 9).

    Pixels whose cosine similarity already exceeds ``alpha`` are excluded, so the student keeps
    freedom where it already matches (REFERENCE §5: α = 0.85 best in P1 Table 12). ``alpha = 1``
    aligns every pixel. The frozen features get no gradient. Mean over the remaining pixels of
    the whole batch; 0 if none remain.
    """
    if student.shape != frozen.shape or student.dim() != 4:
        raise ValueError(
            f"expected (B,C,h,w) features of one shape, got {tuple(student.shape)} and "
            f"{tuple(frozen.shape)}"
        )
    cos = F.cosine_similarity(student, frozen.detach(), dim=1)
    keep = cos <= alpha
    if not keep.any():
        return student.sum() * 0.0
    return (1.0 - cos[keep]).mean()


def silog_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    min_depth: float = 1e-3,
    max_depth: float | None = None,
    lambd: float = 0.5,
) -> torch.Tensor:
    """Scale-invariant log loss, V2 form (DA2 util/loss.py; REFERENCE §4).

    ``d = ln gt − ln pred`` over pixels with ``min_depth ≤ gt ≤ max_depth`` (and ``mask``), pooled
    over the batch as DA2 does; ``L = sqrt(mean(d²) − λ·mean(d)²)`` with λ = 0.5.
    """
    valid = torch.isfinite(target) & (target >= min_depth)
    if max_depth is not None:
        valid &= target <= max_depth
    if mask is not None:
        valid &= mask.bool()
    if not valid.any():
        return pred.sum() * 0.0
    d = torch.log(target[valid]) - torch.log(pred[valid].clamp_min(1e-8))
    return torch.sqrt((d.pow(2).mean() - lambd * d.mean().pow(2)).clamp_min(1e-12))


def gradient_matching_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, scales: int = 4
) -> torch.Tensor:
    """Multi-scale gradient matching (MiDaS; used by V2 as L_gm, REFERENCE §5 "V2").

    On the median/MAD-normalised maps, ``R = d̂ − d̂*``; at scale k (stride 2^k) sum
    ``|∂x R| + |∂y R|`` over neighbour pairs that are both valid, divided by the valid-pixel
    count at that scale; the scales are summed.
    """
    _check(pred, target, mask)
    mask = mask.bool()
    residual = normalize_disparity(pred, mask) - normalize_disparity(target, mask)
    total = pred.sum() * 0.0
    for k in range(scales):
        step = 2**k
        r = residual[:, ::step, ::step]
        m = mask[:, ::step, ::step]
        mx = m[:, :, 1:] & m[:, :, :-1]
        my = m[:, 1:, :] & m[:, :-1, :]
        grad = ((r[:, :, 1:] - r[:, :, :-1]).abs() * mx).sum() + (
            (r[:, 1:, :] - r[:, :-1, :]).abs() * my
        ).sum()
        total = total + grad / m.sum().clamp_min(1)
    return total
