"""Student: re-initialised model on labeled + pseudo-labelled images (P1 §3.2–3.3, REFERENCE.md §5).

Each step sees labeled : unlabeled = 1 : ``unlabeled_ratio`` (P1: 1:2). Unlabeled images get the
strong perturbations (colour jitter, Gaussian blur, CutMix p = 0.5; ``depth_anything_ros.training.data.perturbations``)
and the region-weighted CutMix loss against the teacher's pseudo-labels of the clean images.
Feature alignment pulls the student's last-tap features towards a frozen encoder's with the
tolerance margin α. The frozen encoder is a DINOv2 checkpoint when ``student.frozen_encoder`` names
one (the real recipe); otherwise — as in the toy pipeline, where no DINOv2 weights exist — it is
the teacher's encoder, frozen. Total = equal-weight mean of the active terms (P1).

Ablation switches: ``student.perturb=false`` and ``student.feature_alignment=false`` give naive
self-training; turning them on one at a time gives P1 Table 9's rows.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from depth_anything_ros.model import DepthAnything, load_dinov2_backbone, load_model
from depth_anything_ros.training.config import Config
from depth_anything_ros.training.data.perturbations import StrongPerturbation
from depth_anything_ros.training.data.transforms import normalize_images
from depth_anything_ros.training.losses import (cutmix_affine_invariant_loss, feature_alignment_loss,
                             gradient_matching_loss)
from depth_anything_ros.training.loop import RunOptions, Source, StageSpec, seed_everything, train
from depth_anything_ros.training.stages.common import (build_model, crop_and_flip, export_stage_model,
                                    labeled_source, network_input, open_data, preview_rows,
                                    stage_dir, stage_fingerprint)
from depth_anything_ros.training.stages.pseudo_label import read_manifest
from depth_anything_ros.training.stages.teacher import relative_loss

log = logging.getLogger(__name__)


def unlabeled_source(config: Config, manifest_path: Path, batch_size: int) -> Source:
    """Unlabeled crops with their pseudo-disparity and a per-sample seed for the perturbations."""
    manifest = read_manifest(manifest_path)
    if manifest["source"] != config.data.unlabeled:
        raise ValueError(
            f"{manifest_path}: pseudo-labels are for {manifest['source']!r}, config data.unlabeled "
            f"is {config.data.unlabeled!r}"
        )
    dataset = open_data(config.data.unlabeled, manifest.get("num_unlabeled"))
    folder = Path(manifest_path).parent
    items = manifest["items"]
    crop = config.data.crop

    def load(index: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        item = items[index]
        image = dataset[item["index"]]["image"]
        pseudo = np.load(folder / item["file"]).astype(np.float32)
        if pseudo.shape != image.shape[:2]:
            raise ValueError(f"{folder / item['file']}: shape {pseudo.shape} != image {image.shape[:2]}")
        maps = crop_and_flip({"image": image, "pseudo": pseudo}, crop, rng)
        return {"image": maps["image"], "pseudo": maps["pseudo"],
                "seed": np.int64(rng.integers(0, 2**62))}

    return Source("unlabeled", len(items), load, batch_size)


def frozen_encoder(config: Config, teacher_weights: Path) -> torch.nn.Module:
    """The encoder features are aligned to: DINOv2 if configured, else the teacher's encoder."""
    path = config.student.frozen_encoder
    if path:
        holder = build_model(config)
        load_dinov2_backbone(holder, path)
        log.info("feature alignment against frozen DINOv2 encoder %s", path)
    else:
        holder = load_model(teacher_weights)
        log.info("feature alignment against the teacher's encoder (frozen): %s", teacher_weights)
    return holder.pretrained.eval().requires_grad_(False)


