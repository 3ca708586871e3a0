"""Camera models from CameraInfo fields: real lenses, ROI, binning, the auto rule, the cache.

Ground truth is always OpenCV itself (`cv2.undistortPoints`, `cv2.projectPoints`,
`cv2.fisheye`) on full-resolution pixel coordinates, never our own folding of ROI/binning.
"""
import cv2
import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore

from depth_anything_ros.geometry.camera import CameraInfoError
from depth_anything_ros.geometry.camera_model import (
    Calibration,
    CameraModelCache,
    pinhole_from_hfov,
    resolve_camera,
)
from depth_anything_ros.geometry.pointcloud import organized_cloud

import lens_truth

# TUM RGB-D freiburg1 colour camera (../shared/data/tum_fr1_rpy/README.md), 640×480, plumb_bob.
TUM_K = (517.3, 0.0, 318.6, 0.0, 516.5, 255.3, 0.0, 0.0, 1.0)
TUM_D = (0.2624, -0.9531, -0.0054, 0.0026, 1.1633)
RATIONAL_D = (0.4, -0.1, 0.001, -0.002, 0.02, 0.7, -0.05, 0.03)
FISHEYE_K = (280.0, 0.0, 322.0, 0.0, 281.0, 238.0, 0.0, 0.0, 1.0)
FISHEYE_D = (-0.012, 0.034, -0.021, 0.004)


def p_of(k, tx=0.0):
    return (k[0], k[1], k[2], tx, k[3], k[4], k[5], 0.0, 0.0, 0.0, 1.0, 0.0)


def calibration(k=TUM_K, d=TUM_D, model="plumb_bob", width=640, height=480, p=None, **kw):
    return Calibration(width, height, model, tuple(d), tuple(k), p=p or p_of(k), **kw)


def pixel_grid(width, height, step=1):
    v, u = np.mgrid[0:height:step, 0:width:step]
    return u.astype(np.float64), v.astype(np.float64)


def opencv_rays(k, d, u_full, v_full):
    rays = lens_truth.opencv_rays(k, d, u_full, v_full)
    return rays[..., 0], rays[..., 1]


@pytest.mark.parametrize("k, d, model", [(TUM_K, TUM_D, "plumb_bob"),
                                         (TUM_K, RATIONAL_D, "rational_polynomial")])
def test_distorted_rays_match_opencv_undistortion_and_project_back_onto_their_pixel(k, d, model):
    camera = resolve_camera(calibration(k, d, model), 640, 480)
    assert camera.source == "K+D" and camera.distorted
    rays = camera.rays()
    u, v = pixel_grid(640, 480)
    x_cv, y_cv = opencv_rays(k, d, u, v)
    assert np.abs(rays.x - x_cv).max() <= 1e-3 and np.abs(rays.y - y_cv).max() <= 1e-3
    # The ray of every pixel, pushed through OpenCV's forward lens model, lands on that pixel.
    points = np.stack([rays.x.ravel(), rays.y.ravel(), np.ones(rays.x.size)], -1).astype(float)
    projected, _ = cv2.projectPoints(points, np.zeros(3), np.zeros(3), np.reshape(k, (3, 3)),
                                     np.asarray(d))
    error = np.abs(projected.reshape(-1, 2) - np.stack([u.ravel(), v.ravel()], -1))
    assert error.max() < 1e-3
    # A pinhole reading of the same camera is off by a lot in the corners (what was fixed).
    assert np.abs(rays.x[0, 0] - (0 - k[2]) / k[0]) > 0.03


