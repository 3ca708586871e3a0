"""Colourised previews and 16-bit millimetre PNGs."""
import cv2
import numpy as np
import pytest
from picture_helpers import (
    ERROR_HIGH_BGR,
    ERROR_LOW_BGR,
    FAR_BGR,
    NEAR_BGR,
    assert_colour,
    assert_near_red_far_blue,
)

from depth_anything_ros.conversions.depth_codec import depth_to_millimetres as depth_to_mm
from depth_anything_ros.visualize import (
    color_range,
    colorize,
    colorize_error,
    colormap_lut,
    write_depth_png_mm,
)


def test_colorize_returns_bgr_uint8_of_the_depth_size_with_nan_black():
    depth = np.linspace(0.5, 5.0, 12 * 16, dtype=np.float32).reshape(12, 16)
    depth[3, 4] = np.nan
    depth[5, 6] = np.inf
    image = colorize(depth)
    assert image.shape == (12, 16, 3) and image.dtype == np.uint8
    assert (image[3, 4] == 0).all() and (image[5, 6] == 0).all()
    assert image.reshape(-1, 3).any(axis=1).sum() == 12 * 16 - 2


def test_colorize_default_draws_near_dark_red_and_far_violet_blue_on_a_ramp():
    ramp = np.tile(np.linspace(0.5, 5.0, 64, dtype=np.float32), (4, 1))
    image = colorize(ramp, vmin=0.5, vmax=5.0)
    assert_colour(image[0, 0], NEAR_BGR, what="0.5 m")
    assert_colour(image[0, -1], FAR_BGR, what="5 m")
    assert_near_red_far_blue(colorize(ramp), ramp, "percentile range")  # the default range rule


def test_disparity_looks_like_depth_near_red_far_blue():
    depth = np.tile(np.linspace(0.5, 5.0, 64, dtype=np.float32), (4, 1))
    as_depth = colorize(depth, 0.5, 5.0)
    as_disparity = colorize(1.0 / depth, 1 / 5.0, 1 / 0.5, kind="disparity")
    np.testing.assert_array_equal(as_disparity[:, [0, -1]], as_depth[:, [0, -1]])


def test_spectral_matches_matplotlibs_spectral_r_the_official_da2_colormap():
    import matplotlib

    official = matplotlib.colormaps["Spectral_r"](np.linspace(0.0, 1.0, 256))[:, :3] * 255
    ours = colormap_lut("spectral_r")[:, ::-1].astype(float)  # row i: nearness i/255, as RGB
    assert np.abs(ours - official).max() <= 1.0


def test_colorize_fixed_range_maps_near_to_the_last_colour_and_clips():
    depth = np.array([[1.0, 3.0, 0.5, 10.0]], dtype=np.float32)
    image = colorize(depth, vmin=1.0, vmax=3.0, colormap="gray")
    np.testing.assert_array_equal(image[0, :, 0], [255, 0, 255, 0])  # near white
    turbo = colorize(depth, vmin=1.0, vmax=3.0, colormap="turbo")
    lut = cv2.applyColorMap(np.array([[0, 255]], np.uint8), cv2.COLORMAP_TURBO)
    np.testing.assert_array_equal(turbo[0, 0], lut[0, 1])  # near = turbo's red end
    np.testing.assert_array_equal(turbo[0, 1], lut[0, 0])
    reversed_gray = colorize(depth, vmin=1.0, vmax=3.0, colormap="gray_r")
    np.testing.assert_array_equal(reversed_gray[0, :, 0], [0, 255, 0, 255])


def test_zero_and_negative_depth_are_invalid_black_but_zero_disparity_is_far():
    depth = np.array([[0.0, -1.0, 2.0, 3.0]], dtype=np.float32)
    image = colorize(depth, 2.0, 3.0)
    assert not image[0, :2].any() and image[0, 2:].any()
    disparity = colorize(np.array([[0.0, 1.0]], np.float32), 0.0, 1.0, kind="disparity")
    assert_colour(disparity[0, 0], FAR_BGR)
    # ... and counts in the automatic range: a sky of zero disparity stays the far colour
    sky = np.r_[np.zeros(50), np.linspace(0.5, 1.0, 50)].reshape(1, -1).astype(np.float32)
    assert color_range(sky, kind="disparity")[0] == 0.0


