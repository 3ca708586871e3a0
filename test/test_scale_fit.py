"""Robust per-frame scale from sparse metric anchors (scale/anchors.py, scale/fit.py)."""
import numpy as np
import pytest

from depth_anything_ros.conversions import encode_depth
from depth_anything_ros.scale import (
    Anchors,
    FitConfig,
    decode_sparse_depth,
    fit_anchors,
    scan_line_depth,
)

H, W = 96, 128


def scene(seed=0):
    """A smooth random depth field 0.8–8 m (so anchors span a real depth range)."""
    rng = np.random.default_rng(seed)
    v, u = np.mgrid[0:H, 0:W] / np.array([H, W])[:, None, None]
    field = 0.8 + 7.2 * (0.5 + 0.5 * np.sin(3 * u + 2 * v + rng.uniform(0, 6)) * np.cos(2 * v))
    return field.astype(np.float64)


def with_outliers(sparse, fraction, seed=1):
    """`fraction` of the anchors replaced by depths 2–5× too near or too far."""
    rng = np.random.default_rng(seed)
    out = sparse.copy().reshape(-1)
    idx = np.flatnonzero(np.isfinite(out))
    bad = rng.choice(idx, round(fraction * idx.size), replace=False)
    factor = rng.uniform(2.0, 5.0, bad.size) ** rng.choice([-1.0, 1.0], bad.size)
    out[bad] *= factor
    return out.reshape(sparse.shape), bad.size


def test_scan_line_sensor_keeps_three_rows_and_every_eighth_column():
    depth = scene()
    sparse = scan_line_depth(depth)
    rows, cols = np.nonzero(np.isfinite(sparse))
    assert sorted(set(rows)) == [24, 48, 72]
    assert sorted(set(cols)) == list(range(0, W, 8))
    np.testing.assert_array_equal(sparse[rows, cols], depth[rows, cols].astype(np.float32))


def test_metric_scale_is_recovered_under_30_percent_outliers():
    truth = scene()
    rng = np.random.default_rng(2)
    prediction = truth / 2.3 * np.exp(rng.normal(0, 0.03, truth.shape))  # reads 2.3× too near
    sparse, n_bad = with_outliers(scan_line_depth(truth), 0.30)
    fit = fit_anchors(prediction, sparse, relative=False)
    assert fit.ok, fit.reason
    assert fit.scale == pytest.approx(2.3, rel=0.02)
    assert fit.anchors == 48 and fit.inliers == 48 - n_bad
    assert fit.residual < 0.05
    np.testing.assert_allclose(fit.apply(prediction), prediction * fit.scale, rtol=1e-6)


def test_relative_scale_and_shift_are_recovered_under_30_percent_outliers():
    truth = scene(3)
    rng = np.random.default_rng(4)
    scale, shift = 0.4, 0.08  # 1/depth = 0.4·disparity + 0.08
    disparity = (1.0 / truth - shift) / scale * np.exp(rng.normal(0, 0.01, truth.shape))
    sparse, n_bad = with_outliers(scan_line_depth(truth, column_step=4), 0.30)
    fit = fit_anchors(disparity, sparse, relative=True)
    assert fit.ok, fit.reason
    assert fit.scale == pytest.approx(scale, rel=0.03)
    assert fit.shift == pytest.approx(shift, abs=0.01)
    assert fit.inliers == fit.anchors - n_bad
    valid = np.isfinite(truth)
    np.testing.assert_allclose(fit.apply(disparity)[valid], truth[valid], rtol=0.05)


LINE = FitConfig(metric_model="scale_shift")


def test_a_metric_line_is_recovered_under_30_percent_outliers_and_beats_one_scale():
    truth = scene(5)
    rng = np.random.default_rng(8)
    scale, shift = 0.8, 0.6  # depth = 0.8·p + 0.6: the model stretches the depth range
    prediction = (truth - shift) / scale * np.exp(rng.normal(0, 0.01, truth.shape))
    sparse, n_bad = with_outliers(scan_line_depth(truth, column_step=4), 0.30)
    fit = fit_anchors(prediction, sparse, relative=False, config=LINE)
    assert fit.ok, fit.reason
    assert (fit.scale, fit.shift) == pytest.approx((scale, shift), rel=0.03)
    assert fit.inliers == fit.anchors - n_bad
    inside = (prediction >= fit.span[0]) & (prediction <= fit.span[1])
    assert inside.mean() > 0.8  # the anchors' predictions cover most of the image
    np.testing.assert_allclose(fit.apply(prediction)[inside], truth[inside], rtol=0.04)
    plain = fit_anchors(prediction, sparse, relative=False)  # one scale cannot follow it
    assert np.max(np.abs(plain.apply(prediction)[inside] / truth[inside] - 1)) > 0.15


