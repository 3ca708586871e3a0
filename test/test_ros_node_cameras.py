"""Real lenses through the node over DDS: distortion, ROI, binning, uncalibrated cameras, and bad
calibrations. Ground truth is OpenCV's own undistortion of full-resolution pixel coordinates."""
import time

import numpy as np
import pytest
from rcl_interfaces.msg import Log
from rclpy.parameter import Parameter

import lens_truth
from ros_helpers import (  # noqa: F401 — fixtures
    GatedEstimator,
    RosoutLog,
    harness_factory,
    make_camera_info,
    make_image,
    random_rgb,
    ros_context,
    save_canonical_plane_model,
    save_plane_model,
    tiny_weights,
)
from depth_anything_ros.conversions import decode_depth

from depth_anything_ros.ros.messages import cloud_from_msg

# TUM RGB-D freiburg1 colour camera (../shared/data/tum_fr1_rpy/README.md), plumb_bob, 640×480.
TUM_K = [517.3, 0.0, 318.6, 0.0, 516.5, 255.3, 0.0, 0.0, 1.0]
TUM_D = [0.2624, -0.9531, -0.0054, 0.0026, 1.1633]


def tum_info(*, d=TUM_D, model="plumb_bob", roi=(0, 0, 0, 0), binning=(0, 0), stamp=(1, 0)):
    info = make_camera_info(640, 480, fx=TUM_K[0], fy=TUM_K[4], cx=TUM_K[2], cy=TUM_K[5],
                            stamp=stamp)
    info.d, info.distortion_model = list(d), model
    info.roi.x_offset, info.roi.y_offset, info.roi.width, info.roi.height = roi
    info.binning_x, info.binning_y = binning
    return info


def opencv_rays(u_full, v_full):
    return lens_truth.opencv_rays(TUM_K, TUM_D, u_full, v_full)


def send(h, rgb, info, stamp, keys=("depth", "points", "info")):
    if info is not None:
        info.header.stamp.sec, info.header.stamp.nanosec = stamp
        h.send_info(info)  # in the node's cache before the image is sent
    h.image_pub.publish(make_image(rgb, stamp=stamp))
    return [h.wait_stamp(key, stamp) for key in keys]


def assert_points_on_rays(cloud, u_full, v_full, tolerance=1e-3):
    valid = np.isfinite(cloud["z"])
    assert valid.mean() > 0.99
    expected = opencv_rays(u_full, v_full)
    z = cloud["z"][valid]
    assert np.abs(cloud["x"][valid] / z - expected[..., 0][valid]).max() <= tolerance
    assert np.abs(cloud["y"][valid] / z - expected[..., 1][valid]).max() <= tolerance


def test_a_distorted_camera_puts_every_point_on_its_pixels_true_ray(harness_factory, tmp_path):
    h = harness_factory(weights=save_plane_model(tmp_path / "plane.safetensors", 2.0))
    depth, points, info = send(h, random_rgb(480, 640, seed=1), tum_info(), (3, 0))
    cloud = cloud_from_msg(points)
    v, u = np.mgrid[0:480, 0:640]
    assert_points_on_rays(cloud, u, v)
    np.testing.assert_allclose(cloud["z"], 2.0, rtol=1e-5)
    # the corner is where a pinhole reading was wrong: 6 cm sideways at 2 m
    assert abs(cloud["x"][0, 0] - (0 - TUM_K[2]) / TUM_K[0] * 2.0) > 0.05
    # depth/camera_info is the raw camera: K and D as calibrated, for the 640×480 depth image
    assert (info.width, info.height, info.distortion_model) == (640, 480, "plumb_bob")
    np.testing.assert_allclose(info.d, TUM_D)
    np.testing.assert_allclose(info.k, TUM_K)


