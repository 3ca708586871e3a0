"""The scale bar: 3–5 round ticks in metres that sit where their colours are."""
import math

import numpy as np
import pytest
from picture_helpers import FAR_BGR, NEAR_BGR, assert_colour

from depth_anything_ros.scale_bar import (
    bar_ticks,
    depth_picture,
    ramp_extent,
    scale_bar,
    with_scale_bar,
)
from depth_anything_ros.visualize import (
    color_range,
    colorize,
    colorize_error,
    scale_ticks,
    tick_labels,
)


@pytest.mark.parametrize("vmin, vmax, expected", [
    (0.7, 3.4, [1.0, 2.0, 3.0]),
    (0.0, 1.0, [0.0, 0.5, 1.0]),
    (1.2, 1.9, [1.25, 1.5, 1.75]),
    (0.4, 9.5, [2.5, 5.0, 7.5]),
    (10.0, 80.0, [25.0, 50.0, 75.0]),
    (0.35, 0.62, [0.4, 0.5, 0.6]),
])
def test_scale_ticks_are_round_values_inside_the_range(vmin, vmax, expected):
    assert scale_ticks(vmin, vmax) == pytest.approx(expected)


def test_scale_ticks_give_three_to_five_evenly_spaced_round_values_for_any_range():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        vmin = float(rng.uniform(0, 50)) * 10.0 ** rng.integers(-3, 3)
        vmax = vmin + float(rng.uniform(1e-3, 100)) * 10.0 ** rng.integers(-2, 2)
        ticks = scale_ticks(vmin, vmax)
        assert 3 <= len(ticks) <= 5, (vmin, vmax, ticks)
        assert vmin - 1e-9 * vmax <= ticks[0] and ticks[-1] <= vmax + 1e-9 * vmax
        steps = np.diff(ticks)
        assert np.allclose(steps, steps[0], rtol=1e-6)
        mantissa = steps[0] / 10.0 ** math.floor(math.log10(steps[0]) + 1e-9)
        assert any(math.isclose(mantissa, m, rel_tol=1e-6) for m in (1, 2, 2.5, 5)), ticks


def test_degenerate_range_has_one_tick():
    assert scale_ticks(2.0, 2.0) == [2.0]


@pytest.mark.parametrize("value, label", [(5.0, "5 m"), (0.37, "0.37 m"), (12.3456, "12.346 m")])
def test_a_flat_depth_image_gets_one_readable_label(value, label):
    """color_range widens a flat image's range by a millionth: no ticks in that sliver
    ("5.000000 m, 5.000002 m, ...") and no float32 noise in the one label."""
    lo, hi = color_range(np.full((6, 8), value, np.float32))
    assert [text for _, text in bar_ticks(240, lo, hi)] == [label]


def test_tick_labels_carry_the_decimals_the_spacing_needs_and_the_unit():
    assert tick_labels([1.0, 2.0, 3.0], "m") == ["1 m", "2 m", "3 m"]
    assert tick_labels([1.25, 1.5, 1.75], "m") == ["1.25 m", "1.50 m", "1.75 m"]
    assert tick_labels([0.0, 0.5, 1.0]) == ["0.0", "0.5", "1.0"]


@pytest.mark.parametrize("height", [48, 240, 480, 1080])
def test_depth_bar_ticks_sit_where_the_ramp_has_their_colour(height):
    vmin, vmax = 0.7, 3.4
    bar = scale_bar(height, vmin, vmax)
    assert bar.shape[0] == height and bar.dtype == np.uint8
    ticks = bar_ticks(height, vmin, vmax)
    values = scale_ticks(vmin, vmax)
    assert [label for _, label in ticks] == tick_labels(values, "m") == ["1 m", "2 m", "3 m"]
    ramp_column = next(c for c in range(bar.shape[1]) if bar[height // 2, c].any() and
                       tuple(bar[height // 2, c]) != (32, 32, 32))
    top, bottom = ramp_extent(height)
    assert_colour(bar[bottom, ramp_column], NEAR_BGR, what="bottom of the ramp")
    assert_colour(bar[top, ramp_column], FAR_BGR, what="top of the ramp")
    for (row, _), value in zip(ticks, values):
        expected = colorize(np.array([[value]], np.float32), vmin, vmax)[0, 0]
        assert_colour(bar[row, ramp_column], expected, tolerance=12, what=f"ramp at {value} m")
        # the tick mark: a light line right of the ramp on exactly that row
        ramp_end = next(c for c in range(ramp_column, bar.shape[1])
                        if tuple(bar[row, c]) == (235, 235, 235))
        assert tuple(bar[row, ramp_end]) == (235, 235, 235)
    rows = [row for row, _ in ticks]
    assert rows == sorted(rows, reverse=True)  # larger depth higher up


def test_error_bar_runs_from_zero_at_the_bottom_to_vmax_at_the_top():
    bar = scale_bar(240, 0.0, 1.0, kind="error")
    top, bottom = ramp_extent(240)
    column = next(c for c in range(bar.shape[1]) if tuple(bar[120, c]) != (32, 32, 32))
    np.testing.assert_array_equal(bar[bottom, column], colorize_error(np.zeros((1, 1)))[0, 0])
    np.testing.assert_array_equal(bar[top, column], colorize_error(np.ones((1, 1)))[0, 0])
    assert [label for _, label in bar_ticks(240, 0.0, 1.0, "error")] == ["0.0", "0.5", "1.0"]


def test_disparity_bar_says_near_and_far_instead_of_metres():
    assert [label for _, label in bar_ticks(240, 0.1, 7.0, "disparity")] == ["near", "far"]


@pytest.mark.parametrize("invalid", [np.nan, 0.0, -1.0])
def test_a_depth_picture_with_no_valid_value_has_a_bar_saying_no_depth(invalid):
    """Not a 0-1 m ramp over a black picture (color_range's fallback): nothing is in range."""
    depth = np.full((60, 80), invalid, np.float32)
    picture, (lo, hi) = depth_picture(depth)
    empty_bar = scale_bar(60, lo, hi, empty=True)
    assert [label for _, label in bar_ticks(60, lo, hi, empty=True)] == ["no depth"]
    np.testing.assert_array_equal(picture[:, 80:], empty_bar)
    assert not np.array_equal(empty_bar, scale_bar(60, lo, hi))
    # one valid pixel, or a range given by the caller (the node's colored_min/max): a real bar
    depth[30, 40] = 2.0
    np.testing.assert_array_equal(depth_picture(depth)[0][:, 80:], scale_bar(60, 2.0, 2.0 + 2e-6))
    depth[30, 40] = invalid
    np.testing.assert_array_equal(depth_picture(depth, 0.0, 1.0)[0][:, 80:], scale_bar(60, 0, 1))


def test_with_scale_bar_appends_the_bar_right_of_the_picture_and_caches_it():
    depth = np.tile(np.linspace(1.0, 4.0, 80, dtype=np.float32), (60, 1))
    picture, (lo, hi) = depth_picture(depth)
    bar = scale_bar(60, lo, hi)
    assert picture.shape == (60, 80 + bar.shape[1], 3)
    np.testing.assert_array_equal(picture[:, :80], colorize(depth, lo, hi))
    np.testing.assert_array_equal(picture[:, 80:], bar)
    assert scale_bar(60, lo, hi) is bar  # cached: the node pays for one bar per range
    assert not bar.flags.writeable
    plain, _ = depth_picture(depth, bar=False)
    assert plain.shape == (60, 80, 3)
    with pytest.raises(ValueError, match="kind"):
        with_scale_bar(plain, lo, hi, kind="speed")
