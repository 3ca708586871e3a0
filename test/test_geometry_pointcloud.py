"""Back-projection of known depth images (geometry/camera, geometry/pointcloud)."""
import math

import numpy as np
import pytest

from depth_anything_ros.geometry.camera import (
    CameraInfoError, CameraIntrinsics, intrinsics_from_matrices)
from depth_anything_ros.geometry.pointcloud import (
    CLOUD_DTYPE, POINT_STEP, organized_cloud, unpack_rgb)

INTR = CameraIntrinsics(fx=50.0, fy=55.0, cx=19.5, cy=14.0, width=40, height=30)


def tilted_plane(intr, z0=2.0, slope=0.5):
    """Depth of the plane z = z0 + slope·y seen by the camera (exact per-pixel solution)."""
    v = np.arange(intr.height)[:, None] * np.ones((1, intr.width))
    # z = z0 + slope * (v - cy) * z / fy  →  z = z0 / (1 - slope (v - cy) / fy)
    return (z0 / (1 - slope * (v - intr.cy) / intr.fy)).astype(np.float32)


def test_fronto_parallel_plane_at_two_metres_back_projects_exactly():
    depth = np.full((30, 40), 2.0, np.float32)
    rgb = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    cloud = organized_cloud(depth, rgb, INTR)
    assert cloud.shape == (30, 40) and cloud.dtype.itemsize == POINT_STEP
    u, v = np.meshgrid(np.arange(40), np.arange(30))
    np.testing.assert_allclose(cloud["z"], 2.0)
    np.testing.assert_allclose(cloud["x"], (u - 19.5) * 2.0 / 50.0, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(cloud["y"], (v - 14.0) * 2.0 / 55.0, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(unpack_rgb(cloud["rgb"]), rgb)


def test_tilted_plane_points_lie_on_the_plane():
    depth = tilted_plane(INTR)
    cloud = organized_cloud(depth, None, INTR)
    np.testing.assert_allclose(cloud["z"], depth)
    np.testing.assert_allclose(cloud["z"], 2.0 + 0.5 * cloud["y"], rtol=1e-5)


def test_packed_rgb_bytes_are_b_g_r_zero_at_offset_12():
    rgb = np.zeros((30, 40, 3), np.uint8)
    rgb[3, 4] = (10, 20, 30)
    cloud = organized_cloud(np.ones((30, 40), np.float32), rgb, INTR)
    raw = cloud.view(np.uint8).reshape(30, 40, 16)
    assert raw[3, 4, 12:16].tolist() == [30, 20, 10, 0]


@pytest.mark.parametrize("stride", [1, 2, 3, 7])
def test_stride_keeps_every_stride_th_pixel_with_consistent_geometry(stride):
    depth = tilted_plane(INTR)
    depth[5, 6] = np.nan
    rgb = np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    cloud = organized_cloud(depth, rgb, INTR, stride=stride)
    assert cloud.shape == (math.ceil(30 / stride), math.ceil(40 / stride))
    j, i = np.meshgrid(np.arange(cloud.shape[0]), np.arange(cloud.shape[1]), indexing="ij")
    u, v = stride * i, stride * j
    z = depth[v, u]
    np.testing.assert_array_equal(cloud["z"], z)
    np.testing.assert_allclose(cloud["x"], (u - INTR.cx) * z / INTR.fx, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cloud["y"], (v - INTR.cy) * z / INTR.fy, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(unpack_rgb(cloud["rgb"]), rgb[v, u])


def test_invalid_and_out_of_range_depth_become_nan_points():
    depth = np.linspace(0.5, 5.0, 30 * 40, dtype=np.float32).reshape(30, 40)
    depth[0, 0], depth[0, 1], depth[0, 2] = np.nan, 0.0, np.inf
    cloud = organized_cloud(depth, None, INTR, min_range=1.0, max_range=4.0)
    expected_invalid = ~np.isfinite(depth) | (depth <= 0) | (depth < 1.0) | (depth > 4.0)
    for name in ("x", "y", "z"):
        np.testing.assert_array_equal(np.isnan(cloud[name]), expected_invalid)
    assert expected_invalid.any() and not expected_invalid.all()


def test_cloud_dtype_offsets_match_the_documented_layout():
    assert [CLOUD_DTYPE.fields[n][1] for n in ("x", "y", "z", "rgb")] == [0, 4, 8, 12]


def test_intrinsics_read_k_or_p_and_reject_zero_focal_length():
    k = [500.0, 0, 320, 0, 510, 240, 0, 0, 1]
    p = [400.0, 0, 300, 0, 0, 410, 200, 0, 0, 0, 1, 0]
    assert intrinsics_from_matrices(k, p, 640, 480, use_rectified=False).fx == 500.0
    assert intrinsics_from_matrices(k, p, 640, 480, use_rectified=True).cy == 200.0
    with pytest.raises(CameraInfoError, match="P: fx"):
        intrinsics_from_matrices(k, [0.0] * 12, 640, 480, use_rectified=True)


def test_scaled_and_strided_intrinsics():
    intr = CameraIntrinsics(500.0, 500.0, 320.0, 240.0, 640, 480)
    half = intr.scaled_to(320, 240)
    assert (half.fx, half.cx, half.cy, half.width) == (250.0, 160.0, 120.0, 320)
    assert intr.same_aspect(320, 240) and not intr.same_aspect(320, 320)
    s = intr.strided(3)
    assert (s.fx, s.cx, s.width, s.height) == (500 / 3, 320 / 3, 214, 160)
    with pytest.raises(CameraInfoError):
        CameraIntrinsics(float("nan"), 1.0, 0.0, 0.0, 4, 4).validate()


def test_range_limits_are_inclusive_at_exactly_min_and_max_range():
    lo, hi = np.float32(1.25), np.float32(3.5)
    below, above = np.nextafter(lo, np.float32(0)), np.nextafter(hi, np.float32(np.inf))
    depth = np.full((30, 40), 2.0, np.float32)
    depth[0, :4] = [lo, hi, below, above]
    cloud = organized_cloud(depth, None, INTR, min_range=float(lo), max_range=float(hi))
    assert cloud["z"][0, 0] == lo and cloud["z"][0, 1] == hi  # on the limit: kept
    assert np.isnan(cloud["z"][0, 2]) and np.isnan(cloud["z"][0, 3])  # one ulp outside: dropped
    assert np.isfinite(cloud["x"][0, :2]).all() and np.isnan(cloud["y"][0, 2:4]).all()


def test_scaled_intrinsics_are_exact_for_a_non_integer_ratio():
    # image_proc's resize rule (every entry × the size ratio), as documented in camera.py.
    intr = CameraIntrinsics(525.0, 523.5, 319.5, 239.5, 640, 480)
    small = intr.scaled_to(224, 168)
    for got, want in zip((small.fx, small.fy, small.cx, small.cy),
                         (525.0 * 0.35, 523.5 * 0.35, 319.5 * 0.35, 239.5 * 0.35)):
        assert abs(got - want) <= 1e-4
    assert (small.width, small.height) == (224, 168)
    wide = intr.scaled_to(320, 120)  # a different ratio per axis
    assert abs(wide.cx - 159.75) <= 1e-4 and abs(wide.cy - 59.875) <= 1e-4
    assert abs(wide.fx - 262.5) <= 1e-4 and abs(wide.fy - 130.875) <= 1e-4
