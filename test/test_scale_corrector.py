"""`ScaleCorrector`, the per-camera object node and bag share: fit → filter → apply, holding
the last scale for a while, and saying why when it cannot anchor."""
import math
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from depth_anything_ros.scale import ScaleCorrector, ScaleSettings, scan_line_depth

H, W = 48, 64


def truth():
    v, u = np.mgrid[0:H, 0:W]
    return (1.0 + 4.0 * u / W + v / H).astype(np.float64)


def test_sparse_depth_anchors_a_metric_prediction_and_holds_the_scale_briefly():
    corrector = ScaleCorrector(ScaleSettings("sparse_depth", max_age_s=1.0), relative=False)
    prediction = (truth() / 2.0).astype(np.float32)
    first = corrector.correct(prediction, 10.0, sparse_depth=scan_line_depth(truth()))
    assert first.state == "anchored" and first.filter_event == "first"
    assert first.scale == pytest.approx(2.0)
    np.testing.assert_allclose(first.depth, truth(), rtol=1e-6)
    held = corrector.correct(prediction, 10.5, missing="no sparse depth within 0.05 s")
    assert held.state == "held" and held.scale == pytest.approx(2.0)
    assert held.reason == "no sparse depth within 0.05 s" and held.code == "no_sparse_depth"
    stale = corrector.correct(prediction, 11.6)
    assert stale.state == "unscaled" and stale.scale == 1.0
    np.testing.assert_array_equal(stale.depth, prediction)
    summary = first.summary(relative=False)
    assert summary["scale_state"] == "anchored" and summary["scale"] == "2"
    assert summary["anchors"] == "24" and summary["inliers"] == "24"


def test_a_relative_model_without_any_scale_gives_no_depth_or_the_static_fallback():
    disparity = 1.0 / truth()
    bare = ScaleCorrector(ScaleSettings("sparse_depth"), relative=True)
    nothing = bare.correct(disparity, 1.0, sparse_depth=np.full((H, W), np.nan))
    assert nothing.depth is None and nothing.state == "no_metres"
    assert nothing.code == "no_anchors"
    static = ScaleCorrector(ScaleSettings("sparse_depth"), relative=True, fallback=(2.0, 0.0))
    fallback = static.correct(disparity, 1.0, sparse_depth=np.full((H, W), np.nan))
    assert fallback.state == "static"
    np.testing.assert_allclose(fallback.depth, truth() / 2.0, rtol=1e-6)
    anchored = bare.correct(disparity, 2.0, sparse_depth=scan_line_depth(truth()))
    assert anchored.state == "anchored"
    np.testing.assert_allclose(anchored.depth, truth(), rtol=1e-5)


def test_source_none_passes_metric_depth_through():
    corrector = ScaleCorrector(ScaleSettings("none"), relative=False)
    out = corrector.correct(truth(), 0.0, sparse_depth=scan_line_depth(2 * truth()))
    assert out.state == "off" and out.fit is None
    np.testing.assert_array_equal(out.depth, truth().astype(np.float32))
    assert not ScaleCorrector(ScaleSettings("none"), relative=True).gives_metres


def test_ground_plane_with_a_negative_height_falls_back_and_says_why():
    settings = ScaleSettings("ground_plane", camera_height=-0.5)
    corrector = ScaleCorrector(settings, relative=False)
    intrinsics = SimpleNamespace(fx=50.0, fy=50.0, cx=W / 2, cy=H / 2)
    out = corrector.correct(truth(), 0.0, intrinsics=intrinsics)
    assert out.state == "unscaled" and out.code == "camera_height"
    assert "camera_height is -0.5 m: must be > 0" in out.reason


def test_a_floors_line_goes_through_the_filter_with_its_span_and_into_diagnostics():
    from test_scale_ground_plane import render_room

    from depth_anything_ros.scale import GroundPlane, fit_ground_plane

    depth, intrinsics, height, _ = render_room(1, 28.0)
    prediction = (0.8 * depth ** 1.4).astype(np.float32)
    settings = ScaleSettings("ground_plane", camera_height=height, camera_pitch_deg=28.0)
    fit = fit_ground_plane(prediction, GroundPlane.from_pitch_roll(height, 28.0),
                           relative=False, intrinsics=intrinsics)
    out = ScaleCorrector(settings, relative=False).correct(prediction, 0.0,
                                                           intrinsics=intrinsics)
    assert out.state == "anchored" and fit.shift > 0.3
    assert out.shift == pytest.approx(fit.shift)
    np.testing.assert_allclose(out.depth, fit.apply(prediction), rtol=1e-5)
    summary = out.summary(relative=False)
    assert float(summary["scale_shift"]) == pytest.approx(fit.shift, rel=1e-3)
    assert summary["fit_span"] == f"{fit.span[0]:.3g}-{fit.span[1]:.3g}"
    scale_only = ScaleCorrector(replace(settings, scale_model="scale"), relative=False)
    plain = scale_only.correct(prediction, 0.0, intrinsics=intrinsics)
    assert plain.state == "anchored" and plain.shift == 0 and "scale_shift" not in \
        plain.summary(relative=False)
    bad = ScaleCorrector(replace(settings, scale_model="plane"), relative=False)
    refused = bad.correct(prediction, 0.0, intrinsics=intrinsics)
    assert refused.state == "unscaled"
    assert "scale model 'plane': use one of scale_shift, scale" in refused.reason


