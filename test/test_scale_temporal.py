"""Temporal filter of the per-frame scale (scale/temporal.py): bounded jitter, gating, resets."""
import math

import numpy as np
import pytest

from depth_anything_ros.scale import FilterConfig, ScaleFilter

RATE_HZ = 15.0


def run(filt, log_scales, start=0.0):
    events, out = [], []
    for i, value in enumerate(log_scales):
        events.append(filt.update(start + i / RATE_HZ, math.exp(value)))
        out.append(math.log(filt.scale))
    return np.array(out), events


def test_jitter_of_noisy_fits_is_bounded_by_the_time_constant():
    rng = np.random.default_rng(0)
    noisy = math.log(2.0) + rng.normal(0, 0.10, 600)  # per-frame fits jitter by 0.10 (log)
    smoothed, events = run(ScaleFilter(FilterConfig(time_constant_s=1.0)), noisy)
    settled = smoothed[60:]  # after the first 4 s
    # an exponential average with gain g keeps sqrt(g / (2 − g)) of white noise: ≈ 0.018 here
    assert np.std(settled) < 0.03
    assert abs(np.mean(settled) - math.log(2.0)) < 0.02
    assert events.count("clipped") < 15  # 0.25 is 2.5σ: ~1 % of fits are clipped
    raw, _ = run(ScaleFilter(FilterConfig(time_constant_s=0.0)), noisy)
    assert np.std(raw[60:]) > 0.08  # without smoothing the jitter passes straight through


def test_single_outliers_are_clipped_to_a_bounded_pull():
    values = np.full(60, math.log(1.5))
    values[[10, 25, 26, 40]] = math.log(6.0)  # a wrong fit now and then (e.g. a bad scan)
    smoothed, events = run(ScaleFilter(FilterConfig(time_constant_s=1.0)), values)
    assert events.count("clipped") == 4 and "reset" not in events
    gain = 1 - math.exp(-1 / RATE_HZ)  # τ = 1 s at 15 Hz
    deviation = np.abs(smoothed - math.log(1.5))
    assert deviation.max() <= 3 * gain * 0.25  # each pulls gain·gate at most (4 pulls, decaying)
    assert deviation[-1] < deviation.max() / 3  # and it decays again


def test_a_sustained_change_resets_the_filter_after_reset_frames():
    values = np.r_[np.full(30, math.log(1.0)), np.full(30, math.log(2.0))]  # new room at t=2 s
    filt = ScaleFilter(FilterConfig(time_constant_s=5.0, reset_frames=5))
    smoothed, events = run(filt, values)
    assert events[30:34] == ["clipped"] * 4 and events[34] == "reset"
    assert math.exp(smoothed[33]) == pytest.approx(1.0, rel=0.02)  # crept up by 4 pulls only
    np.testing.assert_allclose(np.exp(smoothed[34:]), 2.0, rtol=1e-9)


def test_disagreeing_outliers_do_not_reset():
    values = np.full(40, 0.0)
    values[10:20] = [1.0, -1.0] * 5  # wild, inconsistent fits: noise, not a new scale
    smoothed, events = run(ScaleFilter(FilterConfig(time_constant_s=1.0, reset_frames=3)), values)
    assert "reset" not in events and events[10:20] == ["clipped"] * 10
    assert np.abs(smoothed).max() < 0.02


def test_time_going_backwards_restarts_and_the_gain_follows_the_time_step():
    filt = ScaleFilter(FilterConfig(time_constant_s=1.0))
    assert filt.update(10.0, 1.0) == "first"
    assert filt.update(11.0, 1.2) == "accepted"  # dt = τ: gain 1 − e^−1
    assert filt.scale == pytest.approx(math.exp((1 - math.exp(-1)) * math.log(1.2)))
    assert filt.update(11.0, 1.2) == "accepted"  # dt = 0: no change
    assert filt.scale == pytest.approx(math.exp((1 - math.exp(-1)) * math.log(1.2)))
    assert filt.update(3.0, 3.0) == "restarted" and filt.scale == pytest.approx(3.0)
    with pytest.raises(ValueError, match="scale"):
        filt.update(4.0, -1.0)


def test_bad_filter_settings_are_named():
    assert "must be ≥ 0" in FilterConfig(time_constant_s=-1).problem()
    assert "gate" in FilterConfig(gate=0).problem()
    assert "reset_frames" in FilterConfig(reset_frames=0).problem()
    assert FilterConfig().problem() is None


def test_a_non_finite_stamp_or_shift_is_refused_rather_than_poisoning_the_state():
    f = ScaleFilter()
    f.update(1.0, 2.0)
    with pytest.raises(ValueError, match="stamp nan s: must be finite"):
        f.update(math.nan, 2.0)
    assert f.update(1.1, 2.0) == "accepted" and math.isfinite(f.log_scale)
    with pytest.raises(ValueError, match="shift nan: must be finite"):
        f.update(1.2, 2.0, shift=math.nan)
    assert f.update(1.3, 2.0, shift=0.5) == "accepted" and math.isfinite(f.shift)


def test_isolated_outliers_between_good_fits_never_add_up_to_a_reset():
    """reset_frames counts outliers in a row: a good fit in between shows the scale has not
    changed, so six scattered bad fits that agree (one bad scan now and then) stay clipped."""
    values = np.zeros(60)
    values[5::10] = math.log(3.0)
    smoothed, events = run(ScaleFilter(FilterConfig(time_constant_s=1.0, reset_frames=5)), values)
    assert "reset" not in events and events.count("clipped") == 6
    assert np.abs(smoothed).max() < 0.05


def test_an_outliers_shift_is_clipped_in_proportion_to_its_scale():
    """A relative fit's (or a metric line's) shift rides with its scale: an outlier may move the
    shift only the same fraction gate/|pull| of the way that its clipped scale moves."""
    filt = ScaleFilter(FilterConfig(time_constant_s=0.0, gate=0.25))  # gain 1: one step shows it
    filt.update(0.0, 1.0, shift=0.0)
    assert filt.update(0.1, math.e, shift=2.0) == "clipped"  # pull 1.0 (log): a quarter of it
    assert filt.scale == pytest.approx(math.exp(0.25))
    assert filt.shift == pytest.approx(0.5)


def test_a_reset_lands_on_the_median_of_the_agreeing_outliers_not_on_the_last_one():
    """Outliers that agree on a new scale still jitter: the state jumps to their median scale and
    median shift, so the last (noisy) fit alone does not set the new state."""
    filt = ScaleFilter(FilterConfig(time_constant_s=5.0, gate=0.25, reset_frames=3))
    filt.update(0.0, 1.0, shift=0.0)
    events = [filt.update(i / RATE_HZ, scale, shift=shift)
              for i, (scale, shift) in enumerate([(2.0, 0.1), (2.2, 0.3), (1.9, 0.4)], 1)]
    assert events == ["clipped", "clipped", "reset"]
    assert filt.scale == pytest.approx(2.0) and filt.shift == pytest.approx(0.3)
