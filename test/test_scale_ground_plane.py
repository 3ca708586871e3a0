"""Metric scale from a flat floor and a known camera height (scale/ground_plane.py), checked on
rooms from the training renderer, whose camera height and pitch are known exactly."""
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from depth_anything_ros.scale import GroundConfig, GroundPlane, fit_ground_plane, pixel_rays
from depth_anything_ros.scale.fit import ScaleFit
from depth_anything_ros.scale.ground_plane import floor_anchors, floor_span
from depth_anything_ros.training.data.domains import make_scene
from depth_anything_ros.training.data.scene import CameraPose, intrinsics_from_fov

W, H = 160, 120


def render_room(seed, pitch_down_deg, roll_deg=0.0, height=None):
    """A synthetic room seen from a known height and pitch: (depth, intrinsics, height)."""
    scene = make_scene("indoor", 1000 + seed)
    rng = np.random.default_rng(seed)
    x0, x1, y0, y1 = scene.free_region
    height = rng.uniform(*scene.camera_height) if height is None else height
    pose = CameraPose.from_yaw_pitch((rng.uniform(x0, x1), rng.uniform(y0, y1), height),
                                     rng.uniform(-3, 3), np.radians(-pitch_down_deg),
                                     np.radians(roll_deg))
    k = intrinsics_from_fov(W, H, 70.0)
    _, depth = scene.render(pose, k, W, H)
    return depth, SimpleNamespace(fx=k[0], fy=k[1], cx=k[2], cy=k[3]), height, pose


def test_pitch_and_roll_give_the_renderers_up_vector():
    for pitch, roll in [(0, 0), (20, 0), (-10, 5), (35, -8)]:
        *_, pose = render_room(0, pitch, roll)
        up_in_optical = pose.rotation[2, :]  # world z in the optical frame
        plane = GroundPlane.from_pitch_roll(1.0, pitch, roll)
        np.testing.assert_allclose(plane.up, up_in_optical, atol=1e-9)
    gravity = GroundPlane.from_gravity(1.0, [0.0, 9.81, 0.0])  # level camera: gravity along +y
    np.testing.assert_allclose(gravity.up, [0.0, -1.0, 0.0])


@pytest.mark.parametrize("seed, pitch", [(0, 12.0), (1, 28.0), (5, 25.0)])
def test_known_camera_height_recovers_the_scale_of_a_metric_prediction(seed, pitch):
    depth, intrinsics, height, _ = render_room(seed, pitch)
    noise = np.exp(np.random.default_rng(seed).normal(0, 0.02, depth.shape))
    # the model reads everything 1.3× too far (scaling up is limited: tested below)
    prediction = depth * 1.3 * noise
    fit = fit_ground_plane(prediction, GroundPlane.from_pitch_roll(height, pitch),
                           relative=False, intrinsics=intrinsics)
    assert fit.ok, fit.reason
    assert fit.scale == pytest.approx(1 / 1.3, rel=0.01)
    assert fit.inliers > 500  # the floor, not a few pixels
    assert fit.extra["floor_tilt_deg"] < 1.0


@pytest.mark.parametrize("seed, pitch", [(1, 28.0), (5, 25.0)])
def test_a_model_that_stretches_the_depth_range_is_followed_by_the_floors_line(seed, pitch):
    depth, intrinsics, height, _ = render_room(seed, pitch)
    noise = np.exp(np.random.default_rng(seed).normal(0, 0.02, depth.shape))
    prediction = 0.8 * depth ** 1.4 * noise  # near reads too near, far too far
    plane = GroundPlane.from_pitch_roll(height, pitch)
    line = fit_ground_plane(prediction, plane, relative=False, intrinsics=intrinsics)
    one_scale = GroundConfig(fit=replace(GroundConfig().fit, metric_model="scale"))
    plain = fit_ground_plane(prediction, plane, relative=False, intrinsics=intrinsics,
                             config=one_scale)
    assert line.ok and plain.ok and line.shift > 0.3 and plain.shift == 0
    valid = np.isfinite(depth)

    def abs_rel(fit):
        return float(np.mean(np.abs(fit.apply(prediction)[valid] / depth[valid] - 1)))

    assert abs_rel(line) < 0.05
    assert abs_rel(plain) > 0.12


