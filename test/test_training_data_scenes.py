"""Synthetic scenes: exact depth in analytic cases, determinism, domains, splits, moving cameras."""

import numpy as np
import pytest

from depth_anything_ros.training.data.domains import make_scene
from depth_anything_ros.training.data.primitives import Box, Cylinder, Rect, Sphere
from depth_anything_ros.training.data.scene import CameraPose, DirectionalLight, Scene, intrinsics_from_fov
from depth_anything_ros.training.data.synthetic import (
    SPLIT_STRIDE, camera_trajectory, frame_seed, render_frame, sample_camera,
)
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


def _inside(primitive, points: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """Whether world points lie inside a solid primitive (shrunk by ``margin``), written
    independently of the ray casting it checks."""
    if isinstance(primitive, Sphere):
        return np.linalg.norm(points - primitive.center, axis=-1) <= primitive.radius - margin
    if isinstance(primitive, Box):
        c, s = np.cos(primitive.yaw), np.sin(primitive.yaw)
        offset = points - primitive.center
        local = np.stack([c * offset[..., 0] + s * offset[..., 1],
                          -s * offset[..., 0] + c * offset[..., 1], offset[..., 2]], axis=-1)
        return (np.abs(local) <= np.asarray(primitive.half_size) - margin).all(axis=-1)
    bx, by, bz = primitive.base
    radial = np.hypot(points[..., 0] - bx, points[..., 1] - by)
    return ((radial <= primitive.radius - margin) & (points[..., 2] >= bz + margin)
            & (points[..., 2] <= bz + primitive.height - margin))


@pytest.mark.parametrize("primitive", [
    Sphere((4.0, 0.3, -0.2), 1.0, GREY),
    Box((4.0, 0.2, -0.3), (0.8, 0.5, 0.3), 0.6, GREY),
    Cylinder((4.0, 0.0, -1.0), 0.5, 2.0, GREY),
    Cylinder((3.0, 0.4, -1.5), 0.7, 1.0, GREY),
])
@pytest.mark.parametrize("pose", [
    CameraPose.from_yaw_pitch((0.0, 0.0, 0.0), 0.0, 0.0),
    CameraPose.look_at((1.5, -0.5, 1.8), (4.0, 0.0, -0.5)),  # from above: tops and far caps
    CameraPose.look_at((2.0, 0.5, -2.5), (4.0, 0.0, -0.5)),  # from below: bottoms
], ids=["level", "above", "below"])
def test_depth_is_the_first_point_of_the_solid_along_every_pixel_ray(primitive, pose):
    """March each pixel's ray through the solid: a rendered depth is where the ray first
    enters it (nothing of it nearer, the hit point on it), and NaN only where the ray never
    passes through it. The optical axis alone misses hits behind a nearer face (e.g. a
    cylinder's far cap taking over from its side)."""
    width, height, step = 21, 17, 0.004
    intrinsics = intrinsics_from_fov(width, height, 80.0)
    fx, fy, cx, cy = intrinsics
    _, depth = _scene(primitive).render(pose, intrinsics, width, height)
    u, v = np.meshgrid(np.arange(width), np.arange(height))
    dirs = np.stack([(u - cx) / fx, (v - cy) / fy, np.ones_like(u, dtype=float)], -1) @ pose.rotation.T
    t = np.arange(step, 9.0, step)
    samples = pose.position + dirs[..., None, :] * t[:, None]  # (H, W, T, 3)
    inside = _inside(primitive, samples, margin=1e-6)
    entered = np.where(inside.any(axis=-1), t[np.argmax(inside, axis=-1)], np.nan)
    assert np.isfinite(depth).sum() > 10  # the primitive is in view
    deep = _inside(primitive, samples, margin=0.02).any(axis=-1)
    assert np.isfinite(depth[deep]).all()  # a ray through the solid always hits it
    hit = np.isfinite(depth)
    # first entry: no sample before the rendered depth is inside, and one within a step after
    assert (entered[hit] >= depth[hit] - 1e-5).all(), np.max(depth[hit] - entered[hit])
    near_hit = _inside(primitive, pose.position + dirs[hit] * depth[hit][:, None], margin=-1e-4)
    assert near_hit.all()


def test_a_bounded_rectangle_is_hit_exactly_within_its_two_half_sizes():
    """A rectangle 1.2 m wide (half_u along world y) and 0.5 m tall (half_v along z) seen
    face-on: a pixel hits it exactly when its ray meets the plane within both half sizes."""
    sign = Rect((3.0, 0.1, 0.0), (0, 1, 0), (0, 0, 1), 0.6, 0.25, GREY)
    width, height = 41, 31
    intrinsics = intrinsics_from_fov(width, height, 60.0)
    fx, fy, cx, cy = intrinsics
    _, depth = _scene(sign).render(_facing_x(), intrinsics, width, height)
    u, v = np.meshgrid(np.arange(width), np.arange(height))
    y_world, z_world = -(u - cx) / fx * 3.0, -(v - cy) / fy * 3.0  # optical x right = -y, y down = -z
    inside = (np.abs(y_world - 0.1) <= 0.6) & (np.abs(z_world) <= 0.25)
    edge = (np.abs(np.abs(y_world - 0.1) - 0.6) < 1e-6) | (np.abs(np.abs(z_world) - 0.25) < 1e-6)
    assert inside.sum() > 50 and (~inside).sum() > 50
    np.testing.assert_array_equal(np.isfinite(depth)[~edge], inside[~edge])
    np.testing.assert_allclose(depth[inside & ~edge], 3.0, rtol=1e-6)


def test_box_faces_get_their_own_outward_normals_whatever_the_box_proportions():
    """A flat, wide, rotated box (a table top): points on each face near its edges report that
    face's normal. Picking the face by raw offset instead of offset over half size would give a
    point on the top near a long edge the side's normal, and shade it as a wall."""
    box = Box((1.0, -2.0, 0.7), (0.9, 0.4, 0.03), 0.5, GREY)
    c, s = np.cos(0.5), np.sin(0.5)
    axes = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])  # the box's local x, y, z in world
    half = np.array(box.half_size)
    rng = np.random.default_rng(0)
    for axis in range(3):
        for sign in (-1.0, 1.0):
            local = rng.uniform(-0.95, 0.95, (20, 3)) * half
            local[:, axis] = sign * half[axis]
            points = np.asarray(box.center) + local @ axes
            normals, _ = box.surface(points)
            np.testing.assert_allclose(normals, np.tile(sign * axes[axis], (20, 1)), atol=1e-9)


