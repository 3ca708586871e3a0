"""Synthetic lenses and camera heights: ``hfov=`` in the spec renders that field of view over the
same scenes and poses, and every sample carries the camera's true height above the floor."""
import numpy as np
import pytest

from depth_anything_ros.training.data import open_dataset
from depth_anything_ros.training.data.cache import CACHE_ENV
from depth_anything_ros.training.data.samples import make_sample
from depth_anything_ros.training.data.synthetic import render_frame
from depth_anything_ros.training.data.transforms import to_tensors

SIZE = 33  # odd: pixel 16 is the principal point, whose ray is the optical axis at any FOV


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def _hfov_of(sample) -> float:
    fx = sample["intrinsics"][0]
    return float(np.degrees(2 * np.arctan(0.5 * sample["image"].shape[1] / fx)))


def test_fixed_hfov_renders_that_lens_over_the_same_views(cache_dir):
    narrow = open_dataset(f"synthetic:indoor:test?n=3&size={SIZE}&hfov=45", workers=1)
    wide = open_dataset(f"synthetic:indoor:test?n=3&size={SIZE}&hfov=100", workers=1)
    for i in range(3):
        a, b = narrow[i], wide[i]
        assert _hfov_of(a) == pytest.approx(45.0, abs=1e-4)
        assert _hfov_of(b) == pytest.approx(100.0, abs=1e-4)
        # same scene and pose: the optical axis hits the same surface, the camera is as high
        assert a["depth"][16, 16] == pytest.approx(b["depth"][16, 16], rel=1e-5)
        assert a["camera_height"] == b["camera_height"]
        assert not np.array_equal(a["image"], b["image"])


def test_a_narrow_lens_sees_what_the_centre_of_a_wide_lens_sees():
    """Rendered FOV, checked by projection: a pixel of the 90° view lands, through its 3-D point,
    on the 45° view where that view's intrinsics say it must, with the same depth."""
    wide = render_frame("indoor", "test", 1, 65, 65, hfov=90.0)
    narrow = render_frame("indoor", "test", 1, 65, 65, hfov=45.0)
    fw, fn = wide.intrinsics[0], narrow.intrinsics[0]
    assert fw == pytest.approx(32.5 / np.tan(np.radians(45.0)))
    assert fn == pytest.approx(32.5 / np.tan(np.radians(22.5)))
    cx = 32.0
    hits = 0
    for v in range(24, 41, 4):
        for u in range(24, 41, 4):
            d = wide.depth[v, u]
            x, y = (u - cx) * d / fw, (v - cx) * d / fw
            un, vn = fn * x / d + cx, fn * y / d + cx
            ui, vi = int(round(un)), int(round(vn))
            if abs(un - ui) < 0.15 and abs(vn - vi) < 0.15 and 0 <= ui < 65 and 0 <= vi < 65:
                hits += 1
                assert narrow.depth[vi, ui] == pytest.approx(d, rel=0.05)
    assert hits >= 1


def test_hfov_range_draws_each_frame_inside_it_and_keys_the_cache(cache_dir):
    ranged = open_dataset("synthetic:indoor:test?n=6&size=24&hfov=40-110", workers=1)
    default = open_dataset("synthetic:indoor:test?n=6&size=24", workers=1)
    fovs = [_hfov_of(ranged[i]) for i in range(6)]
    assert all(40.0 <= f <= 110.0 for f in fovs) and len(set(np.round(fovs, 3))) == 6
    assert ranged.cache_dir != default.cache_dir
    assert "hfov40-110" in ranged.cache_dir.name and ranged.spec.endswith("&hfov=40-110")
    assert all(50.0 <= _hfov_of(default[i]) <= 100.0 for i in range(6))  # the old default


def _pitch_of(frame) -> float:
    """Degrees of the optical axis above the horizon (world z is up)."""
    axis = frame.pose.rotation[:, 2]
    return float(np.degrees(np.arcsin(axis[2] / np.linalg.norm(axis))))


def test_pitch_range_tilts_the_same_views_and_keys_the_cache(cache_dir):
    """``pitch=-45:-40`` looks that far down from the same positions (the pitch is one draw);
    the default keeps the domain's range and the old frames."""
    steep = open_dataset("synthetic:indoor:test?n=4&size=24&pitch=-45:-40", workers=1)
    default = open_dataset("synthetic:indoor:test?n=4&size=24", workers=1)
    assert steep.cache_dir != default.cache_dir
    assert "pitch-45_-40" in steep.cache_dir.name and steep.spec.endswith("&pitch=-45:-40")
    for i in range(4):
        tilted = render_frame("indoor", "test", i, 24, 24, pitch=(-45.0, -40.0))
        plain = render_frame("indoor", "test", i, 24, 24)
        # roll (σ 2°) moves the axis a little off the drawn pitch
        assert -46.0 <= _pitch_of(tilted) <= -39.0
        assert -31.0 <= _pitch_of(plain) <= 16.0
        assert np.allclose(tilted.pose.position, plain.pose.position)
        assert np.array_equal(steep[i]["image"], tilted.rgb)
        assert np.array_equal(default[i]["image"], plain.rgb)
    outdoor = render_frame("outdoor", "test", 0, 24, 24, pitch=-20.0)
    assert _pitch_of(outdoor) == pytest.approx(-20.0, abs=8.0)


def test_samples_carry_the_true_camera_height_above_the_floor(cache_dir):
    """Back-projected with the frame's rotation and the sample's height, the lowest surface seen
    (the floor, in view in every one of these frames) lies at world z = 0."""
    dataset = open_dataset("synthetic:indoor:train?n=8&size=48&hfov=70", workers=1)
    for i in range(8):
        sample, frame = dataset[i], render_frame("indoor", "train", i, 48, 48, hfov=70.0)
        height = sample["camera_height"]
        assert 0.4 <= height <= 1.8
        fx, fy, cx, cy = sample["intrinsics"]
        v, u = np.mgrid[0:48, 0:48]
        d = sample["depth"]
        points = np.stack([(u - cx) * d / fx, (v - cy) * d / fy, d], axis=-1)
        world_z = height + points @ frame.pose.rotation[2]  # z row of world_from_optical
        assert np.nanmin(world_z) == pytest.approx(0.0, abs=1e-3)


def test_sources_without_a_floor_model_report_an_unknown_height():
    sample = make_sample(np.zeros((4, 4, 3), np.uint8), "x")
    assert np.isnan(sample["camera_height"])
    assert to_tensors(sample)["camera_height"].isnan()
