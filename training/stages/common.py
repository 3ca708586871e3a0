"""What several stages share: opening datasets, crop-and-flip, network input, models, outputs.

Training crops follow the official recipe (REFERENCE.md §4 "Aug"): resize so the shorter side is
the crop size (image cubic/area, depth nearest, pseudo-labels bilinear), random square crop,
horizontal flip with p = 0.5. Inference at ``input_size = crop`` then sees the same scale.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from depth_anything_ros.model import (DepthAnything, ModelConfig, load_dinov2_backbone, load_model,
                                      save_model)
from depth_anything_ros.geometry.focal import CANONICAL, canonical_depth_factor, normalised_focal
from depth_anything_ros.training.config import Config, config_to_dict
from depth_anything_ros.training.data.registry import held_out_note
from depth_anything_ros.training.data.transforms import normalize_images
from depth_anything_ros.training.loop import Source, barrier, rank_world

log = logging.getLogger(__name__)


def open_data(spec: str, limit: int | None = None):
    """The dataset a spec names (``synthetic:<domain>:<split>``, folder, bag; see depth_anything_ros.training.data)."""
    from depth_anything_ros.training.data import open_dataset

    dataset = open_dataset(spec)
    if limit is not None and limit < len(dataset):
        return torch.utils.data.Subset(dataset, range(limit))
    return dataset


def resize_shorter(array: np.ndarray, side: int, interpolation: int) -> np.ndarray:
    h, w = array.shape[:2]
    scale = side / min(h, w)
    size = (max(side, round(w * scale)), max(side, round(h * scale)))
    if size == (w, h):
        return array
    if array.dtype == bool:
        return cv2.resize(array.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    return cv2.resize(array, size, interpolation=interpolation)


def crop_and_flip(
    maps: dict[str, np.ndarray], crop: int, rng: np.random.Generator, *, flip: bool = True
) -> dict[str, np.ndarray]:
    """Resize every map so its shorter side is ``crop``, then one random crop and flip for all."""
    out = {}
    for key, arr in maps.items():
        if key == "image":
            interp = cv2.INTER_AREA if min(arr.shape[:2]) > crop else cv2.INTER_CUBIC
        elif key in ("depth", "valid"):
            interp = cv2.INTER_NEAREST
        else:
            interp = cv2.INTER_LINEAR
        out[key] = resize_shorter(arr, crop, interp)
    h, w = out["image"].shape[:2]
    top = int(rng.integers(0, h - crop + 1))
    left = int(rng.integers(0, w - crop + 1))
    do_flip = flip and rng.random() < 0.5
    for key, arr in out.items():
        arr = arr[top:top + crop, left:left + crop]
        if do_flip:
            arr = arr[:, ::-1]
        out[key] = np.ascontiguousarray(arr)
    return out


def labeled_maps(sample: dict[str, Any]) -> dict[str, np.ndarray]:
    """Image, depth with NaN replaced by 0 (so bilinear/nearest resizes stay finite) and validity."""
    if "depth" not in sample:
        raise ValueError(f"sample {sample.get('name', '?')}: no depth; this stage needs a labeled dataset")
    valid = sample["valid"] if "valid" in sample else np.isfinite(sample["depth"]) & (sample["depth"] > 0)
    depth = np.where(valid, sample["depth"], 0.0).astype(np.float32)
    return {"image": sample["image"], "depth": depth, "valid": valid.astype(bool)}


def disparity_target(depth: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """GT disparity = 1/depth on valid pixels, 0 elsewhere (REFERENCE §5, DA2 #195)."""
    return np.where(valid, 1.0 / np.where(valid, depth, 1.0), 0.0).astype(np.float32)


def canonical_factor(sample: dict[str, Any], canonical_focal: float, spec: str) -> float:
    """f_c / f for one raw sample (f = fx / shorter image side), or ValueError naming it."""
    fx = float(sample["intrinsics"][0])
    height, width = sample["image"].shape[:2]
    if not (np.isfinite(fx) and fx > 0):
        raise ValueError(
            f"{spec}: sample {sample.get('name', '?')} has no intrinsics, so its depth cannot be "
            "put into canonical-focal space (metric.canonical_focal); use a dataset with "
            "intrinsics or set metric.canonical_focal=null"
        )
    return canonical_depth_factor(normalised_focal(fx, width, height), canonical_focal)


def labeled_source(
    config: Config, name: str, spec: str, batch_size: int, canonical_focal: float | None = None
) -> Source:
    """Labeled crops as ``image`` uint8, ``disparity`` (1/depth, 0 invalid) and ``valid``.

    With ``canonical_focal`` the depth becomes d·f_c/f using each sample's own intrinsics
    (Metric3D's canonical camera; `depth_anything_ros.geometry.focal`).
    """
    note = held_out_note(spec)
    if note is not None:
        log.warning("%s: %s", name, note)
    dataset = open_data(spec)
    crop = config.data.crop

    def load(index: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        sample = dataset[index]
        maps = labeled_maps(sample)
        if canonical_focal is not None:
            maps["depth"] = maps["depth"] * np.float32(
                canonical_factor(sample, canonical_focal, spec)
            )
        maps = crop_and_flip(maps, crop, rng)
        return {
            "image": maps["image"], "depth": maps["depth"], "valid": maps["valid"],
            "disparity": disparity_target(maps["depth"], maps["valid"]),
        }

    return Source(name, len(dataset), load, batch_size)


def network_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B,H,W,3) RGB on any device → ImageNet-normalised float (B,3,H,W)."""
    return normalize_images(images.permute(0, 3, 1, 2).float() / 255.0)


def build_model(config: Config, *, variant: str = "relative", teacher: bool = False) -> DepthAnything:
    """A fresh model of the configured size; the encoder from a DINOv2 checkpoint when given.

    ``teacher=True`` uses ``model.teacher_encoder`` / ``model.teacher_init_backbone`` when set.
    """
    encoder, backbone = config.model.encoder, config.model.init_backbone
    if teacher and config.model.teacher_encoder:
        encoder, backbone = config.model.teacher_encoder, config.model.teacher_init_backbone
    max_depth = config.data.max_depth if variant == "metric" else None
    focal = config.metric.canonical_focal if variant == "metric" else None
    model_config = ModelConfig.preset(
        encoder, version=config.model.version, variant=variant,
        max_depth=max_depth, input_size=config.data.crop, canonical_focal=focal,
        focal_origin=CANONICAL if focal is not None else None,
    )
    model = DepthAnything(model_config)
    if variant == "relative":
        # The relative head ends in ReLU. If a random init makes every output negative, no
        # gradient flows and training never starts (seen: the tiny student, seed 1, loss stuck
        # at exactly 1.0). A positive output bias keeps the ReLU open at step 0.
        nn.init.constant_(model.depth_head.scratch.output_conv2[2].bias, 1.0)
    if backbone:
        load_dinov2_backbone(model, backbone)
        log.info("%s encoder initialised from DINOv2 checkpoint %s", encoder, backbone)
    return model


def load_state_into(model: nn.Module, weights: str | Path, *, encoder_only: bool) -> None:
    """Copy the weights of a saved model into ``model`` (all of them, or only ``pretrained.*``)."""
    state = load_model(weights).state_dict()
    if encoder_only:
        state = {k: v for k, v in state.items() if k.startswith("pretrained.")}
    result = model.load_state_dict(state, strict=not encoder_only)
    if encoder_only and result.unexpected_keys:
        raise ValueError(f"{weights}: unexpected keys {result.unexpected_keys}")


def preview_rows(
    images: torch.Tensor, target: torch.Tensor, pred: torch.Tensor, n: int = 4
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """First ``n`` samples as (RGB uint8, target, prediction) numpy triples for the sample grid."""
    rows = []
    for i in range(min(n, images.shape[0])):
        rows.append((
            images[i].cpu().numpy(), target[i].float().cpu().numpy(), pred[i].float().cpu().numpy()
        ))
    return rows


def stage_dir(config: Config, name: str) -> Path:
    return Path(config.out_dir) / name


# The data fields each training stage reads. Evaluation sets and loader workers are nobody's
# input, so changing them (or another stage's data) never blocks resuming a finished stage.
STAGE_DATA = {
    "teacher": ("labeled", "crop"),
    "student": ("labeled", "unlabeled", "num_unlabeled", "crop"),
    "metric": ("metric_train", "metric_mix", "crop", "min_depth", "max_depth"),
}


def stage_fingerprint(config: Config, stage: str, **inputs: Any) -> str:
    """JSON of everything a stage's result depends on (not logging/checkpoint intervals), so a
    run resumed with other settings fails instead of silently mixing two experiments."""
    section = {k: v for k, v in config_to_dict(getattr(config, stage)).items()
               if k not in ("log_every", "checkpoint_every")}
    data = {k: v for k, v in config_to_dict(config.data).items() if k in STAGE_DATA[stage]}
    payload = {"seed": config.seed, "model": config_to_dict(config.model), "data": data,
               stage: section, "inputs": {k: str(v) for k, v in inputs.items()}}
    return json.dumps(payload, sort_keys=True)


def export_stage_model(model, config: Config, stage: str, data: dict,
                       init_provenance: dict[str, Any] | None = None) -> Path:
    """Save the trained stage model as ``<out>/<stage>/model.safetensors`` (rank 0) with provenance.

    ``init_provenance``: the provenance of our checkpoint the stage started from, read when it
    was loaded; kept because a path (``data["init"]``) says nothing once the file it names is
    replaced (a fine-tune of the shipped model, then shipped in its place)."""
    path = stage_dir(config, stage) / "model.safetensors"
    rank, _ = rank_world()
    if rank == 0:
        section = getattr(config, stage)
        provenance = {"stage": stage, "steps": section.steps, "data": data, "seed": config.seed,
                      "config": config_to_dict(config)}
        if init_provenance:
            provenance["init_provenance"] = init_provenance
        save_model(model, path, provenance=provenance)
    barrier()
    return path
