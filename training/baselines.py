"""Trivial depth predictors that any trained model must beat on held-out data.

A model that learnt nothing about the image still scores well on a synthetic room: the floor is
near, the centre far. Two predictors know only the *training labels*, never the test image:

* ``constant_median``: the median of every valid training depth, at every pixel;
* ``median_map``: the per-pixel median of the training depth maps (the scene layout prior).

They are scored by :func:`~depth_anything_ros.training.stages.evaluate.evaluate_predictor`, the
same protocol as a model: raw for ``variant="metric"``; for ``"relative"`` their disparity
(1/depth) gets the same per-image scale-and-shift fit a relative model gets.
"""
from __future__ import annotations

import warnings

import cv2
import numpy as np

from depth_anything_ros.training.stages.common import open_data
from depth_anything_ros.training.stages.evaluate import evaluate_predictor

BASELINES = ("constant_median", "median_map")


def training_depth_priors(train_data: str, num: int | None = None) -> tuple[float, np.ndarray]:
    """(median of all valid depths, per-pixel median map) over the first ``num`` training items.

    Every item must have the same size (the map is per pixel); pixels never valid in training
    take the global median.
    """
    dataset = open_data(train_data, num)
    maps = []
    for i in range(len(dataset)):
        sample = dataset[i]
        if "depth" not in sample:
            raise ValueError(f"{train_data}: item {i} has no depth; baselines need labeled data")
        if maps and sample["depth"].shape != maps[0].shape:
            raise ValueError(f"{train_data}: item {i} is {sample['depth'].shape}, item 0 "
                             f"{maps[0].shape}; a per-pixel median needs one size")
        maps.append(np.where(sample["valid"], sample["depth"], np.nan).astype(np.float32))
    stack = np.stack(maps)
    constant = float(np.nanmedian(stack))
    with warnings.catch_warnings():  # all-NaN pixels are expected (never valid)
        warnings.simplefilter("ignore", RuntimeWarning)
        median_map = np.nanmedian(stack, axis=0)
    return constant, np.where(np.isfinite(median_map), median_map, constant).astype(np.float32)


def evaluate_baselines(
    train_data: str, test_data: str, *, variant: str, num_train: int | None = None,
    num_test: int | None = None, depth_range: tuple[float, float] | None = None,
    model_max_depth: float | None = None,
) -> dict[str, dict[str, float]]:
    """Metrics of each baseline on ``test_data`` (name → the dict ``evaluate_predictor`` gives)."""
    constant, median_map = training_depth_priors(train_data, num_train)

    def as_output(depth: np.ndarray) -> np.ndarray:
        return depth if variant == "metric" else 1.0 / depth

    def constant_prediction(rgb: np.ndarray) -> np.ndarray:
        return as_output(np.full(rgb.shape[:2], constant, np.float32))

    def map_prediction(rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        resized = median_map if median_map.shape == (h, w) else cv2.resize(
            median_map, (w, h), interpolation=cv2.INTER_LINEAR)
        return as_output(resized)

    predictors = {"constant_median": constant_prediction, "median_map": map_prediction}
    return {name: evaluate_predictor(fn, test_data, variant=variant, num=num_test,
                                     depth_range=depth_range, model_max_depth=model_max_depth)
            for name, fn in predictors.items()}


__all__ = ["BASELINES", "evaluate_baselines", "training_depth_priors"]