def test_beyond_its_span_a_metric_line_holds_the_factor_at_the_end():
    truth = scene(5)
    prediction = (truth - 0.6) / 0.8
    fit = fit_anchors(prediction, scan_line_depth(truth, column_step=4), relative=False,
                      config=LINE)
    lo, hi = fit.span
    near, far = np.array([[lo / 4, lo / 40]]), np.array([[hi * 3]])
    # the line is not extrapolated: 0.8·p + 0.6 would put a near obstacle at ≥ 0.6 m
    np.testing.assert_allclose(fit.apply(near), (fit.scale + fit.shift / lo) * near, rtol=1e-5)
    np.testing.assert_allclose(fit.apply(far), (fit.scale + fit.shift / hi) * far, rtol=1e-5)
    assert fit.apply(near)[0, 1] < 0.1


def test_a_metric_line_falls_back_to_one_scale_when_a_scale_explains_the_anchors():
    truth = scene(5)
    exact = fit_anchors(truth / 2.3, scan_line_depth(truth), relative=False, config=LINE)
    assert exact.scale == pytest.approx(2.3) and exact.shift == 0 and exact.span is None
    flat_wall = sparse_at([(r, c) for r in (20, 60) for c in range(0, W, 4)], depth=2.5)
    narrow = fit_anchors(scene(), flat_wall, relative=False, config=LINE)  # no depth spread
    assert narrow.ok and narrow.shift == 0 and narrow.span is None


def test_a_dense_depth_image_is_subsampled_and_fits_the_same_scale():
    truth = scene(5)
    dense = np.where(np.random.default_rng(6).random(truth.shape) < 0.3, np.nan, truth)
    fit = fit_anchors(truth / 1.7, dense, relative=False, config=FitConfig(max_anchors=500))
    assert fit.ok and fit.anchors == 500
    assert fit.scale == pytest.approx(1.7, rel=1e-6)


def test_anchors_where_the_prediction_is_invalid_are_left_out():
    truth = scene()
    prediction = truth / 2.0
    prediction[24, :64] = np.nan  # half of the first scan line
    prediction[48, :64] = 0.0  # a metric prediction of 0 m carries no scale
    fit = fit_anchors(prediction, scan_line_depth(truth), relative=False)
    assert fit.anchors == 48 - 16 and fit.scale == pytest.approx(2.0)


def sparse_at(points, depth=3.0):
    sparse = np.full((H, W), np.nan)
    for r, c in points:
        sparse[r, c] = depth if np.isscalar(depth) else depth[r, c]
    return sparse


@pytest.mark.parametrize("relative", [False, True])
def test_too_few_degenerate_or_mismatched_anchors_are_refused_with_a_reason(relative):
    prediction = scene() / 2.0
    cases = {
        "no_anchors": (np.full((H, W), np.nan), "every sparse depth value is NaN or ≤ 0"),
        "few_anchors": (sparse_at([(10, c) for c in range(0, 120, 8)]),
                        "only 15 anchors where the prediction is valid; need at least 20"),
        "coverage": (sparse_at([(r, c) for r in range(5) for c in range(6)]),
                     "anchors span only 5% of the image width or height; need 10%"),
        "size": (np.ones((H, W + 1)), "sparse depth is 129×96 but the image is 128×96"),
    }
    for code, (sparse, text) in cases.items():
        fit = fit_anchors(prediction, sparse, relative=relative)
        assert not fit.ok and fit.code == code and text in fit.reason, (code, fit.reason)
        assert np.isnan(fit.scale)
    negative = np.where(np.isfinite(scan_line_depth(scene())), -1.0, np.nan)
    assert fit_anchors(prediction, negative, relative=relative).code == "no_anchors"


def test_a_relative_fit_needs_anchors_at_different_depths():
    flat_wall = sparse_at([(r, c) for r in (20, 60) for c in range(0, W, 4)], depth=2.5)
    fit = fit_anchors(scene(), flat_wall, relative=True)
    assert fit.code == "depth_spread"
    assert "anchor depths span only ×1.00" in fit.reason and "scale from shift" in fit.reason
    # the same anchors are fine for a metric model: one depth fixes one scale
    assert fit_anchors(scene(), flat_wall, relative=False).ok
    constant = fit_anchors(np.ones((H, W)), scan_line_depth(scene()), relative=True)
    assert constant.code == "flat_prediction"


def test_anchors_that_agree_on_no_scale_are_refused():
    rng = np.random.default_rng(7)
    truth = scene()
    noise = np.exp(rng.uniform(-6, 6, truth.shape))  # every anchor off by up to e^6
    fit = fit_anchors(truth, scan_line_depth(truth * noise), relative=False)
    assert fit.code == "inliers" and "agree with one scale" in fit.reason


def test_anchors_object_round_trips_a_sparse_image():
    sparse = scan_line_depth(scene())
    anchors = Anchors.from_depth_image(sparse)
    assert len(anchors) == 48 and anchors.shape == (H, W)
    assert anchors.coverage() == pytest.approx((120 + 1) / W)
    np.testing.assert_array_equal(anchors.depth, sparse[anchors.rows, anchors.cols])


