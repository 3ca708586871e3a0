"""Teacher: labeled images, affine-invariant loss on disparity = 1/depth (REFERENCE.md §5, P1 §3.1).

Optionally adds V2's gradient-matching term (``teacher.gradient_matching_weight``; V2 uses 2).
"""
from __future__ import annotations

from pathlib import Path

import torch

from depth_anything_ros.training.config import Config
from depth_anything_ros.training.losses import affine_invariant_loss, gradient_matching_loss
from depth_anything_ros.training.loop import RunOptions, StageSpec, seed_everything, train
from depth_anything_ros.training.stages.common import (build_model, export_stage_model, labeled_source,
                                    load_state_into, network_input, preview_rows, stage_dir,
                                    stage_fingerprint)


def relative_loss(pred: torch.Tensor, part: dict, gm_weight: float) -> tuple[torch.Tensor, dict]:
    """L_ssi (+ gm_weight · L_gm) of a relative prediction against the part's disparity."""
    target, valid = part["disparity"].float(), part["valid"]
    loss = affine_invariant_loss(pred.float(), target, valid)
    logs = {"loss_ssi": loss.detach()}
    if gm_weight:
        gm = gradient_matching_loss(pred.float(), target, valid)
        logs["loss_gm"] = gm.detach()
        loss = loss + gm_weight * gm
    return loss, logs


def teacher_spec(config: Config) -> StageSpec:
    section = config.teacher
    seed_everything(config.seed)
    model = build_model(config, teacher=True)
    if config.model.init_weights:
        load_state_into(model, config.model.init_weights, encoder_only=False)

    def compute_loss(model, batch):
        part = batch["labeled"]
        pred = model(network_input(part["image"]))
        return relative_loss(pred, part, section.gradient_matching_weight)

    def preview(model, batch):
        part = batch["labeled"]
        return preview_rows(part["image"], part["disparity"], model(network_input(part["image"])))

    return StageSpec(
        name="teacher", model=model,
        sources=[labeled_source(config, "labeled", config.data.labeled, section.batch_size)],
        compute_loss=compute_loss, optim=section, out_dir=stage_dir(config, "teacher"),
        fingerprint=stage_fingerprint(config, "teacher"),
        preview=preview,
    )


def run_teacher(config: Config, run: RunOptions) -> Path:
    """Train the teacher, or hand over ``teacher.weights`` untouched when it names a checkpoint."""
    if config.teacher.weights:
        path = Path(config.teacher.weights)
        if not path.exists():
            raise FileNotFoundError(f"teacher.weights {path}: no such checkpoint")
        return path
    model = train(teacher_spec(config), run)
    return export_stage_model(model, config, "teacher", {"labeled": config.data.labeled})
