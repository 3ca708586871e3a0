"""Least-squares scale-and-shift alignment in disparity (REFERENCE.md §4)."""
import numpy as np
import pytest

from depth_anything_ros.scale.disparity import disparity_to_depth, fit_disparity_scale_shift


def test_fit_recovers_the_affine_map_from_output_to_inverse_depth():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 10.0, (20, 30))
    output = (1.0 / depth - 0.05) / 0.2  # so 1/depth = 0.05 + 0.2 * output
    scale, shift = fit_disparity_scale_shift(output, depth)
    assert scale == pytest.approx(0.2, rel=1e-9)
    assert shift == pytest.approx(0.05, abs=1e-9)
    np.testing.assert_allclose(disparity_to_depth(output, scale, shift), depth, rtol=1e-5)


def test_fit_uses_only_masked_finite_positive_ground_truth():
    output = np.array([[1.0, 2.0], [3.0, 4.0]])
    depth = np.array([[1.0, 0.5], [np.nan, 0.0]])  # 1/d = 1, 2 on the two valid pixels
    mask = np.array([[True, True], [True, True]])
    scale, shift = fit_disparity_scale_shift(output, depth, mask)
    assert (scale, shift) == pytest.approx((1.0, 0.0))
    with pytest.raises(ValueError, match="at least 2 valid pixels"):
        fit_disparity_scale_shift(output, depth, np.array([[True, False], [False, False]]))


def test_fit_hand_computed_least_squares_solution():
    # x = [0, 1, 2], y = 1/d = [1, 2, 4]: slope = cov/var = 1.5, intercept = 7/3 − 1.5 = 5/6
    output = np.array([0.0, 1.0, 2.0])
    depth = 1.0 / np.array([1.0, 2.0, 4.0])
    scale, shift = fit_disparity_scale_shift(output, depth)
    assert scale == pytest.approx(1.5)
    assert shift == pytest.approx(5.0 / 6.0)


def test_disparity_to_depth_marks_non_positive_aligned_disparity_invalid():
    depth = disparity_to_depth(np.array([1.0, 0.0, -1.0]), 1.0, 0.0)
    assert depth.dtype == np.float32
    assert depth[0] == 1.0 and np.isnan(depth[1]) and np.isnan(depth[2])


def test_fit_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        fit_disparity_scale_shift(np.ones((2, 2)), np.ones((2, 3)))


def test_weights_pull_the_fit_towards_heavily_weighted_pixels():
    # Two exact lines disagree; the pixels weighted 1000× decide the answer.
    output = np.array([0.0, 1.0, 2.0, 0.0, 1.0, 2.0])
    inverse = np.array([1.0, 2.0, 3.0, 1.0, 3.0, 5.0])  # slope 1 (first 3), slope 2 (last 3)
    weights = np.array([1000.0, 1000.0, 1000.0, 1.0, 1.0, 1.0])
    scale, shift = fit_disparity_scale_shift(output, 1.0 / inverse, weights=weights)
    assert scale == pytest.approx(1.0, abs=2e-3) and shift == pytest.approx(1.0, abs=2e-3)
    scale, shift = fit_disparity_scale_shift(output, 1.0 / inverse, weights=weights[::-1])
    assert scale == pytest.approx(2.0, abs=2e-3) and shift == pytest.approx(1.0, abs=2e-3)


def test_infinite_or_overflowing_disparity_has_no_depth():
    # an fp16 export can overflow to +inf: 1/inf = 0 m is no depth, nor 0 from an underflow
    depth = disparity_to_depth(np.array([np.inf, 1e300, 2.0]), 1.0, 0.0)
    assert np.isnan(depth[:2]).all() and depth[2] == np.float32(0.5)


def test_non_finite_predictions_are_left_out_of_the_fit():
    """An fp16 export can output inf or NaN at a few pixels: they carry no scale information and
    must not turn the fitted scale and shift (so the whole depth image) into NaN."""
    rng = np.random.default_rng(1)
    depth = rng.uniform(0.5, 10.0, (6, 8))
    output = (1.0 / depth - 0.05) / 0.2
    output[0, :3] = [np.inf, np.nan, -np.inf]
    scale, shift = fit_disparity_scale_shift(output, depth)
    assert scale == pytest.approx(0.2, rel=1e-9) and shift == pytest.approx(0.05, abs=1e-9)


def test_a_constant_prediction_fits_no_scale_and_the_mean_inverse_depth():
    """A flat output (a blank frame) says nothing about scale: scale 0 and shift = mean of 1/gt,
    so the depth is one finite value, not a division by the zero variance of the output."""
    depth = np.array([[1.0, 2.0, 4.0], [0.5, 1.0, 8.0]])
    output = np.full(depth.shape, 0.7)
    scale, shift = fit_disparity_scale_shift(output, depth)
    assert scale == 0.0 and shift == pytest.approx(np.mean(1.0 / depth))
    np.testing.assert_allclose(disparity_to_depth(output, scale, shift), 1.0 / np.mean(1.0 / depth),
                               rtol=1e-6)
