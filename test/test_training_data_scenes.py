"""Synthetic scenes: exact depth in analytic cases, determinism, domains, splits, moving cameras."""

import numpy as np
import pytest

from depth_anything_ros.training.data.domains import make_scene
from depth_anything_ros.training.data.primitives import Box, Cylinder, Rect, Sphere
from depth_anything_ros.training.data.scene import CameraPose, Scene, intrinsics_from_fov
from depth_anything_ros.training.data.synthetic import SPLIT_STRIDE, camera_trajectory, frame_seed, render_frame
from depth_anything_ros.training.data.textures import Material

GREY = Material("plain", (0.5, 0.5, 0.5), (0.6, 0.6, 0.6))


def _scene(*primitives, sky=None) -> Scene:
    return Scene(domain="test", seed=0, primitives=list(primitives), ambient=(1, 1, 1), sky=sky)


def _facing_x(position=(0.0, 0.0, 0.0), pitch=0.0) -> CameraPose:
    return CameraPose.from_yaw_pitch(position, 0.0, pitch)


def test_camera_facing_a_wall_sees_the_wall_distance_at_every_pixel():
    wall = Rect((3.25, 0, 0), (0, 1, 0), (0, 0, 1), np.inf, np.inf, GREY)
    intrinsics = intrinsics_from_fov(40, 30, 90.0)
    rgb, depth = _scene(wall).render(_facing_x(), intrinsics, 40, 30)
    assert rgb.shape == (30, 40, 3) and rgb.dtype == np.uint8
    assert depth.dtype == np.float32
    np.testing.assert_allclose(depth, 3.25, rtol=1e-6)


def test_ground_plane_under_a_pitched_camera_follows_the_closed_form_depth():
    height, pitch = 1.3, np.radians(-20.0)
    ground = Rect((0, 0, 0), (1, 0, 0), (0, 1, 0), np.inf, np.inf, GREY)
    fx, fy, cx, cy = intrinsics = intrinsics_from_fov(33, 41, 70.0)
    _, depth = _scene(ground).render(_facing_x((0, 0, height), pitch), intrinsics, 33, 41)
    rows = (np.arange(41) - cy) / fy
    denominator = rows * np.cos(pitch) - np.sin(pitch)  # world-down component of each row's ray
    expected = np.where(denominator > 0, height / np.where(denominator > 0, denominator, 1), np.nan)
    expected = np.repeat(expected[:, None], 33, axis=1)
    np.testing.assert_array_equal(np.isnan(depth), np.isnan(expected))
    np.testing.assert_allclose(depth[~np.isnan(depth)], expected[~np.isnan(expected)], rtol=1e-5)


@pytest.mark.parametrize(
    "primitive, centre_depth",
    [
        (Sphere((5.0, 0, 0), 1.0, GREY), 4.0),
        (Box((6.0, 0, 0), (1.0, 1.0, 1.0), 0.0, GREY), 5.0),
        (Box((6.0, 0, 0), (1.0, 1.0, 1.0), np.pi / 4, GREY), 6.0 - np.sqrt(2.0)),
        (Cylinder((4.0, 0, -1.0), 0.5, 2.0, GREY), 3.5),
    ],
)
def test_primitives_hit_the_optical_axis_at_the_analytic_distance(primitive, centre_depth):
    _, depth = _scene(primitive).render(_facing_x(), intrinsics_from_fov(31, 31, 40.0), 31, 31)
    assert depth[15, 15] == pytest.approx(centre_depth, rel=1e-6)
    assert np.isnan(depth[0, 0])  # corners miss the object: no sky object → NaN


def test_depth_is_planar_z_not_ray_length():
    wall = Rect((2.0, 0, 0), (0, 1, 0), (0, 0, 1), np.inf, np.inf, GREY)
    _, depth = _scene(wall).render(_facing_x(), intrinsics_from_fov(21, 21, 100.0), 21, 21)
    assert depth[0, 0] == pytest.approx(2.0, rel=1e-6)  # the corner ray is much longer than 2 m


def test_frames_are_deterministic_per_index_and_differ_between_indices():
    a, b = render_frame("indoor", "train", 3, 48, 40), render_frame("indoor", "train", 3, 48, 40)
    np.testing.assert_array_equal(a.rgb, b.rgb)
    np.testing.assert_array_equal(a.depth, b.depth)
    np.testing.assert_array_equal(a.intrinsics, b.intrinsics)
    c = render_frame("indoor", "train", 4, 48, 40)
    assert not np.array_equal(a.rgb, c.rgb)


def test_sky_is_nan_only_outdoors_and_depth_ranges_match_the_domain():
    for index in range(4):
        indoor = render_frame("indoor", "train", index, 48, 48)
        assert np.isfinite(indoor.depth).all()
        assert 0.05 < indoor.depth.min() and indoor.depth.max() < 15.0
    outdoor = [render_frame("outdoor", "train", index, 48, 48).depth for index in range(4)]
    assert sum(np.isnan(d).sum() for d in outdoor) > 0
    for depth in outdoor:
        assert np.nanmax(depth) <= 80.0
        # the sky is above the horizon: the bottom row is ground, never NaN
        assert np.isfinite(depth[-1]).all()