def test_sparse_depth_messages_are_decoded_or_refused_with_the_field_named():
    sparse = scan_line_depth(scene())
    for encoding in ("32FC1", "16UC1"):
        enc, step, data = encode_depth(sparse, encoding)
        depth, why = decode_sparse_depth(enc, H, W, step, False, data, "cam", "cam")
        assert why is None
        np.testing.assert_allclose(depth, sparse, rtol=1e-3)  # NaN where 16UC1 had 0
    enc, step, data = encode_depth(sparse)
    assert "frame_id 'lidar' differs from the image's 'cam'" in decode_sparse_depth(
        enc, H, W, step, False, data, "lidar", "cam")[1]
    # an unnamed frame says nothing about registration either
    assert "frame_id '' differs from the image's 'cam'" in decode_sparse_depth(
        enc, H, W, step, False, data, "", "cam")[1]
    assert "encoding 'mono8' is not 32FC1" in decode_sparse_depth(
        "mono8", H, W, W, False, bytes(H * W), "cam", "cam")[1]
    assert "does not fit its 100 bytes" in decode_sparse_depth(
        enc, H, W, step, False, data[:100], "cam", "cam")[1]


def test_a_dense_image_keeps_a_spread_out_subset_of_max_anchors():
    dense = scene()
    anchors = Anchors.from_depth_image(dense, max_anchors=300)
    assert len(anchors) == 300 and len(set(zip(anchors.rows, anchors.cols))) == 300
    assert anchors.coverage() > 0.9 and anchors.rows.min() < 10 and anchors.rows.max() > H - 10
    np.testing.assert_array_equal(anchors.depth, dense[anchors.rows, anchors.cols])


def test_two_far_outliers_do_not_give_a_flat_wall_the_depth_spread_of_a_relative_fit():
    # A relative model needs anchors at truly different depths to tell scale from shift. Two
    # stray lidar returns through a doorway must not make a wall at 2 m look like a deep scene:
    # the spread is judged between the 5th and 95th percentile, not the extremes.
    rng = np.random.default_rng(9)
    points = [(r, c) for r in range(8, 88, 8) for c in range(0, 120, 6)]  # 200 on the wall
    depth = np.full((H, W), np.nan)
    for r, c in points:
        depth[r, c] = 2.0 * rng.uniform(0.99, 1.01)
    depth[90, 60] = depth[90, 64] = 6.0  # through the doorway
    fit = fit_anchors(1.0 / scene(), depth, relative=True)
    assert fit.code == "depth_spread" and fit.anchors == 202
    assert "anchor depths span only ×1.0" in fit.reason


def test_subsampled_anchors_are_drawn_from_the_whole_image_not_its_first_rows():
    # A registered RGB-D image arrives row by row: keeping its first max_anchors pixels would
    # fit the scale on the top strip of the image alone (here a far wall) and ignore the rest.
    v = np.arange(100)[:, None] * np.ones((1, 100))
    dense = np.where(v < 40, 2.0, 1.0)  # top 40 % of the rows at 2 m, the rest at 1 m
    anchors = Anchors.from_depth_image(dense)  # all 10 000 pixels, in row order
    fit = fit_anchors(np.ones((100, 100)), anchors, relative=False,
                      config=FitConfig(max_anchors=1000))
    assert fit.ok and fit.anchors == 1000
    assert fit.scale == pytest.approx(1.0)  # the majority, spread over all rows


def test_the_consensus_seed_takes_every_vote_within_twice_the_tolerance():
    # The floor's votes spread over ±tolerance around its scale; the consensus seed must take
    # the whole window (width 2·tolerance), not its near half, or the seed of a floor fit
    # starts from part of the floor.
    from depth_anything_ros.scale.fit import _densest_window

    votes = np.array([0.30, 0.00, 0.05, 0.10, 0.15, 0.19, 0.45, 0.62])
    np.testing.assert_array_equal(_densest_window(votes, 0.1),
                                  [False, True, True, True, True, True, False, False])


def test_a_metric_line_is_not_fitted_to_anchors_at_nearly_one_depth():
    # Anchors within ×1.25 in depth (a wall, a tilted desk) cannot tell a slope: a model that
    # flattens them to a 3.5 % spread in prediction would get a ×12.6 slope with a −10.8 m
    # shift. One scale is the answer there.
    rng = np.random.default_rng(0)
    prediction = rng.uniform(1.0, 1.035, (40, 50))
    depth = (1.78 + (prediction - 1.0) / 0.035 * 0.44) * np.exp(rng.normal(0, 0.01, (40, 50)))
    lo, hi = np.percentile(depth, [5, 95])
    assert hi < 1.25 * lo  # less than min_depth_ratio
    fit = fit_anchors(prediction, depth, relative=False, config=LINE)
    assert fit.ok and fit.shift == 0 and fit.span is None
    assert fit.scale == pytest.approx(1.97, rel=0.01)