@pytest.mark.parametrize("roi, binning, size", [
    ((100, 60, 320, 240), (0, 0), (320, 240)),
    ((0, 0, 0, 0), (2, 2), (320, 240)),
    ((64, 32, 320, 240), (2, 2), (160, 120)),
])
def test_roi_and_binning_camera_info(harness_factory, tmp_path, roi, binning, size):
    h = harness_factory({"points_stride": 1},
                        weights=save_plane_model(tmp_path / "plane.safetensors", 2.0))
    width, height = size
    _, points, info = send(h, random_rgb(height, width, seed=2),
                           tum_info(roi=roi, binning=binning), (4, 0))
    bx, by = binning[0] or 1, binning[1] or 1
    v, u = np.mgrid[0:height, 0:width]
    assert_points_on_rays(cloud_from_msg(points), u * bx + roi[0], v * by + roi[1])
    # the republished info describes the depth image itself: ROI and binning folded into K
    assert (info.width, info.height, info.binning_x, info.binning_y) == (width, height, 0, 0)
    assert (info.roi.x_offset, info.roi.y_offset, info.roi.width, info.roi.height) == (0,) * 4
    np.testing.assert_allclose([info.k[0], info.k[2], info.k[4], info.k[5]],
                               [TUM_K[0] / bx, (TUM_K[2] - roi[0]) / bx, TUM_K[4] / by,
                                (TUM_K[5] - roi[1]) / by])
    np.testing.assert_allclose(info.d, TUM_D)


def Rosout(h):
    """WARN and ERROR lines the node under test sends to /rosout."""
    return RosoutLog(h, Log.WARN)