def table_beside_the_floor(height=1.5, table_below=0.75, floor_share=0.35, wall=4.0):
    """A camera `height` m up, pitched 10° down: left of the image the floor, right of it a
    table top `table_below` m under the camera that outnumbers the floor pixels; a wall `wall`
    m away (depth) where the floor or table would lie farther. (planar depth, intrinsics,
    pitch)."""
    pitch = 10.0
    k = intrinsics_from_fov(W, H, 70.0)
    intrinsics = SimpleNamespace(fx=k[0], fy=k[1], cx=k[2], cy=k[3])
    u = (np.arange(W) - k[2]) / k[0]
    v = (np.arange(H) - k[3]) / k[1]
    along = np.broadcast_to(np.asarray(GroundPlane.from_pitch_roll(1.0, pitch).up) @ -np.stack(
        np.broadcast_arrays(u[None, :], v[:, None], np.ones((1, 1)))).reshape(3, -1), (H * W,))
    along = along.reshape(H, W)  # ray · down: a plane d metres below is seen at depth d / along
    surface = np.where(np.arange(W)[None, :] < floor_share * W, height, table_below)
    with np.errstate(divide="ignore"):
        depth = np.where(along > 0.05, surface / along, wall)
    return np.minimum(depth, wall), intrinsics, pitch


def test_a_table_top_that_outnumbers_the_floor_is_not_taken_for_it():
    depth, intrinsics, pitch = table_beside_the_floor()
    noise = np.exp(np.random.default_rng(0).normal(0, 0.02, depth.shape))
    prediction = depth * 1.25 * noise  # the model reads everything 1.25× too far
    plane = GroundPlane.from_pitch_roll(1.5, pitch)
    fit = fit_ground_plane(prediction, plane, relative=False, intrinsics=intrinsics)
    assert fit.ok, fit.reason
    assert fit.apply(np.array([1.0]))[0] == pytest.approx(0.8, rel=0.02)
    # without the lowest-surface rule (and no limit on the correction) the larger group, the
    # table top, wins: ×2 too far
    largest = fit_ground_plane(prediction, plane, relative=False, intrinsics=intrinsics,
                               config=GroundConfig(lowest_surface=False, max_correction=0))
    assert largest.apply(np.array([1.0]))[0] == pytest.approx(1.6, rel=0.05)


def test_a_desk_that_fills_the_view_is_refused_not_taken_for_the_floor():
    # No floor in view: the desk top 0.75 m under a 1.5 m camera is the lowest surface, and it
    # would pass for the floor at twice the true scale. The model's own metres say otherwise.
    depth, intrinsics, pitch = table_beside_the_floor(floor_share=0.0)
    noise = np.exp(np.random.default_rng(1).normal(0, 0.02, depth.shape))
    plane = GroundPlane.from_pitch_roll(1.5, pitch)
    fit = fit_ground_plane(depth * noise, plane, relative=False, intrinsics=intrinsics)
    assert not fit.ok and fit.code == "implausible"
    assert "scale the model's depth up ×2.0" in fit.reason
    assert "more than ×1.5 (the limit for a floor seen over a long stretch" in fit.reason
    assert "ground_max_correction ×1.15" in fit.reason and "desk top" in fit.reason
    # a desk seen from above spans depth like a floor: the refusal keeps the span that says so
    assert fit.extra["floor_span"] > GroundConfig().wide_floor_span
    unlimited = fit_ground_plane(depth * noise, plane, relative=False, intrinsics=intrinsics,
                                 config=GroundConfig(max_correction=0))
    assert unlimited.ok and unlimited.scale == pytest.approx(2.0, rel=0.03)  # what it prevents
    # only scaling *up* is limited: a wrong floor cannot scale down, a model reading 3× too
    # far is corrected in full
    far, intrinsics, pitch = table_beside_the_floor()
    fit = fit_ground_plane(far * 3.0, plane, relative=False, intrinsics=intrinsics)
    assert fit.ok and fit.apply(np.array([3.0]))[0] == pytest.approx(1.0, rel=0.02)