def test_error_colours_run_from_dark_at_zero_to_bright_at_vmax_and_clip():
    errors = np.array([[0.0, 1.0, 3.0, np.nan]], np.float32)
    image = colorize_error(errors, vmax=1.0)
    assert_colour(image[0, 0], ERROR_LOW_BGR)
    assert_colour(image[0, 1], ERROR_HIGH_BGR)
    assert_colour(image[0, 2], ERROR_HIGH_BGR)
    assert not image[0, 3].any()


def test_color_range_keeps_given_ends_and_fills_missing_ones_from_percentiles():
    depth = np.linspace(1.0, 101.0, 101, dtype=np.float32).reshape(1, -1)
    depth[0, 0] = np.nan
    assert color_range(depth, 0.5, 7.0) == (0.5, 7.0)
    lo, hi = color_range(depth)
    assert lo == pytest.approx(np.percentile(depth[0, 1:], 2)) and hi == pytest.approx(
        np.percentile(depth[0, 1:], 98))
    assert color_range(depth, vmin=3.0)[0] == 3.0


def test_colorize_robust_range_ignores_a_single_outlier():
    depth = np.tile(np.linspace(1.0, 2.0, 100, dtype=np.float32), (10, 1))
    with_outlier = depth.copy()
    with_outlier[0, 0] = 1000.0
    plain = colorize(depth, colormap="gray")[..., 0].astype(int)
    robust = colorize(with_outlier, colormap="gray")[..., 0].astype(int)
    assert np.abs(plain[1:] - robust[1:]).max() <= 3
    assert robust[5, 10] - robust[5, 50] > 80  # the scene still spans the grey range


def test_colorize_handles_all_invalid_and_flat_images():
    assert not colorize(np.full((4, 5), np.nan, np.float32)).any()
    flat = colorize(np.full((4, 5), 2.0, np.float32), colormap="gray")
    assert (flat == flat[0, 0]).all()


def test_colorize_does_not_modify_its_input():
    depth = np.array([[np.nan, 1.0], [2.0, 3.0]], dtype=np.float32)
    before = depth.copy()
    colorize(depth)
    np.testing.assert_array_equal(depth, before)


def test_colorize_rejects_bad_shape_and_unknown_colormap():
    with pytest.raises(ValueError, match="2-D"):
        colorize(np.zeros((2, 3, 1), np.float32))
    with pytest.raises(ValueError, match="unknown colormap 'rainbowz'"):
        colorize(np.zeros((2, 3), np.float32), colormap="rainbowz")


def test_depth_to_mm_rounds_and_marks_invalid_zero():
    depth = np.array([[1.2344, 0.0, -1.0, np.nan, np.inf, 70.0, 0.0004, 65.535]], np.float32)
    np.testing.assert_array_equal(depth_to_mm(depth), [[1234, 0, 0, 0, 0, 0, 0, 65535]])


def test_write_depth_png_mm_round_trips_through_a_16_bit_png(tmp_path):
    depth = np.array([[0.5, 2.25], [np.nan, 12.0]], np.float32)
    path = tmp_path / "depth.png"
    write_depth_png_mm(path, depth)
    read = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert read.dtype == np.uint16
    np.testing.assert_array_equal(read, [[500, 2250], [0, 12000]])
    assert [p.name for p in tmp_path.iterdir()] == ["depth.png"]  # no temporary left behind


def test_write_depth_png_mm_names_the_file_on_bad_shape(tmp_path):
    with pytest.raises(ValueError, match="bad.png"):
        write_depth_png_mm(tmp_path / "bad.png", np.zeros((2, 2, 2), np.float32))


def test_color_range_of_a_camera_frame_matches_the_full_percentiles_closely():
    rng = np.random.default_rng(2)
    depth = rng.lognormal(0.5, 0.6, (480, 640)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.3] = np.nan
    full = np.percentile(depth[np.isfinite(depth)], (2, 98))
    np.testing.assert_allclose(color_range(depth), full, rtol=0.03)