def test_equidistant_rays_come_from_cv2_fisheye():
    camera = resolve_camera(calibration(FISHEYE_K, FISHEYE_D, "equidistant"), 640, 480)
    rays = camera.rays()
    u, v = pixel_grid(640, 480, step=7)
    pts = np.stack([u, v], -1).reshape(-1, 1, 2)
    expected = cv2.fisheye.undistortPoints(pts, np.reshape(FISHEYE_K, (3, 3)),
                                           np.asarray(FISHEYE_D)).reshape(-1, 2)
    got = np.stack([rays.x[::7, ::7].ravel(), rays.y[::7, ::7].ravel()], -1)
    assert np.abs(got - expected).max() <= 1e-3
    # the plumb_bob model of the same numbers is a different camera
    other = resolve_camera(calibration(FISHEYE_K, FISHEYE_D, "plumb_bob"), 640, 480).rays()
    assert np.abs(other.x[0, 0] - rays.x[0, 0]) > 0.05


def test_a_pixel_beyond_the_fold_of_the_lens_polynomial_has_no_ray_and_no_point():
    # k1 = -0.5: r_d = r(1 - 0.5 r²) never exceeds 0.544, so the corners (r_d ≈ 1.33) see nothing.
    k = (300.0, 0.0, 319.5, 0.0, 300.0, 239.5, 0.0, 0.0, 1.0)
    camera = resolve_camera(calibration(k, (-0.5, 0.0, 0.0, 0.0, 0.0)), 640, 480)
    rays = camera.rays()
    assert np.isnan(rays.x[0, 0]) and np.isfinite(rays.x[240, 320])
    cloud = organized_cloud(np.full((480, 640), 2.0, np.float32), None, camera)
    assert np.isnan(cloud["z"][0, 0]) and cloud["z"][240, 320] == 2.0


@pytest.mark.parametrize("roi, binning, size", [
    ((100, 60, 320, 240), (0, 0), (320, 240)),   # a window, no scaling
    ((0, 0, 0, 0), (2, 2), (320, 240)),          # 2×2 binning of the whole sensor
    ((64, 32, 320, 240), (2, 2), (160, 120)),    # both
    ((8, 4, 600, 240), (1, 2), (600, 120)),      # binning in one direction only
])
def test_roi_and_binning_put_each_pixel_on_the_ray_of_its_full_resolution_pixel(
        roi, binning, size):
    cal = calibration(roi=roi, binning_x=binning[0], binning_y=binning[1])
    camera = resolve_camera(cal, *size)
    x0, y0 = roi[:2]
    bx, by = binning[0] or 1, binning[1] or 1
    u, v = pixel_grid(*size)
    x_cv, y_cv = opencv_rays(TUM_K, TUM_D, u * bx + x0, v * by + y0)  # image_geometry's mapping
    rays = camera.rays()
    assert rays.x.shape == (size[1], size[0])
    assert np.abs(rays.x - x_cv).max() <= 1e-3 and np.abs(rays.y - y_cv).max() <= 1e-3
    # K of the image: the ROI offset moves the principal point, binning divides.
    k = camera.k
    np.testing.assert_allclose([k[0], k[2], k[4], k[5]],
                               [TUM_K[0] / bx, (TUM_K[2] - x0) / bx, TUM_K[4] / by,
                                (TUM_K[5] - y0) / by])


def test_a_roi_of_half_the_sensor_is_not_mistaken_for_a_resize():
    pinhole = calibration(d=(0.0,) * 5, roi=(320, 240, 320, 240))
    camera = resolve_camera(pinhole, 320, 240, "K")
    i = camera.intrinsics
    assert (i.fx, i.fy, i.cx, i.cy) == (517.3, 516.5, 318.6 - 320, 255.3 - 240)


def test_a_resized_image_scales_k_and_p_and_keeps_d():
    camera = resolve_camera(calibration(p=p_of(TUM_K, tx=-40.0)), 320, 240)
    np.testing.assert_allclose(camera.k, [258.65, 0, 159.3, 0, 258.25, 127.65, 0, 0, 1])
    np.testing.assert_allclose(camera.p[:4], [258.65, 0, 159.3, -20.0])
    assert camera.d == TUM_D
    u, v = pixel_grid(320, 240, step=5)
    x_cv, _ = opencv_rays(np.array(camera.k), TUM_D, u, v)
    assert np.abs(camera.rays().x[::5, ::5] - x_cv).max() <= 1e-3


