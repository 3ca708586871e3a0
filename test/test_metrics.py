"""Depth metrics on hand-made arrays with hand-computed values (REFERENCE.md §6)."""
import math

import numpy as np
import pytest

from depth_anything_ros.metrics import (METRIC_NAMES, depth_metrics, mean_metrics,
                                        median_scale, relative_depth_metrics,
                                        scale_jitter, typical_scale, valid_depth_mask)


def test_metrics_of_a_hand_made_pair():
    gt = np.array([1.0, 2.0, 4.0, 5.0])
    pred = np.array([1.0, 2.5, 2.0, 5.0])
    m = depth_metrics(pred, gt)
    # |g−p|/g = 0, .25, .5, 0 ; (g−p)²/g = 0, .125, 1, 0 ; (g−p)² = 0, .25, 4, 0
    assert m["abs_rel"] == pytest.approx(0.1875)
    assert m["sq_rel"] == pytest.approx(1.125 / 4)
    assert m["rmse"] == pytest.approx(math.sqrt(4.25 / 4))
    e = np.log([1.0, 1.25, 0.5, 1.0])
    assert m["rmse_log"] == pytest.approx(math.sqrt(np.mean(e**2)))
    assert m["log10"] == pytest.approx(np.mean(np.abs(np.log10([1, 1.25, 0.5, 1]))))
    assert m["silog"] == pytest.approx(math.sqrt(np.mean(e**2) - 0.5 * np.mean(e) ** 2))
    # ratios max(g/p, p/g) = 1, 1.25, 2, 1 → strict "< 1.25^k"
    assert m["delta1"] == pytest.approx(0.5)
    assert m["delta2"] == pytest.approx(0.75)
    assert m["delta3"] == pytest.approx(0.75)  # 2 > 1.953125


def test_metrics_ignore_pixels_outside_the_mask_and_invalid_ground_truth():
    gt = np.array([[2.0, np.nan], [0.0, 3.0]])
    pred = np.array([[2.0, -5.0], [7.0, 3.0]])
    m = depth_metrics(pred, gt)
    assert m["abs_rel"] == 0.0 and m["delta1"] == 1.0
    m2 = depth_metrics(pred, gt, mask=np.array([[False, True], [True, True]]))
    assert m2["rmse"] == 0.0


def test_metrics_reject_non_positive_predictions_unless_a_range_clamps_them():
    gt = np.array([1.0, 2.0])
    with pytest.raises(ValueError, match="non-positive"):
        depth_metrics(np.array([1.0, 0.0]), gt)
    m = depth_metrics(np.array([1.0, np.nan]), gt, pred_range=(2.0, 10.0))
    assert m["abs_rel"] == pytest.approx(0.5)  # NaN → 2 (exact), 1 → 2 (error 1/1)


def test_perfect_prediction_scores_zero_error_and_full_delta():
    gt = np.linspace(0.5, 9.0, 50).reshape(5, 10)
    m = depth_metrics(gt.copy(), gt)
    assert all(m[k] == pytest.approx(0.0, abs=1e-12) for k in ("abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog"))
    assert m["delta1"] == m["delta2"] == m["delta3"] == 1.0


def test_relative_metrics_align_an_affine_disparity_exactly():
    gt = np.linspace(1.0, 8.0, 64).reshape(8, 8)
    disparity = 3.0 / gt + 0.7  # an affine map of inverse depth
    m = relative_depth_metrics(disparity, gt, depth_range=(1e-3, 10.0))
    assert m["abs_rel"] == pytest.approx(0.0, abs=1e-6)
    assert m["delta1"] == 1.0


def test_valid_depth_mask_is_inclusive_of_the_range():
    mask = valid_depth_mask(np.array([0.0005, 0.001, 5.0, 10.0, 10.5, np.inf]), 1e-3, 10.0)
    assert mask.tolist() == [False, True, True, True, False, False]


def test_mean_metrics_averages_per_image_and_counts_images():
    rows = [{k: 1.0 for k in METRIC_NAMES}, {k: 3.0 for k in METRIC_NAMES}]
    out = mean_metrics(rows)
    assert out["abs_rel"] == 2.0 and out["n_images"] == 2
    with pytest.raises(ValueError):
        mean_metrics([])


def test_relative_metrics_score_beyond_infinity_pixels_as_the_far_limit():
    """MiDaS protocol: aligned disparity ≤ 1/max_depth means 'farther than anything' → max_depth."""
    from depth_anything_ros.scale.disparity import fit_disparity_scale_shift

    gt = np.array([1.0, 2.0, 4.0, 8.0, 10.0])
    disparity = np.array([1.0, 0.5, 0.25, 0.125, -2.0])
    scale, shift = fit_disparity_scale_shift(disparity, gt)
    aligned = shift + scale * disparity
    assert aligned[4] < 0  # the last pixel lands beyond infinity
    expected_pred = np.append(1.0 / aligned[:4], 10.0)
    got = relative_depth_metrics(disparity, gt, depth_range=(1e-3, 10.0))
    assert got == pytest.approx(depth_metrics(expected_pred, gt))
    # the last pixel is exact (10 m), so it adds nothing to abs_rel:
    assert got["abs_rel"] == pytest.approx(np.mean(np.abs(gt[:4] - expected_pred[:4]) / gt[:4]) * 4 / 5)


def test_median_scale_is_the_factor_that_takes_the_prediction_to_the_truth():
    gt = np.array([2.0, 4.0, 6.0, 0.0, np.nan])
    pred = np.array([1.0, 1.0, 2.0, 1.0, 1.0])  # gt/pred 2, 4, 3 where gt is valid
    assert median_scale(pred, gt) == 3.0
    assert median_scale(pred, gt, mask=np.array([True, True, False, True, True])) == 3.0
    assert math.isnan(median_scale(pred, np.zeros(5)))


def test_scale_jitter_and_the_typical_scale_of_per_frame_scales():
    """scale_jitter is #11's stability figure: one frame has no jitter to speak of (NaN, not a
    perfect 0); the typical scale is the geometric mean, the centre the jitter spreads around."""
    assert math.isnan(scale_jitter([2.0])) and math.isnan(scale_jitter([2.0, np.nan, -1.0]))
    assert scale_jitter([1.0, 4.0]) == pytest.approx(math.log(2.0))  # logs 0, ln 4: std ln 2
    assert typical_scale([1.0, 1.0, 4.0]) == pytest.approx(4 ** (1 / 3))
    assert math.isnan(typical_scale([np.nan, 0.0]))
