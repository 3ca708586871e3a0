"""All stages in order from one config: teacher → pseudo_label → student → metric → evaluate → export.

``<out_dir>/`` then holds ``teacher/ pseudo_labels/ student/ metric/`` (each with checkpoint.pt,
metrics.jsonl, loss.png, samples.png, model.safetensors), ``evaluation.json`` and the exported
``model.safetensors``. Every stage resumes, so re-running after a kill continues where it stopped.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import yaml

from depth_anything_ros.atomic_file import write_bytes_atomic
from depth_anything_ros.training.config import Config, config_to_dict
from depth_anything_ros.training.data.registry import check_spec
from depth_anything_ros.training.loop import RunOptions, barrier, rank_world
from depth_anything_ros.training.stages.evaluate import evaluate_weights
from depth_anything_ros.training.stages.export import export_model
from depth_anything_ros.training.stages.metric import run_metric
from depth_anything_ros.training.stages.pseudo_label import run_pseudo_label
from depth_anything_ros.training.stages.student import run_student
from depth_anything_ros.training.stages.teacher import run_teacher

log = logging.getLogger(__name__)


def evaluate_all(config: Config, weights: dict[str, Path], device: str) -> dict[str, dict]:
    """Teacher and student zero-shot (relative, aligned) and the metric model (raw, in range)."""
    num, rng = config.evaluate.num, (config.data.min_depth, config.data.max_depth)
    results = {}
    for name in ("teacher", "student"):
        results[name] = {"data": config.data.eval_relative, **evaluate_weights(
            weights[name], config.data.eval_relative, num=num, device=device)}
    results["metric"] = {"data": config.data.metric_eval, **evaluate_weights(
        weights["metric"], config.data.metric_eval, num=num, device=device, depth_range=rng)}
    return results


# The dataset specs the pipeline reads, in the order it reads them.
PIPELINE_SPECS = ("labeled", "unlabeled", "metric_train", "metric_mix", "eval_relative",
                  "metric_eval")


def check_specs(config: Config) -> None:
    """Every dataset spec the pipeline will read, opened cheaply before the teacher starts: a
    typo in data.metric_eval used to surface after all four training stages had run."""
    for key in PIPELINE_SPECS:
        spec = getattr(config.data, key)
        if key == "unlabeled" and config.student.pseudo_labels:
            continue  # labels come from another run's manifest
        if spec:
            check_spec(spec)


def run_pipeline(config: Config, run: RunOptions) -> dict:
    rank, _ = rank_world()
    check_specs(config)
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if rank == 0:
        (out / "config.yaml").write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))
    times, t = {}, time.time()
    weights = {"teacher": run_teacher(config, run)}
    times["teacher"] = time.time() - t
    t = time.time()
    if config.student.pseudo_labels:  # reuse another run's pseudo-labels (ablations)
        manifest = Path(config.student.pseudo_labels)
    else:
        manifest = run_pseudo_label(config, teacher_weights=weights["teacher"], device=run.device)
    times["pseudo_label"] = time.time() - t
    t = time.time()
    weights["student"] = run_student(config, run, weights["teacher"], manifest)
    times["student"] = time.time() - t
    t = time.time()
    weights["metric"] = run_metric(config, run, weights["student"])
    times["metric"] = time.time() - t

    summary: dict = {}
    if rank == 0:
        t = time.time()
        device = "cuda" if run.device.startswith("cuda") else run.device
        results = evaluate_all(config, weights, device)
        times["evaluate"] = time.time() - t
        final = export_model(weights["metric"], out / "model.safetensors", provenance={
            "pipeline": {"config": config_to_dict(config), "evaluation": results,
                         "steps": {s: getattr(config, s).steps for s in ("teacher", "student", "metric")}},
        }, dtype=config.export.dtype)
        summary = {"evaluation": results, "seconds": {k: round(v, 1) for k, v in times.items()},
                   "model": str(final), "stage_weights": {k: str(v) for k, v in weights.items()}}
        write_bytes_atomic(out / "evaluation.json", json.dumps(summary, indent=2).encode())
    barrier()
    return summary