def test_auto_uses_p_without_distortion_k_when_p_is_empty_and_k_plus_d_with_distortion():
    k = (500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0)
    p = (480.0, 0.0, 330.0, 0.0, 0.0, 481.0, 250.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    no_d = calibration(k, (0.0,) * 5, p=p)
    assert resolve_camera(no_d, 640, 480).source == "P"
    assert resolve_camera(no_d, 640, 480).intrinsics.fx == 480.0
    assert resolve_camera(calibration(k, (), p=(0.0,) * 12), 640, 480).source == "K"
    assert resolve_camera(calibration(k, TUM_D, p=p), 640, 480).source == "K+D"
    # explicit choices: P ignores D (rectified image), K reads K and D (raw image)
    assert resolve_camera(calibration(k, TUM_D, p=p), 640, 480, "P").intrinsics.cx == 330.0
    assert resolve_camera(no_d, 640, 480, "K").intrinsics.fx == 500.0


@pytest.mark.parametrize("cal, size, text", [
    (calibration(d=(0.1, 0.2, 0.0)), (640, 480),
     "D has 3 values, but distortion_model 'plumb_bob' needs 4 or 5"),
    (calibration(d=TUM_D, model="rational_polynomial"), (640, 480), "needs 8"),
    (calibration(d=TUM_D, model="kannala_brandt"), (640, 480),
     "distortion_model 'kannala_brandt' is not supported"),
    (calibration(roi=(400, 0, 320, 240)), (320, 240), "roi (x_offset 400"),
    (calibration(), (640, 640), "another aspect ratio"),
    (calibration(k=(0.0, 0, 318.6, 0, 516.5, 255.3, 0, 0, 1), d=(0.0,) * 5, p=(0.0,) * 12),
     (640, 480), "K: fx is 0.0"),
])
def test_unusable_calibrations_raise_an_error_naming_the_field(cal, size, text):
    with pytest.raises(CameraInfoError, match=None) as error:
        resolve_camera(cal, *size)
    assert text in str(error.value)


def test_an_unknown_distortion_model_with_zero_d_is_a_pinhole():
    camera = resolve_camera(calibration(d=(0.0,) * 5, model="none", p=(0.0,) * 12), 640, 480)
    assert camera.source == "K" and not camera.distorted


def test_models_and_rays_are_computed_once_per_distinct_camera_info():
    store = get_typestore(Stores.ROS2_HUMBLE)
    CameraInfo = store.types["sensor_msgs/msg/CameraInfo"]
    Header = store.types["std_msgs/msg/Header"]
    Time = store.types["builtin_interfaces/msg/Time"]
    Roi = store.types["sensor_msgs/msg/RegionOfInterest"]

    def message(stamp, d):
        return CameraInfo(header=Header(stamp=Time(sec=stamp, nanosec=0), frame_id="cam"),
                          height=480, width=640, distortion_model="plumb_bob",
                          d=np.array(d, float), k=np.array(TUM_K), r=np.eye(3).ravel(),
                          p=np.array(p_of(TUM_K)), binning_x=0, binning_y=0,
                          roi=Roi(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))

    cache = CameraModelCache()
    first = cache.get(Calibration.from_message(message(1, TUM_D)), 640, 480)
    again = cache.get(Calibration.from_message(message(2, TUM_D)), 640, 480)  # new stamp only
    assert again is first and cache.resolved == 1
    changed = cache.get(Calibration.from_message(message(3, (0.1,) + TUM_D[1:])), 640, 480)
    assert changed is not first and cache.resolved == 2
    assert changed.rays().x[0, 0] != first.rays().x[0, 0]


def test_fallback_hfov_gives_a_centred_pinhole_with_that_field_of_view():
    camera = pinhole_from_hfov(640, 480, 90.0)
    i = camera.intrinsics
    np.testing.assert_allclose([i.fx, i.fy, i.cx, i.cy], [320.0, 320.0, 319.5, 239.5])
    assert camera.source == "hfov" and camera.info_fields().d == (0.0,) * 5
    with pytest.raises(ValueError, match="field of view"):
        pinhole_from_hfov(640, 480, 180.0)


def test_binning_that_leaves_no_pixel_is_a_camera_info_error():
    # 1000×1000 binning of a 640×480 sensor: a 0×0 image, which divided by zero
    with pytest.raises(CameraInfoError, match=r"binning \(1000, 1000\) of the roi's 640x480 "
                                              r"pixels leaves a 0x0 image"):
        resolve_camera(calibration(binning_x=1000, binning_y=1000), 1, 1)
    problem = CameraModelCache().frame_camera(calibration(binning_x=1000, binning_y=1000), 1, 1)
    assert problem.model is None and "binning" in problem.problem


def test_a_camera_info_without_a_usable_p_is_republished_with_p_from_k():
    # image_geometry (depth_image_proc, RViz's Camera display) reads only P: republishing the
    # input's zeros would give them fx = 0 although the depth's own model (K) is fine
    k = (500.0, 0.0, 320.0, 0.0, 510.0, 240.0, 0.0, 0.0, 1.0)
    model = resolve_camera(calibration(k=k, d=(0.0,) * 5, p=(0.0,) * 12), 320, 240)
    assert model.source == "K"
    assert model.info_fields().p == (250.0, 0.0, 160.0, 0.0, 0.0, 255.0, 120.0, 0.0,
                                     0.0, 0.0, 1.0, 0.0)
    # a usable P is kept as calibrated (a rectified projection differs from K)
    p = (480.0, 0.0, 300.0, 0.0, 0.0, 480.0, 230.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert resolve_camera(calibration(k=k, p=p), 640, 480).info_fields().p == p


def test_the_cache_evicts_the_least_recently_used_model_and_keeps_the_newest():
    # A bag or a node switching between a few cameras (resolutions, calibrations) must keep
    # the model it just built: evicting it instead would recompute every frame's rays.
    cache = CameraModelCache(size=2)
    a, b, c = (calibration(k=(fx, 0.0, 318.6, 0.0, 516.5, 255.3, 0.0, 0.0, 1.0))
               for fx in (500.0, 510.0, 520.0))
    first = cache.get(a, 640, 480)
    cache.get(b, 640, 480)
    newest = cache.get(c, 640, 480)  # a is the least recently used: it goes
    assert cache.resolved == 3
    assert cache.get(c, 640, 480) is newest and cache.resolved == 3
    assert cache.get(a, 640, 480) is not first and cache.resolved == 4


def test_binning_divides_a_calibration_that_leaves_width_and_height_unset():
    # Drivers without a calibration file publish width = height = 0 ("the image's size"): a
    # 2×2-binned 320×240 image then comes from a 640×480 sensor, so its fx is K's halved.
    k = (500.0, 0.0, 319.5, 0.0, 500.0, 239.5, 0.0, 0.0, 1.0)
    cal = calibration(k=k, d=(0.0,) * 5, width=0, height=0, binning_x=2, binning_y=2)
    i = resolve_camera(cal, 320, 240).intrinsics
    np.testing.assert_allclose([i.fx, i.fy, i.cx, i.cy], [250.0, 250.0, 159.75, 119.75])


def test_a_k_with_only_fx_zero_is_reported_as_broken_not_replaced_by_the_fallback_fov():
    # Only K all zero means "uncalibrated": a K with fx = 0 but fy = 500 is a broken
    # calibration, and silently assuming fallback_hfov_deg would publish clouds from a guessed
    # camera instead of telling the user which field is wrong.
    cal = calibration(k=(0.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0), d=(0.0,) * 5,
                      p=(0.0,) * 12)
    assert not cal.uncalibrated
    frame = CameraModelCache().frame_camera(cal, 640, 480, fallback_hfov_deg=60.0)
    assert frame.model is None and frame.fx is None
    assert "K: fx is 0.0" in frame.problem