def test_frames_that_switch_between_a_line_and_one_scale_blend_smoothly():
    from test_scale_ground_plane import render_room

    depth, *_ = render_room(1, 28.0)
    valid = np.isfinite(depth)
    prediction = (0.5 * np.where(valid, depth, 1.0) ** 1.4).astype(np.float32)
    sparse = scan_line_depth(np.where(valid, depth, np.nan), column_step=4)
    settings = ScaleSettings("sparse_depth", smoothing_time_s=0.3)
    corrector = ScaleCorrector(settings, relative=False)
    errors, kinds, events = [], [], []
    for frame in range(20):  # 10 Hz; every other frame fits one scale (a live parameter)
        model = "scale" if frame % 2 else "scale_shift"
        corrector.update_settings(replace(settings, scale_model=model))
        out = corrector.correct(prediction, frame * 0.1, sparse_depth=sparse)
        assert out.state == "anchored"
        kinds.append(out.fit.span is not None)
        events.append(out.filter_event)
        errors.append(float(np.nanmean(np.abs(out.depth[valid] / depth[valid] - 1))))
        assert np.isfinite(out.depth[valid]).all()
    assert kinds == [True, False] * 10  # the fits really alternate
    plain = ScaleCorrector(replace(settings, scale_model="scale"), relative=False)
    plain_error = float(np.mean(np.abs(plain.correct(prediction, 0.0, sparse_depth=sparse)
                                       .depth[valid] / depth[valid] - 1)))
    # a switch of model is no outlier to the gate (a line's slope can differ from the plain
    # scale by ×1.6 here), and the blend stays better than one scale alone
    assert events == ["first"] + ["accepted"] * 19
    assert max(errors) < plain_error


def ramp(lo, hi):
    """A prediction image whose values run from lo to hi (metres)."""
    return np.linspace(lo, hi, H * W).reshape(H, W).astype(np.float32)


def test_a_line_fitted_far_from_the_first_ones_span_is_applied_exactly():
    corrector = ScaleCorrector(ScaleSettings("sparse_depth", smoothing_time_s=0.0, gate=10.0),
                               relative=False)
    first = ramp(1.0, 4.0)
    corrector.correct(first, 0.0, sparse_depth=2.0 * first + 0.5)
    near = ramp(3.0, 6.0)  # the robot turned: this line's span leaves the first reference
    for stamp, truth in ((0.1, 2.0 * near - 3.0), (0.2, near - 2.5)):
        out = corrector.correct(near, stamp, sparse_depth=truth)
        assert out.fit.span == pytest.approx((3.0, 6.0))
        np.testing.assert_allclose(out.depth, truth, rtol=1e-4)


def test_a_blend_of_two_lines_never_drops_a_pixel():
    corrector = ScaleCorrector(ScaleSettings("sparse_depth", smoothing_time_s=0.3, gate=10.0),
                               relative=False)
    far = ramp(3.0, 6.0)
    corrector.correct(far, 0.0, sparse_depth=far - 2.0)
    near = ramp(1.0, 2.5)  # 0.1 s later: each line alone is positive on its own span
    out = corrector.correct(near, 0.1, sparse_depth=0.8 * near - 0.5)
    assert out.fit.span is not None and np.isfinite(out.depth).all() and (out.depth > 0).all()
    assert out.filter_event == "reset"  # an average would have been negative near 1 m
    np.testing.assert_allclose(out.depth, 0.8 * near - 0.5, rtol=1e-4)


def test_a_live_height_change_keeps_the_filter_but_a_source_change_clears_it():
    corrector = ScaleCorrector(ScaleSettings("sparse_depth"), relative=False)
    corrector.correct(truth() / 2.0, 0.0, sparse_depth=scan_line_depth(truth()))
    corrector.update_settings(ScaleSettings("sparse_depth", smoothing_time_s=5.0))
    assert corrector.filter.scale == pytest.approx(2.0)
    assert corrector.filter.config.time_constant_s == 5.0
    corrector.update_settings(ScaleSettings("ground_plane", camera_height=1.0))
    assert math.isnan(corrector.filter.scale)