def test_domains_look_different():
    indoor = np.stack([render_frame("indoor", "train", i, 32, 32).rgb for i in range(6)])
    outdoor = np.stack([render_frame("outdoor", "train", i, 32, 32).rgb for i in range(6)])
    # outdoor frames are bluer at the top (sky) than indoor frames
    blue_minus_red = lambda x: (x[:, :8, :, 2].astype(float) - x[:, :8, :, 0]).mean()  # noqa: E731
    assert blue_minus_red(outdoor) > blue_minus_red(indoor) + 10


def test_train_and_test_splits_use_disjoint_seeds():
    train = {frame_seed("train", i) for i in range(0, SPLIT_STRIDE, 9973)}
    test = {frame_seed("test", i) for i in range(0, SPLIT_STRIDE, 9973)}
    assert train.isdisjoint(test)
    assert frame_seed("train", SPLIT_STRIDE - 1) < frame_seed("test", 0)
    with pytest.raises(IndexError, match="outside"):
        frame_seed("train", SPLIT_STRIDE)
    with pytest.raises(ValueError, match="unknown split 'val'"):
        frame_seed("val", 0)
    a, b = render_frame("outdoor", "train", 0, 32, 32), render_frame("outdoor", "test", 0, 32, 32)
    assert a.seed != b.seed and not np.array_equal(a.rgb, b.rgb)


def test_unknown_domain_is_rejected_by_name():
    with pytest.raises(ValueError, match="unknown synthetic domain 'mars'"):
        make_scene("mars", 0)


def test_moving_camera_sees_consistent_depth_of_one_fixed_scene():
    """Unproject frame A, move the points into frame B: their z matches B's rendered depth."""
    scene = make_scene("indoor", 11)
    poses = camera_trajectory(scene, 12)
    width, height = 64, 48
    intrinsics = intrinsics_from_fov(width, height, 70.0)
    fx, fy, cx, cy = intrinsics
    (_, depth_a), (_, depth_b) = (
        scene.render(p, intrinsics, width, height) for p in (poses[0], poses[11])
    )
    u, v = np.meshgrid(np.arange(width), np.arange(height))
    points_a = np.stack([(u - cx) / fx * depth_a, (v - cy) / fy * depth_a, depth_a], -1).reshape(
        -1, 3
    )
    world = points_a @ poses[0].rotation.T + poses[0].position
    in_b = (world - poses[11].position) @ poses[11].rotation
    ub = np.round(in_b[:, 0] / in_b[:, 2] * fx + cx).astype(int)
    vb = np.round(in_b[:, 1] / in_b[:, 2] * fy + cy).astype(int)
    inside = (in_b[:, 2] > 0) & (ub >= 0) & (ub < width) & (vb >= 0) & (vb < height)
    assert inside.mean() > 0.5  # the two views overlap
    rel = np.abs(depth_b[vb[inside], ub[inside]] - in_b[inside, 2]) / in_b[inside, 2]
    assert np.median(rel) < 0.01 and (rel < 0.05).mean() > 0.8  # outliers: occlusion, rounding


def test_trajectory_is_smooth_and_stays_in_free_space():
    for domain in ("indoor", "outdoor"):
        scene = make_scene(domain, 2)
        poses = camera_trajectory(scene, 50)
        positions = np.stack([p.position for p in poses])
        steps = np.linalg.norm(np.diff(positions, axis=0), axis=1)
        assert steps.max() < 0.2 and steps.min() > 0.0
        x0, x1, y0, y1 = scene.free_region
        assert (positions[:, 0] >= x0).all() and (positions[:, 0] <= x1).all()
        assert (positions[:, 1] >= y0).all() and (positions[:, 1] <= y1).all()
        for pose in poses[:3]:  # proper rotations
            np.testing.assert_allclose(pose.rotation.T @ pose.rotation, np.eye(3), atol=1e-12)
            assert np.linalg.det(pose.rotation) == pytest.approx(1.0)


def test_pose_axes_follow_rep103_optical_convention():
    pose = CameraPose.from_yaw_pitch((0, 0, 1), yaw=0.0, pitch=0.0)
    x_right, y_down, z_forward = pose.rotation.T
    np.testing.assert_allclose(z_forward, [1, 0, 0], atol=1e-12)  # looks along world +x
    np.testing.assert_allclose(x_right, [0, -1, 0], atol=1e-12)  # right = −y (y is left)
    np.testing.assert_allclose(y_down, [0, 0, -1], atol=1e-12)
    look = CameraPose.look_at((0, 0, 0), (0, 5, 0))
    np.testing.assert_allclose(look.rotation[:, 2], [0, 1, 0], atol=1e-12)