def diagnostics(h, since, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mine = [s for m in h.received["diagnostics"][since:] for s in m.status if h.ns in s.name]
        if mine:
            return mine[-1]
        time.sleep(0.05)
    raise TimeoutError("no diagnostics from the node")


@pytest.mark.parametrize("exact", [False, True])  # require_exact_stamp: no info is no info
def test_an_uncalibrated_camera_gets_assumed_intrinsics_with_one_warning(harness_factory, exact):
    h = harness_factory({"fallback_hfov_deg": 90.0, "diagnostics_period": 0.2,
                         "require_exact_stamp": exact})
    log = Rosout(h)
    rgb = random_rgb(24, 32, seed=3)
    _, points, info = send(h, rgb, None, (5, 0))  # no camera_info at all
    np.testing.assert_allclose(info.k, [16, 0, 15.5, 0, 16, 11.5, 0, 0, 1])  # fx = 16/tan 45°
    cloud = cloud_from_msg(points)
    np.testing.assert_allclose(cloud["x"][0, 0] / cloud["z"][0, 0], -15.5 / 16.0, rtol=1e-5)
    uncalibrated = make_camera_info(32, 24, fx=0.0, fy=0.0, cx=0.0, cy=0.0)
    uncalibrated.p = [0.0] * 12
    send(h, rgb, uncalibrated, (5, 1))  # K all zero: still assumed
    status = diagnostics(h, len(h.received["diagnostics"]))
    values = {kv.key: kv.value for kv in status.values}
    assert status.level == status.WARN and "intrinsics assumed" in status.message
    assert "fallback_hfov_deg = 90" in values["intrinsics"]
    log.sync()  # the lines logged for both frames have arrived
    warnings = log.matching("fallback_hfov_deg", Log.WARN)
    assert len(warnings) == 1 and "assumed" in warnings[0]
    # a calibrated camera_info takes over
    _, _, info = send(h, rgb, make_camera_info(32, 24, fx=40.0, fy=42.0), (5, 2))
    assert info.k[0] == 40.0


def test_without_fallback_an_uncalibrated_camera_gets_depth_only(harness_factory):
    h = harness_factory()
    depth, = send(h, random_rgb(24, 32), None, (6, 0), keys=("depth",))
    # a later frame with a camera_info gets points and info: any of the first frame's, on the
    # same topics from the same writers, would have come before them
    send(h, random_rgb(24, 32), make_camera_info(32, 24), (6, 1))
    assert not [m for m in h.received["points"] + h.received["info"]
                if (m.header.stamp.sec, m.header.stamp.nanosec) == (6, 0)]


@pytest.mark.parametrize("info, text", [
    (tum_info(d=[0.1, 0.2, 0.0]), "D has 3 values, but distortion_model 'plumb_bob' needs 4 or 5"),
    (tum_info(model="kannala_brandt"), "distortion_model 'kannala_brandt' is not supported"),
    (tum_info(roi=(400, 300, 320, 240)), "roi (x_offset 400, y_offset 300, width 320, height "
                                          "240) is not inside the 640x480 calibration"),
])
def test_bad_calibrations_give_one_throttled_line_and_the_node_keeps_serving(
        harness_factory, info, text):
    h = harness_factory()
    log = Rosout(h)
    rgb = random_rgb(240, 320, seed=4) if "roi" in text else random_rgb(480, 640, seed=4)
    for index in range(3):
        depth, = send(h, rgb, info, (7, index), keys=("depth",))
    log.sync()  # every line logged for the three frames has arrived
    lines = log.matching(text, Log.ERROR)
    assert len(lines) == 1, log.lines
    assert h.info_pub.topic_name in lines[0] and "depth/points skipped" in lines[0]
    # a usable calibration restores the cloud; the bad frames' points or info, had there been
    # any, came before it on the same topics
    good = tum_info(roi=(0, 0, 320, 240)) if "roi" in text else tum_info()
    send(h, rgb, good, (7, 9))
    assert [m.header.stamp.nanosec for m in h.received["points"]] == [9]
    assert [m.header.stamp.nanosec for m in h.received["info"]] == [9]
    assert h.node.worker_alive


def _depth(msg):
    return decode_depth("32FC1", msg.height, msg.width, msg.step, msg.is_bigendian, msg.data)


def test_a_canonical_model_without_a_focal_length_says_so_and_a_bad_d_keeps_the_focal(
        harness_factory, tmp_path):
    # a canonical-focal model (f_c 0.5) whose output is 2 canonical metres everywhere
    weights = save_canonical_plane_model(tmp_path / "canonical.safetensors")
    h = harness_factory({"diagnostics_period": 0.2}, weights=weights)
    log = Rosout(h)
    rgb = random_rgb(24, 32, seed=5)
    depth, = send(h, rgb, None, (8, 0), keys=("depth",))  # before any camera_info
    np.testing.assert_allclose(_depth(depth), 2.0, rtol=1e-5)  # still flows, uncorrected ...
    status = diagnostics(h, len(h.received["diagnostics"]))
    assert status.level == status.WARN and "not focal-corrected" in status.message
    log.sync()
    lines = log.matching("depth is not focal-corrected", Log.WARN)  # ... and both say so
    assert len(lines) == 1 and "no camera_info for frame_id" in lines[0]
    # D unusable (3 values for plumb_bob) but K good: no cloud, yet the focal is K's (fx 40 px
    # on 32×24, f = 40 / 24)
    bad = make_camera_info(32, 24, fx=40.0, fy=40.0)
    bad.d = [0.1, 0.01, 0.0]
    depth, = send(h, rgb, bad, (8, 1), keys=("depth",))
    np.testing.assert_allclose(_depth(depth), 2.0 * (40 / 24) / 0.5, rtol=1e-5)
    log.sync()
    assert log.matching("D has 3 values", Log.ERROR)[0].endswith("the focal correction uses its K")
    # a good camera_info: the warning goes from /diagnostics
    send(h, rgb, make_camera_info(32, 24, fx=40.0, fy=40.0), (8, 2))
    status = diagnostics(h, len(h.received["diagnostics"]))
    assert "not focal-corrected" not in status.message


def test_assumed_intrinsics_stop_being_reported_once_nothing_is_assumed(harness_factory):
    h = harness_factory({"fallback_hfov_deg": 90.0, "diagnostics_period": 0.2})
    rgb = random_rgb(24, 32, seed=6)
    send(h, rgb, None, (9, 0), keys=("depth",))
    assert "intrinsics assumed" in diagnostics(h, len(h.received["diagnostics"])).message
    h.node.set_parameters([Parameter("fallback_hfov_deg", value=0.0)])  # live: depth only now
    send(h, rgb, None, (9, 1), keys=("depth",))
    status = diagnostics(h, len(h.received["diagnostics"]))
    assert "intrinsics assumed" not in status.message
    assert {kv.key: kv.value for kv in status.values}["intrinsics"].startswith(
        "no camera_info for frame_id")


def test_a_camera_info_latched_before_the_node_started_is_used(ros_context, tiny_weights):
    """A static camera_info publisher sends once, RELIABLE + TRANSIENT_LOCAL, and may do so
    before the node starts; a volatile subscription would never see it (no cloud, no focal
    correction). input_reliability auto matches the publishers' durability, so nobody logs
    "incompatible QoS"."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image

    from depth_anything_ros.ros.node import DepthNode
    from ros_helpers import torch_threads_kept, unique_namespace

    ns = unique_namespace("latched")
    probe = rclpy.create_node(f"latched_probe{ns[8:]}", context=ros_context)
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    probe.create_publisher(CameraInfo, f"{ns}/camera_info", latched).publish(
        make_camera_info(32, 24, fx=40.0, fy=42.0))
    image_pub = probe.create_publisher(Image, f"{ns}/image", 5)
    infos, logs = [], []
    probe.create_subscription(CameraInfo, f"{ns}/depth/camera_info", infos.append, 5)
    probe.create_subscription(Log, "/rosout", logs.append, 100)
    executor = SingleThreadedExecutor(context=ros_context)
    with torch_threads_kept():
        node = DepthNode(context=ros_context, namespace=ns,
                         parameter_overrides=[Parameter("weights", value=str(tiny_weights))])
        executor.add_node(node)
        executor.add_node(probe)
        try:
            deadline = time.monotonic() + 60  # the first frame traces the model: slow when loaded
            while not infos and time.monotonic() < deadline:
                image_pub.publish(make_image(random_rgb(24, 32), stamp=(9, 0)))
                executor.spin_once(timeout_sec=0.2)
            assert infos, "no depth/camera_info: the latched camera_info was not received"
            assert infos[0].k[0] == 40.0 and infos[0].k[4] == 42.0
            assert not [r.msg for r in logs if "incompatible" in r.msg.lower()]
        finally:
            executor.shutdown()
            node.destroy_node()
            probe.destroy_node()


def test_a_camera_info_arriving_while_the_first_frame_is_in_the_model_is_used_for_it(
        harness_factory, tmp_path):
    """A driver publishes the image and its camera_info back to back; the worker may take the
    image first. The frame still gets its camera_info, cloud and focal correction (as the bag,
    which pairs by stamp, gives it), not uncorrected depth."""
    from depth_anything_ros.inference import DepthEstimator

    weights = save_canonical_plane_model(tmp_path / "canonical.safetensors")
    model = GatedEstimator(DepthEstimator.from_weights(weights, device="cpu"))
    h = harness_factory({}, weights=weights, estimator=model)
    h.image_pub.publish(make_image(random_rgb(24, 32, seed=6), stamp=(10, 0)))
    assert model.entered.acquire(timeout=20), "the frame never reached the model"
    # the frame is in the model (held there): its camera_info arrives now
    h.send_info(make_camera_info(32, 24, fx=40.0, fy=40.0, stamp=(10, 0)))
    model.gate.set()
    depth = h.wait_stamp("depth", (10, 0))
    np.testing.assert_allclose(_depth(depth), 2.0 * (40 / 24) / 0.5, rtol=1e-5)
    assert h.wait_stamp("info", (10, 0)).k[0] == 40.0
    h.wait_stamp("points", (10, 0))


def test_the_info_cache_finds_an_exact_stamp_among_the_recent_camera_infos():
    """With require_exact_stamp an image is matched to the camera_info of its own stamp, which
    may be several messages old when camera_info runs ahead of a slow image pipeline; stamps
    differing only in nanoseconds are different frames."""
    from depth_anything_ros.ros.camera_info_cache import CameraInfoCache

    cache = CameraInfoCache()
    infos = [make_camera_info(32, 24, fx=40.0 + n, stamp=(10, n)) for n in range(4)]
    for info in infos:
        cache.put(info)
    stamp = infos[0].header.stamp
    assert cache.lookup("camera_optical_frame", stamp, exact=True) is infos[0]
    assert cache.lookup("camera_optical_frame", infos[2].header.stamp, exact=True) is infos[2]
    later = make_camera_info(32, 24, stamp=(10, 9)).header.stamp
    assert cache.lookup("camera_optical_frame", later, exact=True) is None
    assert cache.lookup("camera_optical_frame", later, exact=False) is infos[-1]  # the latest


def test_the_info_cache_never_lends_one_cameras_info_to_another_frame_id():
    """Two cameras on one topic (a stereo pair): an image of the right camera must not be
    projected with the left camera's calibration while the right one has none yet."""
    from depth_anything_ros.ros.camera_info_cache import CameraInfoCache

    cache = CameraInfoCache()
    left = make_camera_info(32, 24, frame_id="left", stamp=(5, 0))
    cache.put(left)
    for exact in (False, True):
        assert cache.lookup("right", left.header.stamp, exact=exact) is None
        assert cache.lookup("left", left.header.stamp, exact=exact) is left
    assert cache.frame_ids() == ["left"] and cache