@pytest.mark.parametrize("towards_camera", [False, True])
def test_a_surface_is_lit_from_the_side_the_camera_sees_whichever_way_its_normal_points(
        towards_camera):
    """Scenes build walls and box faces with normals either way round, so shading is
    two-sided: a wall lit by a sun behind the camera is brighter than by ambient light alone,
    whether its normal points towards the camera or away from it."""
    axes = ((0, 0, 1), (0, 1, 0)) if towards_camera else ((0, 1, 0), (0, 0, 1))
    wall = Rect((3.0, 0, 0), *axes, np.inf, np.inf, GREY)
    intrinsics = intrinsics_from_fov(16, 12, 60.0)
    sun = DirectionalLight((-1.0, 0.0, 0.0), (0.6, 0.6, 0.6))  # from the camera's side
    pictures = [Scene(domain="test", seed=0, primitives=[wall], ambient=(0.2, 0.2, 0.2),
                      lights=lights).render(_facing_x(), intrinsics, 16, 12)[0].astype(float)
                for lights in ([], [sun])]
    dark, lit = pictures
    assert dark.min() > 10
    np.testing.assert_allclose(lit, 4.0 * dark, atol=2.5)  # (0.2 + 0.6) / 0.2, head-on sun


@pytest.mark.parametrize("domain", ["indoor", "outdoor"])
def test_random_cameras_stand_in_the_scenes_free_region_at_a_sensible_height(domain):
    """Cameras are drawn inside the scene's free floor space (outdoors: anywhere along the
    road, x within ±20 m) at a height in its range, so they never start inside furniture or a
    building."""
    for seed in range(12):
        scene = make_scene(domain, seed)
        x0, x1, y0, y1 = scene.free_region
        if domain == "outdoor":
            x0, x1 = -20.0, 20.0
        rng = np.random.default_rng(seed)
        for _ in range(4):
            pose, _ = sample_camera(scene, rng)
            x, y, z = pose.position
            assert x0 <= x <= x1 and y0 <= y <= y1, (seed, pose.position, scene.free_region)
            assert scene.camera_height[0] <= z <= scene.camera_height[1]


