"""Evaluate a checkpoint on a dataset (REFERENCE.md §6).

Relative models are scored after the least-squares scale-and-shift fit in disparity (MiDaS
protocol, REFERENCE §4/§6); metric models raw. Pixels count when the GT lies inside the depth
range (inclusive, DA2); predictions are clamped to it (ZoeDepth). Images with fewer than 10 valid
pixels are skipped (DA2). Predictions are made at the GT resolution through ``DepthEstimator``,
exactly as the node and the CLI would make them.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from depth_anything_ros.inference import DepthEstimator
from depth_anything_ros.metrics import (depth_metrics, mean_metrics, relative_depth_metrics,
                                        valid_depth_mask)
from depth_anything_ros.training.stages.common import open_data

log = logging.getLogger(__name__)

MIN_VALID_PIXELS = 10


def dataset_depth_range(dataset, model_max_depth: float | None) -> tuple[float, float]:
    """The range to score in: the dataset's if it declares one, else the model's, else 1e-3–80 m."""
    base = getattr(dataset, "dataset", dataset)  # through a Subset
    lo = float(getattr(base, "min_depth", 1e-3) or 1e-3)
    hi = getattr(base, "max_depth", None) or model_max_depth or 80.0
    return lo, float(hi)


def evaluate_estimator(
    estimator: DepthEstimator, data: str, *, num: int | None = None,
    depth_range: tuple[float, float] | None = None, on_frame: Callable[..., None] | None = None,
) -> dict[str, float]:
    """Mean per-image metrics of ``estimator`` on the first ``num`` items of ``data``.

    ``on_frame(index=, sample=, prediction=, mask=, metrics=, depth_range=, metric=)`` is called
    for every scored image (``training/figures.py`` collects its figure this way).
    """
    return evaluate_predictor(lambda rgb: estimator.predict(rgb).values, data,
                              variant=estimator.config.variant, num=num, depth_range=depth_range,
                              model_max_depth=estimator.config.max_depth, on_frame=on_frame)


def evaluate_predictor(
    predict: Callable[[np.ndarray], np.ndarray], data: str, *, variant: str,
    num: int | None = None, depth_range: tuple[float, float] | None = None,
    model_max_depth: float | None = None, on_frame: Callable[..., None] | None = None,
) -> dict[str, float]:
    """Mean per-image metrics of ``predict(rgb) -> H×W`` (metres for ``variant`` "metric",
    disparity for "relative") on the first ``num`` items of ``data``: the one protocol for
    models and for the trivial baselines they are compared with (``training.baselines``)."""
    dataset = open_data(data, num)
    if depth_range is None:
        depth_range = dataset_depth_range(dataset, model_max_depth)
    lo, hi = depth_range
    rows, skipped = [], 0
    for i in range(len(dataset)):
        sample = dataset[i]
        if "depth" not in sample:
            raise ValueError(f"{data}: item {i} has no depth; evaluation needs a labeled dataset")
        gt = sample["depth"]
        mask = valid_depth_mask(gt, lo, hi)
        if mask.sum() < MIN_VALID_PIXELS:
            skipped += 1
            continue
        values = predict(sample["image"])
        metric = variant == "metric"
        if metric:
            rows.append(depth_metrics(values, gt, mask, pred_range=(lo, hi)))
        else:
            rows.append(relative_depth_metrics(values, gt, mask, depth_range=(lo, hi)))
        if on_frame is not None:
            on_frame(index=i, sample=sample, prediction=values, mask=mask, metrics=rows[-1],
                     depth_range=(lo, hi), metric=metric)
    if skipped:
        log.info("%s: skipped %d images with < %d valid pixels", data, skipped, MIN_VALID_PIXELS)
    result = mean_metrics(rows)
    result["min_depth"], result["max_depth"] = lo, hi
    return result


def evaluate_weights(
    weights: str | Path, data: str, *, num: int | None = None, device: str = "auto",
    depth_range: tuple[float, float] | None = None, input_size: int | None = None,
    on_frame: Callable[..., None] | None = None,
) -> dict[str, float]:
    """Load ``weights`` (any supported checkpoint) and evaluate them on ``data``."""
    estimator = DepthEstimator.from_weights(weights, device=device, input_size=input_size)
    return evaluate_estimator(estimator, data, num=num, depth_range=depth_range,
                              on_frame=on_frame)


def format_table(metrics: dict[str, float]) -> str:
    keys = ["abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog", "delta1", "delta2", "delta3"]
    head = " ".join(f"{k:>9}" for k in keys) + f" {'n_images':>9}"
    vals = " ".join(f"{metrics[k]:9.4f}" for k in keys) + f" {int(metrics['n_images']):9d}"
    return head + "\n" + vals


__all__ = ["evaluate_estimator", "evaluate_predictor", "evaluate_weights", "format_table",
           "dataset_depth_range"]
