"""Trivial baselines (training/baselines.py) from a hand-made folder dataset: the priors are
medians of the valid training depths, and every pixel of the layout map has a depth."""
import cv2
import numpy as np
import pytest

from depth_anything_ros.training.baselines import evaluate_baselines, training_depth_priors


def _write(root, frames):
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    for i, depth in enumerate(frames):
        rgb = np.full((*depth.shape, 3), 40 * i, np.uint8)
        cv2.imwrite(str(root / "rgb" / f"{i:03d}.png"), rgb)
        np.save(root / "depth" / f"{i:03d}.npy", depth.astype(np.float32))
    return f"folder:{root}"


def _layout(height=6, width=8):
    """A room-like prior: near at the bottom rows, far at the top."""
    return np.repeat(np.linspace(6.0, 2.0, height)[:, None], width, axis=1)


def test_priors_are_medians_of_valid_depths_and_never_valid_pixels_take_the_global_median(tmp_path):
    """One frame of three is an outlier (9× farther): a median ignores it, a mean would not;
    a pixel that is NaN in every frame must still get a depth (the global median)."""
    base = _layout()
    frames = [base.copy(), 1.25 * base, 9.0 * base]
    for f in frames:
        f[0, 0] = np.nan  # never valid
    frames[0][2, 3] = np.nan  # valid in two frames only: median of those two
    spec = _write(tmp_path / "train", frames)
    constant, median_map = training_depth_priors(spec)
    valid = np.concatenate([f[np.isfinite(f)] for f in frames])
    assert constant == pytest.approx(float(np.median(valid)), rel=1e-6)
    assert median_map.dtype == np.float32 and np.isfinite(median_map).all()
    assert median_map[0, 0] == pytest.approx(constant, rel=1e-6)
    everywhere = np.ones(base.shape, bool)
    everywhere[0, 0] = everywhere[2, 3] = False
    np.testing.assert_allclose(median_map[everywhere], 1.25 * base[everywhere], rtol=1e-6)
    assert median_map[2, 3] == pytest.approx((1.25 + 9.0) / 2 * base[2, 3], rel=1e-6)


def test_layout_prior_scores_a_test_frame_of_that_layout_at_another_size(tmp_path):
    """A held-out frame showing the training layout at twice the (non-square) size: the map,
    resized to it, is near perfect in metres; the constant is not; neither is NaN."""
    base = _layout()
    train = _write(tmp_path / "train", [base, base, 9.0 * base])
    test_frame = np.repeat(np.repeat(base, 2, axis=0), 2, axis=1)
    test = _write(tmp_path / "test", [test_frame])
    scores = evaluate_baselines(train, test, variant="metric", model_max_depth=80.0)
    layout, constant = scores["median_map"]["abs_rel"], scores["constant_median"]["abs_rel"]
    assert np.isfinite(layout) and np.isfinite(constant)
    assert layout < 0.05 < constant