def test_the_scale_core_imports_neither_ros_nor_training_nor_torch():
    import subprocess
    import sys

    code = ("import sys, depth_anything_ros.scale; "
            "print(sorted({m.split('.')[0] if not m.startswith('depth_anything_ros') else m "
            "for m in sys.modules if m.startswith(('rclpy', 'sensor_msgs', 'torch', "
            "'depth_anything_ros.training', 'depth_anything_ros.ros', 'rosbags'))}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


def test_a_change_of_the_predictions_focal_factor_restarts_the_filter():
    # The filter holds ×2 for predictions at half the truth. Then a camera_info arrives and the
    # same frames come focal-corrected (×1.5): the old ×2 would put them 1.5× too far until the
    # gate reset it five frames later; restarting applies this frame's own fit at once.
    corrector = ScaleCorrector(ScaleSettings("sparse_depth"), relative=False)
    for k in range(5):
        out = corrector.correct((truth() / 2.0).astype(np.float32), 10.0 + 0.1 * k,
                                sparse_depth=scan_line_depth(truth()), units=1.0)
    assert out.scale == pytest.approx(2.0)
    corrected = (truth() / 2.0 * 1.5).astype(np.float32)
    out = corrector.correct(corrected, 10.5, sparse_depth=scan_line_depth(truth()), units=1.5)
    assert out.filter_event == "first" and out.scale == pytest.approx(2.0 / 1.5)
    np.testing.assert_allclose(out.depth, truth(), rtol=1e-5)
    # the same units again: the filter goes on smoothing
    out = corrector.correct(corrected, 10.6, sparse_depth=scan_line_depth(truth()), units=1.5)
    assert out.filter_event == "accepted"


def test_a_fit_after_the_held_scale_expired_starts_afresh():
    # An hour without anchors (robot parked): the old ×2 expired after max_age_s; the next fit
    # (×3) is applied at once instead of being eased in from the stale state over seconds.
    corrector = ScaleCorrector(ScaleSettings("sparse_depth", max_age_s=2.0), relative=False)
    corrector.correct((truth() / 2).astype(np.float32), 10.0, sparse_depth=scan_line_depth(truth()))
    out = corrector.correct((truth() / 3).astype(np.float32), 3610.0,
                            sparse_depth=scan_line_depth(truth()))
    assert out.filter_event == "first" and out.scale == pytest.approx(3.0)


def test_the_models_own_metres_keep_no_non_depth_values():
    prediction = np.array([[1.0, 0.0, -1.0, np.inf]], np.float32)
    for source in ("none", "sparse_depth"):
        out = ScaleCorrector(ScaleSettings(source), relative=False).correct(prediction, 1.0)
        assert out.state in ("off", "unscaled") and out.depth[0, 0] == 1.0
        assert np.isnan(out.depth[0, 1:]).all()


def test_a_clock_that_jumps_back_does_not_serve_the_held_scale():
    # A bag that loops or a simulator reset sends the clock back: the last scale is from a
    # different moment (another place, another scale) and must not be held into the past.
    corrector = ScaleCorrector(ScaleSettings("sparse_depth", max_age_s=2.0), relative=False)
    prediction = (truth() / 2.0).astype(np.float32)
    anchored = corrector.correct(prediction, 100.0, sparse_depth=scan_line_depth(truth()))
    assert anchored.state == "anchored" and anchored.scale == pytest.approx(2.0)
    rewound = corrector.correct(prediction, 50.0)
    assert rewound.state == "unscaled" and rewound.scale == 1.0
    np.testing.assert_array_equal(rewound.depth, prediction)


def test_a_measured_up_replaces_the_settings_pitch_and_its_absence_is_said():
    # A camera looking straight down at a floor 2 m below sees depth 2 everywhere (z-depth);
    # the model reads 2.5. The settings say "level" (pitch 0), the IMU says "straight down".
    settings = ScaleSettings("ground_plane", camera_height=2.0, max_age_s=1.0)
    intrinsics = SimpleNamespace(fx=50.0, fy=50.0, cx=W / 2, cy=H / 2)
    prediction = np.full((H, W), 2.5, np.float32)
    corrector = ScaleCorrector(settings, relative=False)
    level = corrector.correct(prediction, 0.0, intrinsics=intrinsics)
    assert level.state == "unscaled" and level.code == "no_floor"
    down = corrector.correct(prediction, 0.1, intrinsics=intrinsics, up=(0.0, 0.0, -1.0))
    assert down.state == "anchored" and down.scale == pytest.approx(0.8)
    np.testing.assert_allclose(down.depth, 2.0, rtol=1e-6)
    gone = corrector.correct(prediction, 0.2, intrinsics=intrinsics,
                             missing="no IMU reading received yet")
    assert gone.state == "held" and gone.code == "no_gravity"
    assert gone.reason == "no IMU reading received yet"
    np.testing.assert_allclose(gone.depth, 2.0, rtol=1e-6)