# Furniture is cleared from the free region by its footprint's half diagonal + 0.1 m, outdoor
# objects by their radius + 0.5 m; what reaches in regardless is a few centimetres: a bin or ball
# (radius up to 0.35 m, cleared by as little as 0.31 m) or a parked car (0.9 m half width, cleared
# as a 0.3 m pole: 0.1 m).
FREE_REGION_SLACK_M = 0.15


@pytest.mark.parametrize("domain", ["indoor", "outdoor"])
def test_no_solid_reaches_into_the_free_region_where_cameras_stand(domain):
    """Cameras (random ones and the demo's path) stand anywhere in `free_region`; a table or a
    building reaching into it puts the camera inside a solid, whose inside faces render as a
    wall a few centimetres away (or nothing at all)."""
    for seed in range(40):
        scene = make_scene(domain, seed)
        x0, x1, y0, y1 = scene.free_region
        for primitive in scene.primitives:
            if not isinstance(primitive, (Box, Cylinder, Sphere)):
                continue
            corners = primitive.bounds()
            (bx0, by0), (bx1, by1) = corners[:, :2].min(axis=0), corners[:, :2].max(axis=0)
            reach = min(min(bx1, x1) - max(bx0, x0), min(by1, y1) - max(by0, y0))
            assert reach <= FREE_REGION_SLACK_M, (seed, primitive, scene.free_region)


def test_a_plain_surface_is_its_first_colour_with_a_little_of_the_second():
    """Materials are (colour_a, colour_b, pattern): a plain surface is colour_a with at most 15 %
    of colour_b mixed in, the base colour the scene builder picked for a wall or a table."""
    from depth_anything_ros.training.data.textures import albedo

    a, b = np.array([0.8, 0.2, 0.1]), np.array([0.1, 0.3, 0.9])
    uv = np.random.default_rng(0).uniform(-20, 20, (5000, 2))
    colours = albedo(Material("plain", tuple(a), tuple(b), 1.0, 5), uv)
    weight = (colours - a) @ (b - a) / ((b - a) @ (b - a))  # how far towards colour_b
    assert weight.min() >= -1e-6 and weight.max() <= 0.15 + 1e-6
    np.testing.assert_allclose(colours, a + weight[:, None] * (b - a), atol=1e-5)


def test_value_noise_is_continuous_across_its_lattice_and_within_0_1():
    """Textures are smooth functions of the surface position: walking along a surface in
    millimetre steps never jumps (a seam at every lattice line would show as stripes)."""
    from depth_anything_ros.training.data.textures import fbm, value_noise

    x = np.arange(0.0, 20.0, 1e-3)
    for y in (0.3, 2.7, -5.45):
        noise = value_noise(x, np.full_like(x, y), seed=3)
        assert noise.min() >= 0.0 and noise.max() < 1.0
        assert np.abs(np.diff(noise)).max() < 2e-3
    xy = np.random.default_rng(1).uniform(-50, 50, (2, 20000))
    total = fbm(xy[0], xy[1], seed=3, octaves=4)
    assert total.min() >= 0.0 and total.max() < 1.0 and 0.4 < total.mean() < 0.6


def test_materials_of_one_kind_with_different_seeds_have_different_patterns():
    """Two tables of the same kind and colours differ in their grain (the seed), and one
    material looks the same every time it is evaluated."""
    from depth_anything_ros.training.data.textures import albedo

    uv = np.random.default_rng(2).uniform(-5, 5, (2000, 2))
    for kind in ("plaster", "wood", "tiles"):
        one, other = (Material(kind, (0.6, 0.5, 0.4), (0.2, 0.2, 0.2), 1.0, seed)
                      for seed in (11, 12))
        np.testing.assert_array_equal(albedo(one, uv), albedo(one, uv))
        assert np.abs(albedo(one, uv) - albedo(other, uv)).mean() > 0.01, kind