def student_spec(config: Config, teacher_weights: Path, manifest: Path) -> StageSpec:
    section = config.student
    seed_everything(config.seed + 1)
    model: DepthAnything = build_model(config)  # re-initialised, never the teacher's weights
    perturb = StrongPerturbation(cutmix_p=section.cutmix_p)
    frozen = frozen_encoder(config, teacher_weights) if section.feature_alignment else None
    last_tap = model.config.taps[-1]
    if frozen is not None and frozen.embed_dim != model.config.embed_dim:
        raise ValueError(f"frozen encoder width {frozen.embed_dim} != student width {model.config.embed_dim}")

    def compute_loss(model, batch):
        lab, unl = batch["labeled"], batch["unlabeled"]
        clean = unl["image"].permute(0, 3, 1, 2).float() / 255.0
        pseudo = unl["pseudo"].float()
        if section.perturb:
            generator = torch.Generator().manual_seed(int(unl["seed"][0]))
            mixed = perturb(clean, generator)
            images_u, cut, partner = mixed.images, mixed.mask[:, 0] > 0.5, mixed.partner
        else:
            images_u, partner = clean, torch.arange(len(clean), device=clean.device)
            cut = torch.ones_like(pseudo, dtype=torch.bool)
        x_l = network_input(lab["image"])
        x_u = normalize_images(images_u)
        depth, feats = model.forward_with_features(torch.cat([x_l, x_u]))
        pred_l, pred_u = depth[: len(x_l)].float(), depth[len(x_l):].float()

        loss_l, logs = relative_loss(pred_l, lab, section.gradient_matching_weight)
        logs.pop("loss_ssi")  # logged as loss_labeled below
        loss_u = cutmix_affine_invariant_loss(pred_u, pseudo, pseudo[partner], cut)
        if section.gradient_matching_weight:
            loss_u = loss_u + section.gradient_matching_weight * gradient_matching_loss(
                pred_u, pseudo, torch.ones_like(cut))
        terms = [loss_l, loss_u]
        logs.update(loss_labeled=loss_l.detach(), loss_unlabeled=loss_u.detach())
        if frozen is not None:
            with torch.no_grad():
                target, _ = frozen.get_intermediate_layers(x_u, (last_tap,))[0]
                target = target.transpose(1, 2).reshape(feats[len(x_l):].shape)
            loss_f = feature_alignment_loss(feats[len(x_l):].float(), target.float(), section.alpha)
            terms.append(loss_f)
            logs["loss_feature"] = loss_f.detach()
        return sum(terms) / len(terms), logs

    def preview(model, batch):
        unl = batch["unlabeled"]
        pred = model(network_input(unl["image"]))
        return preview_rows(unl["image"], unl["pseudo"], pred)

    return StageSpec(
        name="student", model=model,
        sources=[
            labeled_source(config, "labeled", config.data.labeled, section.batch_size),
            unlabeled_source(config, manifest, section.batch_size * section.unlabeled_ratio),
        ],
        compute_loss=compute_loss, optim=section, out_dir=stage_dir(config, "student"),
        fingerprint=stage_fingerprint(config, "student", teacher=teacher_weights, manifest=manifest),
        preview=preview, frozen=[frozen] if frozen is not None else [],
    )


def run_student(config: Config, run: RunOptions, teacher_weights: Path | None = None,
                manifest: Path | None = None) -> Path:
    s = config.student
    teacher_weights = Path(teacher_weights or s.teacher_weights or config.teacher.weights
                           or stage_dir(config, "teacher") / "model.safetensors")
    manifest = Path(manifest or s.pseudo_labels or stage_dir(config, "pseudo_labels") / "manifest.json")
    model = train(student_spec(config, teacher_weights, manifest), run)
    return export_stage_model(model, config, "student", {
        "labeled": config.data.labeled, "unlabeled": config.data.unlabeled,
        "pseudo_labels": str(manifest), "perturb": s.perturb, "cutmix_p": s.cutmix_p,
        "feature_alignment": s.feature_alignment, "alpha": s.alpha,
        "frozen_encoder": s.frozen_encoder or f"teacher encoder ({teacher_weights})",
    })
