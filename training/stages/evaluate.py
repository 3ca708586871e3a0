"""Evaluate a checkpoint on a dataset (REFERENCE.md §6).

Relative models are scored after the least-squares scale-and-shift fit in disparity (MiDaS
protocol, REFERENCE §4/§6); metric models raw, focal-corrected (each sample's intrinsics),
median-oracle rescaled and anchored to a simulated sparse sensor (3 scan lines of the GT, every 8th
column: what a robot's lidar line or ToF gives the node's ``scale_source: sparse_depth``), with
the frame-to-frame wobble of their scale (``scale_jitter``). Relative models get the anchored
column too: a scale and shift in disparity from the same sensor turns them into metres.
Pixels count when the GT lies inside the depth range (inclusive, DA2); predictions are clamped
to it (ZoeDepth). Images with fewer than 10 valid pixels are skipped (DA2). Predictions are made at the GT resolution through ``DepthEstimator``,
exactly as the node and the CLI would make them.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from depth_anything_ros.inference import DepthEstimator
from depth_anything_ros.metrics import (
    depth_metrics,
    mean_metrics,
    median_scale,
    relative_depth_metrics,
    scale_jitter,
    typical_scale,
    valid_depth_mask,
)
from depth_anything_ros.scale import ScaleSettings, applied_factor, fit_anchors, scan_line_depth
from depth_anything_ros.training.data.registry import DatasetSpecError
from depth_anything_ros.training.stages.common import open_data

log = logging.getLogger(__name__)

MIN_VALID_PIXELS = 10
ANCHORED_FIT = ScaleSettings().fit_config()  # the node's and the bag's default anchor fit


def default_depth_range(model_max_depth: float | None) -> tuple[float, float]:
    """The range to score in when none is given: 1 mm to the model's max depth (else 80 m);
    ground truth outside it (sky, beyond the sensor's reach) is NaN in every dataset already."""
    return 1e-3, float(model_max_depth or 80.0)


# Columns of a metric model's evaluation (each a dict of mean metrics, or None when it does not
# apply).
COLUMNS = ("raw", "focal", "median_oracle", "anchored")


def _sample_fx(sample: dict) -> float | None:
    fx = float(np.asarray(sample.get("intrinsics", [np.nan]))[0])
    return fx if np.isfinite(fx) and fx > 0 else None


def evaluate_estimator(
    estimator: DepthEstimator, data: str, *, num: int | None = None,
    depth_range: tuple[float | None, float | None] | None = None,
    on_frame: Callable[..., None] | None = None,
) -> dict:
    """Mean per-image metrics of ``estimator`` on the first ``num`` items of ``data``.

    Metric models get the columns of ``COLUMNS``: ``raw`` (the network's metres, no focal
    correction), ``focal`` (× f/f_c from each sample's intrinsics, when the estimator's
    ``focal_correction`` applies and the sample has intrinsics), ``median_oracle`` (each frame
    rescaled by median(gt/pred), an upper bound for any per-frame *scale* fix) and ``anchored``
    (the deployed prediction through the fit `fit_anchors` finds from the simulated sparse
    sensor with the node's default settings: a scale, or scale·p + shift where that line
    explains more anchors; one fit per frame, unscaled where the fit refuses, as the node
    serves it; a line can beat the median oracle). Each
    carries ``scale_jitter`` (std of log per-frame median(gt/pred)) and ``scale`` (its geometric
    mean: > 1 means the prediction reads too near); anchored also ``applied_scale`` and
    ``applied_scale_jitter`` (the applied factors, median(anchored / prediction) per frame) and
    ``n_refused``. The top-level metrics are
    what the estimator delivers as deployed: ``focal`` when it applies, else ``raw``.

    ``on_frame(index=, sample=, prediction=, mask=, metrics=, depth_range=, metric=)`` is called
    for every scored image with the deployed prediction (``training/figures.py`` collects its
    figure this way).
    """
    def predict(sample: dict) -> tuple[np.ndarray, float]:
        result = estimator.predict(sample["image"], fx=_sample_fx(sample))
        return result.values, float(result.focal_scale)

    return _evaluate(predict, data, variant=estimator.config.variant, num=num,
                     depth_range=depth_range, model_max_depth=estimator.config.max_depth,
                     on_frame=on_frame, corrects_focal=estimator.corrects_focal)


def evaluate_predictor(
    predict: Callable[[np.ndarray], np.ndarray], data: str, *, variant: str,
    num: int | None = None, depth_range: tuple[float | None, float | None] | None = None,
    model_max_depth: float | None = None, on_frame: Callable[..., None] | None = None,
) -> dict:
    """Mean per-image metrics of ``predict(rgb) -> H×W`` (metres for ``variant`` "metric",
    disparity for "relative") on the first ``num`` items of ``data``: the one protocol for
    models and for the trivial baselines they are compared with (``training.baselines``)."""
    return _evaluate(lambda sample: (predict(sample["image"]), 1.0), data, variant=variant,
                     num=num, depth_range=depth_range, model_max_depth=model_max_depth,
                     on_frame=on_frame)


def _evaluate(
    predict: Callable[[dict], tuple[np.ndarray, float]], data: str, *, variant: str,
    num: int | None, depth_range: tuple[float | None, float | None] | None,
    model_max_depth: float | None,
    on_frame: Callable[..., None] | None, corrects_focal: bool = False,
) -> dict:
    """The loop behind both: ``predict(sample) -> (values as deployed, focal factor applied)``.
    ``corrects_focal``: the predictor would apply f/f_c given intrinsics (so images without
    them are worth a warning)."""
    dataset = open_data(data, num)
    lo, hi = default_depth_range(model_max_depth)
    if depth_range is not None:  # either end may be None: that end keeps its default
        lo = lo if depth_range[0] is None else depth_range[0]
        hi = hi if depth_range[1] is None else depth_range[1]
    metric = variant == "metric"
    rows: dict[str, list] = {"raw": [], "focal": [], "median_oracle": [], "anchored": []}
    scales: dict[str, list] = {"raw": [], "focal": [], "anchored": []}
    applied: list[float] = []
    skipped = 0
    for i in range(len(dataset)):
        sample = dataset[i]
        if "depth" not in sample:
            raise DatasetSpecError(f"{data}: item {i} has no depth; evaluation needs a labeled "
                                   "dataset (for a bag: &depth=<topic>)")
        gt = sample["depth"]
        mask = valid_depth_mask(gt, lo, hi)
        if mask.sum() < MIN_VALID_PIXELS:
            skipped += 1
            continue
        values, focal = predict(sample)
        fit = fit_anchors(values, scan_line_depth(np.where(mask, gt, np.nan)),
                          relative=not metric, config=ANCHORED_FIT)
        anchored = fit.apply(values) if fit.ok else None
        if fit.ok:
            applied.append(applied_factor(values, anchored) if metric else fit.scale)
        if not metric:
            rows["raw"].append(relative_depth_metrics(values, gt, mask, depth_range=(lo, hi)))
            if fit.ok:  # a relative model gives no metres without a fit
                rows["anchored"].append(depth_metrics(anchored, gt, mask, pred_range=(lo, hi)))
                scales["anchored"].append(median_scale(anchored, gt, mask))
            _report(on_frame, i, sample, values, mask, rows["raw"][-1], (lo, hi), metric)
            continue
        if anchored is None:  # refused: served unscaled, as the node does
            anchored = values
        rows["anchored"].append(depth_metrics(anchored, gt, mask, pred_range=(lo, hi)))
        scales["anchored"].append(median_scale(anchored, gt, mask))
        raw = values / np.float32(focal)
        predictions = {"raw": raw}
        if focal != 1.0:
            predictions["focal"] = values
        for name, pred in predictions.items():
            rows[name].append(depth_metrics(pred, gt, mask, pred_range=(lo, hi)))
            scales[name].append(median_scale(pred, gt, mask))
        oracle = scales["raw"][-1]  # median(gt / raw) of this frame
        if np.isfinite(oracle):
            rows["median_oracle"].append(
                depth_metrics(raw * oracle, gt, mask, pred_range=(lo, hi)))
        deployed = "focal" if focal != 1.0 else "raw"
        _report(on_frame, i, sample, values, mask, rows[deployed][-1], (lo, hi), metric)
    if skipped:
        log.info("%s: skipped %d images with < %d valid pixels", data, skipped, MIN_VALID_PIXELS)
    if not rows["raw"]:
        raise DatasetSpecError(f"{data}: none of its {len(dataset)} images has {MIN_VALID_PIXELS} "
                               f"valid depth pixels within {lo:g}–{hi:g} m: nothing to score")
    if metric and rows["focal"] and len(rows["focal"]) != len(rows["raw"]):
        log.warning("%s: %d of %d images had no intrinsics; 'focal' covers only the others",
                    data, len(rows["raw"]) - len(rows["focal"]), len(rows["raw"]))
    elif metric and corrects_focal and not rows["focal"]:
        log.warning("%s: no image had intrinsics, so no 'focal' column: this model's depth is "
                    "for its canonical camera (for a bag: &camera_info=<topic>)", data)
    columns: dict = {name: mean_metrics(rows[name]) if rows.get(name) else None for name in COLUMNS}
    for name in ("raw", "focal", "anchored"):
        if columns[name] is not None and (metric or name == "anchored"):
            columns[name]["scale_jitter"] = scale_jitter(scales[name])
            columns[name]["scale"] = typical_scale(scales[name])
    if columns["anchored"] is not None:
        columns["anchored"]["applied_scale"] = typical_scale(applied)
        columns["anchored"]["applied_scale_jitter"] = scale_jitter(applied)
        columns["anchored"]["n_refused"] = len(rows["raw"]) - len(applied)
    deployed = "focal" if columns["focal"] is not None else "raw"
    result = dict(columns[deployed])
    result["min_depth"], result["max_depth"] = lo, hi
    if metric:
        result["deployed"] = deployed
        result.update(columns)
    else:
        result["anchored"] = columns["anchored"]
    return result


def _report(on_frame, index, sample, prediction, mask, metrics, depth_range, metric) -> None:
    if on_frame is not None:
        on_frame(index=index, sample=sample, prediction=prediction, mask=mask, metrics=metrics,
                 depth_range=depth_range, metric=metric)


def evaluate_weights(
    weights: str | Path, data: str, *, num: int | None = None, device: str = "auto",
    depth_range: tuple[float | None, float | None] | None = None, input_size: int | None = None,
    on_frame: Callable[..., None] | None = None, focal_correction: str = "auto",
) -> dict:
    """Load ``weights`` (any supported checkpoint) and evaluate them on ``data``."""
    estimator = DepthEstimator.from_weights(weights, device=device, input_size=input_size,
                                            focal_correction=focal_correction)
    return evaluate_estimator(estimator, data, num=num, depth_range=depth_range,
                              on_frame=on_frame)


TABLE_KEYS = ("abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog", "delta1", "delta2",
              "delta3")


def format_table(metrics: dict) -> str:
    """One row per column (raw, focal, median_oracle, anchored) of a metric model's evaluation;
    one row for a relative model. Columns that do not apply print as '-'."""
    keys = (*TABLE_KEYS, "scale", "scale_jitter")
    head = f"{'':>14} " + " ".join(f"{k:>12}" for k in keys) + f" {'n_images':>9}"
    if "deployed" in metrics:
        named = [(n, metrics.get(n)) for n in COLUMNS]
    else:  # relative: the disparity-aligned row, then metres from the anchors
        named = [("relative", metrics), ("anchored", metrics.get("anchored"))]
    lines = [head]
    for name, row in named:
        if row is None:
            lines.append(f"{name:>14} " + " ".join(f"{'-':>12}" for _ in keys) + f" {'-':>9}")
            continue
        cells = [f"{row[k]:12.4f}" if k in row else f"{'-':>12}" for k in keys]
        lines.append(f"{name:>14} " + " ".join(cells) + f" {int(row['n_images']):9d}")
    return "\n".join(lines)


__all__ = ["COLUMNS", "evaluate_estimator", "evaluate_predictor", "evaluate_weights",
           "format_table", "default_depth_range"]
