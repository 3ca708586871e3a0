"""The shipped default model: small, metric, loadable, and its model card's numbers reproduce."""
import json
from pathlib import Path

import numpy as np
import pytest

from depth_anything_ros.inference import DepthEstimator, DepthKind
from depth_anything_ros.model import default_weights_path, inspect_checkpoint

CARD = Path(__file__).resolve().parents[1] / "models" / "default.metrics.json"


def test_default_model_is_a_small_metric_checkpoint_that_the_estimator_loads():
    path = default_weights_path()
    assert path.is_file(), f"shipped model missing at {path}"
    assert path.stat().st_size <= 15 * 1024 * 1024
    config = inspect_checkpoint(path)
    assert config.variant == "metric" and config.max_depth == 20.0
    assert (config.canonical_focal, config.focal_origin) == (0.7, "canonical")  # the card's f_c
    estimator = DepthEstimator.from_weights(None, device="cpu")
    rgb = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    result = estimator.predict(rgb)
    assert result.kind is DepthKind.METRIC_DEPTH
    assert result.values.shape == (480, 640)
    assert np.isfinite(result.values).all()
    assert ((result.values > 0) & (result.values <= 20.0)).all()


def test_evaluate_reproduces_the_model_card_numbers():
    from depth_anything_ros.training.stages.evaluate import evaluate_weights

    card = json.loads(CARD.read_text())
    measured = evaluate_weights(str(default_weights_path()), card["data"], device="cpu")
    for name, expected in card["metrics"].items():
        assert measured[name] == pytest.approx(expected, rel=1e-3, abs=1e-4), name
