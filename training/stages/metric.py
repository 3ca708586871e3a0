"""Metric fine-tuning (DA2 metric_depth; REFERENCE.md §4): sigmoid × max_depth head, SiLog loss.

Initialised from the student: the encoder always (DA2 starts from the relative checkpoint's
encoder), the head too only with ``metric.init_head`` (DA2 starts it at random). Encoder and head
learning rates come from the config (paper: 5e-6 and 10× that), poly schedule.

``metric.canonical_focal`` trains on canonical-camera targets d·f_c/f (each sample's own
intrinsics) and records f_c in the checkpoint, so the estimator can multiply by f/f_c for any
camera. ``data.metric_mix`` adds ``metric.mix_batch_size`` samples of a second labeled set
(e.g. real frames) to every step; the SiLog loss sees the whole batch.
"""
from __future__ import annotations

from pathlib import Path

import torch

from depth_anything_ros.model import read_provenance
from depth_anything_ros.training.config import Config
from depth_anything_ros.training.losses import silog_loss
from depth_anything_ros.training.loop import RunOptions, StageSpec, seed_everything, train
from depth_anything_ros.training.stages.common import (build_model, export_stage_model, labeled_source,
                                    load_state_into, network_input, preview_rows, stage_dir,
                                    stage_fingerprint)


def metric_spec(config: Config, init_weights: Path | None) -> StageSpec:
    section = config.metric
    seed_everything(config.seed + 2)
    model = build_model(config, variant="metric")
    if init_weights is not None:
        load_state_into(model, init_weights, encoder_only=not section.init_head)
    lo, hi = config.data.min_depth, config.data.max_depth
    focal = section.canonical_focal
    sources = [labeled_source(config, "metric", config.data.metric_train, section.batch_size,
                              canonical_focal=focal)]
    if config.data.metric_mix:
        sources.append(labeled_source(config, "metric_mix", config.data.metric_mix,
                                      section.mix_batch_size, canonical_focal=focal))

    def whole_batch(batch) -> dict:
        parts = [batch[source.name] for source in sources]
        keys = ("image", "depth", "valid")
        return {key: torch.cat([part[key] for part in parts]) for key in keys}

    def compute_loss(model, batch):
        part = whole_batch(batch)
        pred = model(network_input(part["image"]))
        loss = silog_loss(pred.float(), part["depth"].float(), part["valid"], min_depth=lo, max_depth=hi)
        return loss, {"loss_silog": loss.detach()}

    def preview(model, batch):
        part = whole_batch(batch)
        return preview_rows(part["image"], part["depth"], model(network_input(part["image"])))

    return StageSpec(
        name="metric", model=model,
        sources=sources,
        compute_loss=compute_loss, optim=section, out_dir=stage_dir(config, "metric"),
        fingerprint=stage_fingerprint(config, "metric", init=init_weights),
        preview=preview, preview_kind="depth",
    )


def run_metric(config: Config, run: RunOptions, init_weights: Path | None = None) -> Path:
    if init_weights is None:
        init_weights = config.metric.init_weights or stage_dir(config, "student") / "model.safetensors"
    spec = metric_spec(config, Path(init_weights))
    started_from = read_provenance(init_weights)  # now: the file may be replaced while we train
    model = train(spec, run)
    return export_stage_model(model, config, "metric", {
        "metric_train": config.data.metric_train, "metric_mix": config.data.metric_mix,
        "init": str(init_weights), "max_depth": config.data.max_depth,
        "canonical_focal": config.metric.canonical_focal,
    }, init_provenance=started_from)
