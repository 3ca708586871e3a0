"""Preview pictures: input | depth with scale bar [| error], and the demo's row, one convention."""
import cv2
import numpy as np
import pytest
from picture_helpers import (
    ERROR_LOW_BGR,
    FAR_BGR,
    assert_colour,
    assert_near_red_far_blue,
    panel,
)

from depth_anything_ros.demo.preview import compose_preview
from depth_anything_ros.metrics import depth_metrics
from depth_anything_ros.previews import depth_preview, enlargement, frame_error
from depth_anything_ros.scale_bar import scale_bar
from depth_anything_ros.visualize import colorize_error

H, W = 60, 80


def ramp(lo=1.0, hi=4.0) -> np.ndarray:
    return np.tile(np.linspace(lo, hi, W, dtype=np.float32), (H, 1))


def photo() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)


def test_preview_is_the_input_beside_its_depth_near_red_far_blue_with_a_scale_bar():
    rgb, depth = photo(), ramp()
    preview = depth_preview(rgb, depth)
    f = enlargement(H)
    assert f == 4  # small inputs are enlarged so the labels stay readable
    image = preview.image
    np.testing.assert_array_equal(panel(image, H, W, 0, f), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert_near_red_far_blue(panel(image, H, W, 1, f), depth, "depth panel")
    bar = scale_bar(H * f, *preview.depth_range)
    assert image.shape[1] == 2 * W * f + bar.shape[1]
    np.testing.assert_array_equal(image[-H * f:, 2 * W * f:], bar)
    assert preview.error is None


def test_preview_keeps_the_input_resolution_when_it_is_large_enough():
    rgb = np.zeros((480, 640, 3), np.uint8)
    depth = np.tile(np.linspace(0.5, 6.0, 640, dtype=np.float32), (480, 1))
    preview = depth_preview(rgb, depth)
    assert preview.image.shape[1] == 2 * 640 + scale_bar(480, *preview.depth_range).shape[1]
    assert_near_red_far_blue(panel(preview.image, 480, 640, 1), depth)


def test_relative_disparity_preview_draws_near_red_too():
    depth = ramp()
    preview = depth_preview(photo(), 1.0 / depth, kind="disparity")
    assert_near_red_far_blue(panel(preview.image, H, W, 1, enlargement(H)), depth)


def test_error_panel_shows_abs_rel_per_pixel_and_its_mean_in_the_title():
    gt = ramp()
    pred = gt * 1.25
    pred[:, :10] = gt[:, :10]  # exact on the left
    gt[0, :] = np.nan  # no ground truth in the top row
    preview = depth_preview(photo(), pred, gt=gt)
    valid = np.isfinite(gt)
    expected = float(np.mean(np.abs(gt[valid] - pred[valid]) / gt[valid]))
    assert preview.error.abs_rel == pytest.approx(expected, rel=1e-6)
    assert f"abs_rel {expected:.3f}" in preview.error.title
    assert preview.error.valid_pixels == valid.sum()
    f = enlargement(H)
    depth_width = W * f + scale_bar(H * f, *preview.depth_range).shape[1]
    errors = panel(preview.image, H, W, 0, f, left=W * f + depth_width)
    assert_colour(errors[5, 2], ERROR_LOW_BGR, what="exact pixel")
    np.testing.assert_array_equal(errors[5, 40], colorize_error(np.full((1, 1), 0.25))[0, 0])
    assert not errors[0].any()  # no ground truth: black


def test_frame_error_of_a_relative_model_is_scored_after_the_scale_shift_fit():
    gt = ramp()
    disparity = 3.0 / gt + 0.2  # exactly affine in 1/depth
    error = frame_error(disparity, gt, kind="disparity")
    assert error.aligned and error.abs_rel < 1e-5
    assert "after scale/shift fit" in error.title


def test_frame_error_abs_rel_is_the_metrics_modules_abs_rel():
    rng = np.random.default_rng(1)
    gt = rng.uniform(0.5, 5.0, (H, W)).astype(np.float32)
    pred = (gt * rng.uniform(0.7, 1.4, (H, W))).astype(np.float32)
    gt[rng.random((H, W)) < 0.2] = np.nan
    error = frame_error(pred, gt)
    assert error.abs_rel == pytest.approx(depth_metrics(pred, gt)["abs_rel"], rel=1e-9)
    assert np.nanmax(error.error_map) == pytest.approx(
        np.nanmax(np.abs(gt - pred) / gt), rel=1e-5)


def test_preview_rejects_ground_truth_of_another_size():
    with pytest.raises(ValueError, match="ground truth is 40x30 but the prediction is 80x60"):
        depth_preview(photo(), ramp(), gt=np.ones((30, 40), np.float32))


def test_demo_preview_draws_prediction_and_ground_truth_near_red_far_blue_on_one_scale():
    gt = ramp(0.5, 6.0)
    # The prediction: the ground truth shifted 20 columns left, then 9 m (beyond the range).
    pred = np.concatenate([gt[:, 20:], np.full((H, 20), 9.0, np.float32)], axis=1)
    xyz = np.zeros((1, 3), np.float32)
    picture = compose_preview(photo(), pred, gt, xyz, None, fx=60.0, cx=W / 2)
    f = enlargement(H)
    pred_panel = panel(picture, H, W, 1, f)
    gt_panel = panel(picture, H, W, 2, f)
    assert_near_red_far_blue(gt_panel, gt, "ground truth")
    np.testing.assert_array_equal(pred_panel[:, :-20], gt_panel[:, 20:])  # one shared scale
    assert (pred_panel[:, -20:] == np.array(FAR_BGR, np.uint8)).all()
    assert picture.shape[1] > 4 * W * f  # + the scale bar beside the ground truth


def test_pixels_without_a_predicted_depth_are_left_out_of_abs_rel_and_drawn_black():
    gt = ramp()
    pred = gt * 1.5
    pred[:, :8] = np.nan  # the prediction has no depth here
    error = frame_error(pred, gt)
    assert error.abs_rel == pytest.approx(0.5, rel=1e-6)
    assert error.valid_pixels == H * (W - 8)
    assert np.isnan(error.error_map[:, :8]).all()


def test_small_panels_are_enlarged_to_at_least_the_minimum_height_and_large_ones_not():
    from depth_anything_ros.previews import MIN_PANEL_HEIGHT

    assert [enlargement(h) for h in (100, 120, 239, 240, 480)] == [3, 2, 2, 1, 1]
    assert all(h * enlargement(h) >= MIN_PANEL_HEIGHT for h in range(1, 300))


def _contains(image, part) -> bool:
    """Whether `part` appears pixel for pixel somewhere in `image` (matchTemplate's sum of
    squared differences: a few units of float rounding where it does, millions where a
    different bar stands)."""
    scores = cv2.matchTemplate(image.astype(np.float32), part.astype(np.float32), cv2.TM_SQDIFF)
    return float(scores.min()) < 1e3


def test_a_prediction_with_no_valid_depth_is_previewed_with_a_bar_saying_no_depth():
    rgb = np.zeros((240, 320, 3), np.uint8)
    preview = depth_preview(rgb, np.full((240, 320), np.nan, np.float32))
    assert preview.depth_range == (0.0, 1.0)  # color_range's fallback: not a range to label
    assert _contains(preview.image, scale_bar(240, 0.0, 1.0, empty=True))
    assert not _contains(preview.image, scale_bar(240, 0.0, 1.0))


def test_demo_preview_top_view_puts_ground_truth_on_the_side_of_the_image_it_came_from():
    """Ground truth only in the image's right half (x > 0 in the optical frame) must be drawn
    right of the camera in the top view; mirrored, it would sit opposite the predicted cloud."""
    from depth_anything_ros.demo.preview import GT_POINT_BGR

    gt = ramp(2.0, 3.0)
    gt[:, : W // 2 + 4] = np.nan
    xyz = np.full((1, 3), np.nan, np.float32)  # no predicted cloud: the grey truth alone
    picture = compose_preview(photo(), gt.copy(), gt, xyz, None, fx=60.0, cx=(W - 1) / 2)
    f = enlargement(H)
    bar_width = picture.shape[1] - 4 * W * f
    top_view = picture[-H * f:, 3 * W * f + bar_width:]  # the camera at its bottom centre
    grey = (top_view == np.array(GT_POINT_BGR, np.uint8)).all(axis=-1)
    middle = top_view.shape[1] // 2
    left, right = grey[:, :middle].sum(), grey[:, middle + 1:].sum()
    assert right > 100 and left < right / 5, (left, right)  # left: grey pixels of the labels