def test_a_floor_seen_from_near_to_far_may_scale_up_further_than_a_short_strip():
    # The same floor under a model that reads it 1.4× too near, seen to 8 m (a long stretch:
    # far/near ~×3) or only to 2.6 m, where a wall stands (the strip a wall's foot or a box top
    # also gives). The long stretch is trusted up to ×1.5, the strip only to ×1.15.
    plane = GroundPlane.from_pitch_roll(1.5, 10.0)
    spans = {}
    for wall in (8.0, 2.6):
        depth, intrinsics, _ = table_beside_the_floor(floor_share=1.0, wall=wall)
        noise = np.exp(np.random.default_rng(2).normal(0, 0.02, depth.shape))
        free = fit_ground_plane(depth / 1.4 * noise, plane, relative=False,
                                intrinsics=intrinsics, config=GroundConfig(max_correction=0))
        assert free.ok and free.apply(np.array([1.0]))[0] == pytest.approx(1.4, rel=0.03)
        near = depth[-1, W // 2]  # the bottom row's floor
        spans[wall] = free.extra["floor_span"]
        assert spans[wall] == pytest.approx(np.log(wall / near), abs=0.15)
        fit = fit_ground_plane(depth / 1.4 * noise, plane, relative=False, intrinsics=intrinsics)
        if wall == 8.0:
            assert fit.ok, fit.reason
            assert fit.apply(np.array([1.0]))[0] == pytest.approx(1.4, rel=0.03)
        else:
            assert not fit.ok and fit.code == "implausible"
            assert "more than ×1.15 (the limit for a floor seen over a short stretch" in fit.reason
            # a strip that asks for less is taken
            mild = fit_ground_plane(depth / 1.1 * noise, plane, relative=False,
                                    intrinsics=intrinsics)
            assert mild.ok and mild.apply(np.array([1.0]))[0] == pytest.approx(1.1, rel=0.03)
    assert spans[2.6] < GroundConfig().wide_floor_span <= spans[8.0]
    # the long stretch starts at wide_floor_span itself
    assert GroundConfig().correction_limit(GroundConfig().wide_floor_span) == 1.5
    assert GroundConfig().correction_limit(np.nextafter(0.75, 0)) == 1.15
    # with no limit at all, neither tier applies; a user's larger limit lifts both
    assert GroundConfig(max_correction=0).correction_limit(spans[8.0]) == 0
    assert GroundConfig(max_correction=1.8).correction_limit(spans[8.0]) == 1.8
    assert GroundConfig(max_correction=1.8).correction_limit(spans[2.6]) == 1.8
    assert "wide_max_correction nan" in GroundConfig(wide_max_correction=np.nan).problem()
    # a fit that agrees with fewer than 3 floor pixels saw no stretch of floor at all
    rays = pixel_rays(intrinsics, H, W)
    anchors = floor_anchors(rays, plane)
    nowhere = ScaleFit(False, scale=100.0, residual=0.01)
    assert floor_span(depth, anchors, nowhere) == 0.0


def test_a_few_degrees_of_pitch_error_are_corrected_by_the_fitted_floor():
    depth, intrinsics, height, _ = render_room(0, 12.0)
    prediction = depth * 1.3
    wrong = GroundPlane.from_pitch_roll(height, 12.0 + 3.0)
    refined = fit_ground_plane(prediction, wrong, relative=False, intrinsics=intrinsics)
    fixed = fit_ground_plane(prediction, wrong, relative=False, intrinsics=intrinsics,
                             config=GroundConfig(normal_tolerance_deg=0.0))
    assert refined.scale == pytest.approx(1 / 1.3, rel=0.01)
    assert refined.extra["floor_tilt_deg"] == pytest.approx(3.0, abs=0.5)
    assert abs(fixed.scale * 1.3 - 1) > 0.05  # trusting the wrong pitch is visibly off


def test_a_relative_model_gets_metres_from_the_floor():
    depth, intrinsics, height, _ = render_room(1, 28.0)
    disparity = (1.0 / depth - 0.05) / 0.3  # 1/depth = 0.3·disparity + 0.05
    fit = fit_ground_plane(disparity, GroundPlane.from_pitch_roll(height, 28.0), relative=True,
                           intrinsics=intrinsics)
    assert fit.ok, fit.reason
    assert (fit.scale, fit.shift) == pytest.approx((0.3, 0.05), rel=0.03)
    assert np.isnan(fit.extra["floor_span"])  # no limit on a relative model's correction
    valid = np.isfinite(depth)
    np.testing.assert_allclose(fit.apply(disparity)[valid], depth[valid], rtol=0.03)


def test_undistorted_rays_can_replace_the_pinhole_intrinsics():
    depth, intrinsics, height, _ = render_room(0, 12.0)
    u = (np.arange(W) - intrinsics.cx) / intrinsics.fx
    v = (np.arange(H) - intrinsics.cy) / intrinsics.fy
    rays = np.stack(np.broadcast_arrays(u[None, :], v[:, None]), axis=-1)
    plane = GroundPlane.from_pitch_roll(height, 12.0)
    by_rays = fit_ground_plane(depth * 1.3, plane, relative=False, rays=rays)
    by_intrinsics = fit_ground_plane(depth * 1.3, plane, relative=False, intrinsics=intrinsics)
    assert by_rays.scale == pytest.approx(by_intrinsics.scale, rel=1e-9)
    assert by_rays.scale == pytest.approx(1 / 1.3, rel=0.01)


def test_bad_height_missing_intrinsics_or_no_visible_floor_are_refused_with_a_reason():
    depth, intrinsics, height, _ = render_room(0, 12.0)
    for bad_height in (-1.0, 0.0, float("nan")):
        fit = fit_ground_plane(depth, GroundPlane.from_pitch_roll(bad_height, 12.0),
                               relative=False, intrinsics=intrinsics)
        assert fit.code == "camera_height" and "must be > 0" in fit.reason
        assert f"camera_height is {bad_height} m" in fit.reason
    fit = fit_ground_plane(depth, GroundPlane.from_pitch_roll(height, 12.0), relative=False)
    assert fit.code == "no_intrinsics" and "camera_info" in fit.reason
    sky, intrinsics, height, _ = render_room(0, -60.0)  # looking up: no floor in view
    fit = fit_ground_plane(sky, GroundPlane.from_pitch_roll(height, -60.0), relative=False,
                           intrinsics=intrinsics)
    assert not fit.ok and fit.reason.startswith("ground plane: ") and "floor" in fit.reason
    wall = np.full((H, W), 3.0)  # a fronto-parallel wall: some pixels agree, but on no floor
    fit = fit_ground_plane(wall, GroundPlane.from_pitch_roll(1.0, 20.0), relative=False,
                           intrinsics=intrinsics)
    assert fit.code == "no_floor" and "are no floor (their plane tilts" in fit.reason


def level_camera_rays(fx, height=80, width=100):
    """(x/z, y/z) rays of a square-pixel pinhole camera, principal point at the centre."""
    from depth_anything_ros.scale import pixel_rays

    intrinsics = SimpleNamespace(fx=fx, fy=fx, cx=(width - 1) / 2, cy=(height - 1) / 2)
    return pixel_rays(intrinsics, height, width)


def test_floor_anchors_beyond_max_floor_distance_are_dropped():
    # A camera 2.5 m up, level: floor pixels just below the horizon lie 20–29 m away, where a
    # pixel spans metres of floor and a fraction of a degree of pitch moves it by metres.
    from depth_anything_ros.scale import floor_anchors

    rays = level_camera_rays(80.0)
    anchors = floor_anchors(rays, GroundPlane.from_pitch_roll(2.5), GroundConfig())
    assert GroundConfig().max_floor_distance == 20.0
    assert 15.0 < anchors.depth.max() <= 20.0
    kept = set(zip(anchors.rows.tolist(), anchors.cols.tolist()))
    assert (49, 50) not in kept  # 6.8° below the horizon, but 21 m away
    assert (50, 50) in kept  # 19 m


def test_near_horizon_pixels_at_the_edge_of_a_wide_lens_are_not_taken_for_floor():
    # On a wide lens a pixel's angle below the horizon is y/z over the ray's length, not y/z:
    # at the image edge (x/z = 1.65) a ray 6.7° down at the centre is only 3.5° down, where
    # the far floor is too thin to trust (min_below_horizon_deg = 5).
    from depth_anything_ros.scale import floor_anchors

    rays = level_camera_rays(30.0)
    anchors = floor_anchors(rays, GroundPlane.from_pitch_roll(1.0), GroundConfig())
    ray = rays[anchors.rows, anchors.cols]
    below = np.degrees(np.arcsin(ray[:, 1] / np.sqrt(1 + np.sum(ray ** 2, axis=1))))
    assert below.min() >= 5.0
    kept = set(zip(anchors.rows.tolist(), anchors.cols.tolist()))
    assert (43, 50) in kept and (43, 0) not in kept


def test_pixel_rays_use_fy_for_rows_on_non_square_pixels():
    # A binned or anamorphic sensor has fx ≠ fy: a row's slope must use fy, or every floor
    # pixel is put at the wrong depth.
    from depth_anything_ros.scale import pixel_rays

    rays = pixel_rays(SimpleNamespace(fx=500.0, fy=250.0, cx=320.0, cy=100.0), 200, 640)
    assert rays.shape == (200, 640, 2)
    np.testing.assert_allclose(rays[150, 400], [80 / 500, 50 / 250])
