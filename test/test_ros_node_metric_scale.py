"""Metric scale in the node over real DDS: sparse_depth anchors scale the published depth, a
relative model plus anchors gives metres, /diagnostics report the scale, and every bad input
(size, frame_id, encoding, no anchors, negative camera_height) is logged, served unscaled and
said so in the diagnostics."""
import math
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from rcl_interfaces.msg import Log
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_helpers import (  # noqa: F401 — fixtures
    RosoutLog,
    harness_factory,
    make_camera_info,
    make_image,
    random_rgb,
    ros_context,
    save_tiny_model,
    tiny_weights,
)
from sensor_msgs.msg import Image, Imu
from thread_helpers import WatchedCondition

from depth_anything_ros.conversions import decode_depth, encode_depth
from depth_anything_ros.geometry.camera import CameraIntrinsics
from depth_anything_ros.inference.estimator import DepthEstimator
from depth_anything_ros.scale import (
    GroundPlane,
    ScaleCorrector,
    ScaleSettings,
    fit_ground_plane,
    scan_line_depth,
)

H, W = 48, 64  # 3 scan lines × every 8th column = 24 anchors (≥ scale_min_anchors 20)


def sparse_msg(depth, encoding="32FC1", frame_id="camera_optical_frame", stamp=(1, 0)):
    enc, step, data = encode_depth(depth, encoding)
    msg = Image(height=depth.shape[0], width=depth.shape[1], encoding=enc, step=step)
    msg.header.frame_id = frame_id
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.data = data
    return msg


def with_sparse_publisher(h):
    qos = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)
    pub = h.probe.create_publisher(Image, f"{h.ns}/sparse_depth", qos)
    deadline = time.monotonic() + 10
    while pub.get_subscription_count() == 0:
        assert time.monotonic() < deadline, "sparse_depth subscription not discovered"
        time.sleep(0.02)
    h.send_info(make_camera_info(W, H))
    return pub


def depth_of(msg):
    return decode_depth(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data)


def scale_status(h, predicate=lambda s: True, timeout=5.0):
    """The newest 'metric scale' DiagnosticStatus of the node under test matching predicate."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mine = [s for m in list(h.received["diagnostics"]) for s in m.status
                if h.ns in s.name and s.name.endswith("metric scale")]
        if mine and predicate(mine[-1]):
            return mine[-1], {kv.key: kv.value for kv in mine[-1].values}
        time.sleep(0.05)
    raise TimeoutError(f"no matching metric scale status: {mine[-1:] if mine else 'none'}")


def send(h, sparse_pub, sparse, rgb, stamp):
    if sparse is not None:
        h.send_sparse(sparse_pub, sparse)  # the sensor's message is in the node before the frame
    h.image_pub.publish(make_image(rgb, stamp=stamp))
    return depth_of(h.wait_stamp("depth", stamp))


@pytest.mark.parametrize("encoding", ["32FC1", "16UC1"])
def test_sparse_depth_scales_the_published_depth_and_diagnostics_report_it(
        harness_factory, tiny_weights, encoding):
    h = harness_factory({"scale_source": "sparse_depth", "diagnostics_period": 0.2})
    pub = with_sparse_publisher(h)
    rgb = random_rgb(H, W)
    raw = DepthEstimator.from_weights(tiny_weights, device="cpu").predict(rgb).values
    sensor = scan_line_depth(raw * 3.0)  # the model reads everything 3× too near
    # the sensor's stamp 10 ms after the camera's: within sparse_depth_tolerance (0.05 s)
    depth = send(h, pub, sparse_msg(sensor, encoding, stamp=(4, 10_000_000)), rgb, (4, 0))
    np.testing.assert_allclose(depth, raw * 3.0, rtol=2e-3)  # 16UC1: mm rounding
    status, values = scale_status(
        h, lambda s: {kv.key: kv.value for kv in s.values}.get("scale_state") == "anchored")
    assert status.level == DiagnosticStatus.OK and "anchored: scale 3" in status.message
    assert float(values["scale"]) == pytest.approx(3.0, rel=2e-3)
    assert values["anchors"] == "24" and values["inliers"] == "24"
    assert values["scale_source"] == "sparse_depth" and float(values["fit_residual"]) < 1e-3
    cloud_z = h.wait_stamp("points", (4, 0))
    assert cloud_z.header.frame_id == "camera_optical_frame"


def test_a_relative_model_with_sparse_depth_publishes_metres(harness_factory, tmp_path):
    weights = save_tiny_model(tmp_path / "relative.safetensors", variant="relative")
    h = harness_factory({"scale_source": "sparse_depth", "diagnostics_period": 0.2},
                        weights=weights)
    pub = with_sparse_publisher(h)
    errors = RosoutLog(h, Log.WARN)
    rgb = random_rgb(H, W, seed=2)
    disparity = DepthEstimator.from_weights(weights, device="cpu").predict(rgb).values
    metres = 1.0 / (40.0 * disparity - 4.5)  # 0.6–3.3 m: 1/depth = 40·disparity − 4.5
    # no anchors yet: a relative model has no metres to publish
    h.image_pub.publish(make_image(rgb, stamp=(5, 0)))
    errors.wait("no sparse depth received yet; no depth published")
    depth = send(h, pub, sparse_msg(scan_line_depth(metres), stamp=(6, 0)), rgb, (6, 0))
    np.testing.assert_allclose(depth, metres, rtol=1e-3)
    assert not any(m.header.stamp.sec == 5 for m in h.received["depth"])
    _, values = scale_status(h, lambda s: "anchored" in s.message)
    assert float(values["scale"]) == pytest.approx(40.0, rel=1e-3)
    assert float(values["scale_shift"]) == pytest.approx(-4.5, rel=1e-3)


def test_a_metric_line_from_the_anchors_is_published_and_scale_model_switches_live(
        harness_factory, tiny_weights):
    h = harness_factory({"scale_source": "sparse_depth", "diagnostics_period": 0.2,
                         "scale_smoothing": 0.0})
    pub = with_sparse_publisher(h)
    rgb = random_rgb(H, W, seed=3)
    raw = DepthEstimator.from_weights(tiny_weights, device="cpu").predict(rgb).values
    # The random model's depth is nearly flat (±2 %): a sensor that reads its small variation as
    # 1–3 m of depth, metres = 50·(raw − p5) + 1, is a line no single scale can follow.
    sensor = scan_line_depth(50.0 * (raw - float(np.percentile(raw, 5))) + 1.0)
    core = ScaleCorrector(ScaleSettings("sparse_depth", smoothing_time_s=0.0), relative=False)
    expected = core.correct(raw, 7.0, sparse_depth=sensor)
    assert expected.fit.span is not None and expected.shift != 0  # the core takes the line
    depth = send(h, pub, sparse_msg(sensor, stamp=(7, 0)), rgb, (7, 0))
    np.testing.assert_allclose(depth, expected.depth, rtol=1e-4)
    _, values = scale_status(h, lambda s: "scale_shift" in {kv.key for kv in s.values})
    assert float(values["scale_shift"]) == pytest.approx(expected.shift, rel=1e-3)
    assert float(values["scale_factor"]) == pytest.approx(expected.factor, rel=1e-3)
    # one scale, set live: the same anchors now give a plain factor
    h.node.set_parameters([Parameter("scale_model", value="scale")])
    plain = ScaleCorrector(ScaleSettings("sparse_depth", smoothing_time_s=0.0,
                                         scale_model="scale"), relative=False)
    expected_plain = plain.correct(raw, 8.0, sparse_depth=sensor)
    depth = send(h, pub, sparse_msg(sensor, stamp=(8, 0)), rgb, (8, 0))
    np.testing.assert_allclose(depth, expected_plain.depth, rtol=1e-4)
    assert not np.allclose(depth, expected.depth, rtol=1e-2)


def bad_sparse_inputs(raw):
    good = scan_line_depth(raw * 3.0)
    yield sparse_msg(good[:24, :32], stamp=(20, 0)), "sparse depth is 32×24 but the image is 64×48"
    yield (sparse_msg(good, frame_id="lidar_link", stamp=(21, 0)),
           "frame_id 'lidar_link' differs from the image's 'camera_optical_frame'")
    yield sparse_msg(np.full((H, W), np.nan), stamp=(22, 0)), "no anchors: every sparse depth"
    rgb8 = Image(height=H, width=W, encoding="rgb8", step=3 * W, data=bytes(3 * W * H))
    rgb8.header.frame_id, rgb8.header.stamp.sec = "camera_optical_frame", 23
    yield rgb8, "encoding 'rgb8' is not 32FC1 (metres) or 16UC1 (millimetres)"
    yield None, "no sparse depth within sparse_depth_tolerance = 0.05 s"  # (24, 0): none near


def test_each_bad_sparse_depth_is_logged_served_unscaled_and_reported(harness_factory,
                                                                     tiny_weights):
    h = harness_factory({"scale_source": "sparse_depth", "diagnostics_period": 0.2,
                         "error_log_period": 0.0})
    pub = with_sparse_publisher(h)
    log = RosoutLog(h, Log.WARN)
    rgb = random_rgb(H, W)
    raw = DepthEstimator.from_weights(tiny_weights, device="cpu").predict(rgb).values
    for index, (bad, text) in enumerate(bad_sparse_inputs(raw)):
        stamp = (20 + index, 0)
        depth = send(h, pub, bad, rgb, stamp)
        np.testing.assert_allclose(depth, raw, rtol=1e-6)  # the model's own depth, served
        line = log.wait(text)[-1]
        assert line.startswith(f"{h.ns}/sparse_depth: ")
        assert line.endswith("; publishing the model's own (unscaled) depth")
        status, values = scale_status(h, lambda s, text=text: text in s.message)
        assert status.level == DiagnosticStatus.WARN and values["scale_state"] == "unscaled"
        assert status.message.startswith("publishing the model's own (unscaled) depth: ")
    assert h.node.worker_alive
    # and a good one afterwards is anchored
    depth = send(h, pub, sparse_msg(scan_line_depth(raw * 3.0), stamp=(30, 0)), rgb, (30, 0))
    np.testing.assert_allclose(depth, raw * 3.0, rtol=1e-4)


def test_ground_plane_uses_the_camera_info_and_a_negative_height_falls_back(harness_factory,
                                                                          tiny_weights):
    h = harness_factory({"scale_source": "ground_plane", "camera_height": -1.0,
                         "camera_pitch_deg": 20.0, "diagnostics_period": 0.2,
                         "error_log_period": 0.0})
    log = RosoutLog(h, Log.WARN)
    h.send_info(make_camera_info(W, H))
    rgb = random_rgb(H, W)
    raw = DepthEstimator.from_weights(tiny_weights, device="cpu").predict(rgb).values
    h.image_pub.publish(make_image(rgb, stamp=(40, 0)))
    np.testing.assert_allclose(depth_of(h.wait_stamp("depth", (40, 0))), raw, rtol=1e-6)
    line = log.wait("camera_height is -1.0 m: must be > 0")[-1]
    assert line.startswith("parameter 'camera_height': ")
    status, _ = scale_status(h, lambda s: "camera_height" in s.message)
    assert status.level == DiagnosticStatus.WARN and "unscaled" in status.message
    # A live fix of the height: the fit now runs with the camera_info's intrinsics. The random
    # model sees no floor, and the node refuses exactly as the core does on the same frame.
    h.node.set_parameters([Parameter("camera_height", value=1.2)])
    expected = fit_ground_plane(raw, GroundPlane.from_pitch_roll(1.2, 20.0), relative=False,
                                intrinsics=CameraIntrinsics(40.0, 42.0, 31.5, 23.5, W, H))
    assert expected.code == "no_floor"
    h.image_pub.publish(make_image(rgb, stamp=(41, 0)))
    h.wait_stamp("depth", (41, 0))
    assert log.wait(expected.reason)[-1].startswith(expected.reason)  # said once, not twice
    # the limit on the floor's correction is a live parameter, checked like the height
    h.node.set_parameters([Parameter("ground_max_correction", value=0.5)])
    h.image_pub.publish(make_image(rgb, stamp=(42, 0)))
    np.testing.assert_allclose(depth_of(h.wait_stamp("depth", (42, 0))), raw, rtol=1e-6)
    log.wait("ground_max_correction 0.5: use 0 (no limit) or a factor ≥ 1")


def test_ground_plane_takes_the_floor_normal_from_the_imu_topic(harness_factory, tiny_weights):
    """`ground_normal: imu`: the camera's parameters say level (pitch 0), its IMU, mounted in a
    body frame (x forward, y left, z up: imu_pitch_deg -90, imu_yaw_deg 90), says the camera
    looks straight down. The random model reads the same depth everywhere, which is exactly
    what a floor seen from straight above gives, so only the IMU's normal finds the floor."""
    intrinsics = CameraIntrinsics(40.0, 42.0, 31.5, 23.5, W, H)
    rgb = random_rgb(H, W)
    raw = DepthEstimator.from_weights(tiny_weights, device="cpu").predict(rgb).values
    height = 0.5 * float(np.median(raw))
    h = harness_factory({"scale_source": "ground_plane", "ground_normal": "imu",
                         "camera_height": height, "imu_pitch_deg": -90.0, "imu_yaw_deg": 90.0,
                         "diagnostics_period": 0.2, "error_log_period": 0.0})
    log = RosoutLog(h, Log.WARN)
    h.send_info(make_camera_info(W, H))
    h.image_pub.publish(make_image(rgb, stamp=(50, 0)))  # no IMU yet: unscaled, and said
    np.testing.assert_allclose(depth_of(h.wait_stamp("depth", (50, 0))), raw, rtol=1e-6)
    assert log.wait("no IMU reading received yet")[-1].startswith(
        f"{h.ns}/imu: no IMU reading received yet; publishing the model's own")
    pub = h.probe.create_publisher(Imu, f"{h.ns}/imu", QoSProfile(depth=20))
    reading = Imu()
    reading.header.frame_id = "imu_link"
    # looking straight down, up is −z of the optical frame, which is −x of the body frame (its
    # forward axis points at the floor): at rest the accelerometer reads 1 g along −x
    reading.linear_acceleration.x, reading.linear_acceleration.z = -9.81, 0.0
    expected = fit_ground_plane(raw, GroundPlane(height, (0.0, 0.0, -1.0)), relative=False,
                                intrinsics=intrinsics)
    assert expected.ok and expected.scale == pytest.approx(0.5, rel=1e-3)
    deadline = time.monotonic() + 20
    for second in range(51, 100):  # until the IMU's readings reach the node before a frame
        reading.header.stamp.sec = second
        for _ in range(3):
            pub.publish(reading)
        h.image_pub.publish(make_image(rgb, stamp=(second, 0)))
        depth = depth_of(h.wait_stamp("depth", (second, 0)))
        if not np.allclose(depth, raw, rtol=1e-6) or time.monotonic() > deadline:
            break
    np.testing.assert_allclose(depth, expected.apply(raw), rtol=1e-5)
    status, values = scale_status(
        h, lambda s: {kv.key: kv.value for kv in s.values}.get("scale_state") == "anchored")
    assert float(values["imu_camera_pitch_deg"]) == pytest.approx(90.0, abs=0.05)
    assert float(values["scale"]) == pytest.approx(0.5, rel=1e-3)

    def frames_until(state, first):  # IMU readings, then a frame, until the status says state
        for second in range(first, first + 20):
            reading.header.stamp.sec = second
            for _ in range(3):
                pub.publish(reading)
            h.image_pub.publish(make_image(rgb, stamp=(second, 0)))
            h.wait_stamp("depth", (second, 0))
            try:
                return second, scale_status(h, lambda s: {kv.key: kv.value for kv in s.values}
                                            .get("scale_state") == state, timeout=1.0)[1]
            except TimeoutError:
                continue
        raise AssertionError(f"the scale never became {state}")

    # The camera accelerates: its accelerometer now reads "level" (up along the body's z), no
    # floor there, the scale is held. An IMU filter's orientation still says straight down
    # (world z along −x of the body: a quarter turn about y): with imu_orientation it wins.
    reading.linear_acceleration.x, reading.linear_acceleration.z = 0.0, 9.81
    reading.orientation.y = reading.orientation.w = math.sqrt(0.5)
    second, values = frames_until("held", second + 1)
    assert float(values["imu_camera_pitch_deg"]) == pytest.approx(0.0, abs=0.05)
    assert h.node.set_parameters([Parameter("imu_orientation", value=True)])[0].successful
    second, values = frames_until("anchored", second + 1)
    assert float(values["imu_camera_pitch_deg"]) == pytest.approx(90.0, abs=0.05)
    assert float(values["scale"]) == pytest.approx(0.5, rel=1e-3)
    # a message that says it has none is skipped, and the warning says why
    reading.orientation_covariance[0] = -1.0
    frames_until("held", second + 1)
    log.wait("the IMU message says it has no orientation (orientation_covariance[0] = -1")


def test_the_parameters_mount_writes_from_a_bag_make_the_node_find_its_floor(
        harness_factory, tiny_weights, tmp_path):
    """`depth-anything-ros mount` on a bag whose camera looks straight down from a known height
    (its /tf_static): the node started with the written parameters finds the floor there (the
    random model reads the same depth everywhere, a floor seen from straight above), scaled
    by the height; an upside-down camera's roll, 180, is within the node's range."""
    import yaml
    from bag_helpers import FLOOR_FRAME, write_tf_bag

    from depth_anything_ros.cli import main

    rgb = random_rgb(H, W)
    raw = DepthEstimator.from_weights(tiny_weights, device="cpu").predict(rgb).values
    write_tf_bag(tmp_path / "drive", 0.5 * float(np.median(raw)), frames=1)
    assert main(["mount", str(tmp_path / "drive"), "--ground-frame", FLOOR_FRAME,
                 "--camera-frame", "cam_optical_frame", "--out", str(tmp_path / "m.yaml")]) == 0
    params = yaml.safe_load((tmp_path / "m.yaml").read_text())["/**"]["ros__parameters"]
    h = harness_factory({**params, "scale_smoothing": 0.0})
    h.send_info(make_camera_info(W, H))
    h.image_pub.publish(make_image(rgb, stamp=(60, 0)))
    expected = fit_ground_plane(raw, GroundPlane(params["camera_height"], (0.0, 0.0, -1.0)),
                                relative=False,
                                intrinsics=CameraIntrinsics(40.0, 42.0, 31.5, 23.5, W, H))
    assert expected.ok and expected.scale == pytest.approx(0.5, rel=1e-3)
    np.testing.assert_allclose(depth_of(h.wait_stamp("depth", (60, 0))), expected.apply(raw),
                               rtol=1e-5)
    results = h.node.set_parameters([Parameter("camera_roll_deg", value=180.0)])
    assert results[0].successful, results[0].reason


def test_ground_normal_imu_without_the_ground_plane_is_said_and_subscribes_nothing(
        harness_factory, capfd):
    h = harness_factory({"scale_source": "sparse_depth", "ground_normal": "imu"})
    # said while the node starts, before any /rosout subscriber could be ready: its console
    assert ("parameter 'ground_normal' is 'imu', but scale_source is 'sparse_depth'"
            in capfd.readouterr().err)
    deadline = time.monotonic() + 10  # the graph is discovered, then imu is seen absent
    while h.probe.count_subscribers(f"{h.ns}/sparse_depth") != 1:
        assert time.monotonic() < deadline, "the node's sparse_depth subscription not seen"
        time.sleep(0.02)
    assert h.probe.count_subscribers(f"{h.ns}/imu") == 0


def test_a_sensor_that_does_not_stamp_gets_the_newest_anchors_and_a_moving_scale(
        harness_factory, tiny_weights):
    # Camera and sparse sensor both publish stamp 0: every buffered sparse message is equally
    # near, and stamps never advance. The node must pair the newest one and time the filter by
    # its clock; before, it kept the oldest message and a filter gain of 1 − exp(−0/τ) = 0.
    h = harness_factory({"scale_source": "sparse_depth", "scale_smoothing": 0.3})
    pub = with_sparse_publisher(h)
    rgb = random_rgb(H, W, seed=7)
    raw = DepthEstimator.from_weights(tiny_weights, device="cpu").predict(rgb).values
    applied = []
    for factor in (2.0, 2.0, 2.4, 2.4, 2.4, 2.4, 2.4):
        h.send_sparse(pub, sparse_msg(scan_line_depth(raw * factor), stamp=(0, 0)))
        time.sleep(0.15)  # not ordering: the filter is timed by the node's clock, let it run
        count = len(h.received["depth"])
        h.image_pub.publish(make_image(rgb, stamp=(0, 0)))
        deadline = time.monotonic() + 10
        while len(h.received["depth"]) == count:
            assert time.monotonic() < deadline, "no depth for a stamp-0 frame"
            time.sleep(0.01)
        applied.append(float(np.median(depth_of(h.received["depth"][-1]) / raw)))
    assert applied[0] == pytest.approx(2.0, rel=1e-3)
    assert applied[-1] > 2.3, applied  # followed the new anchors (×2.4), smoothed


def test_the_sparse_buffer_pairs_within_the_tolerance_inclusive_and_exact_stamps_at_zero():
    """sparse_depth_tolerance 0 (a hardware-synchronised sensor) pairs equal stamps only."""
    from depth_anything_ros.ros.metric_scale import SparseDepthBuffer

    buffer = SparseDepthBuffer()
    early, late = (sparse_msg(np.ones((H, W), np.float32), stamp=(7, ns))
                   for ns in (0, 30_000_000))
    buffer.put(early)
    buffer.put(late)
    assert buffer.nearest(7_000_000_000, 0) == (early, 0)
    assert buffer.nearest(7_010_000_000, 10_000_000) == (early, 10_000_000)  # gap = tolerance
    assert buffer.nearest(7_010_000_000, 9_999_999) == (None, 10_000_000)
    assert buffer.nearest(7_025_000_000, 10_000_000) == (late, 5_000_000)


@pytest.mark.parametrize("wait", [0.0, 2.0])
def test_a_scan_arriving_after_its_frame_is_waited_for_within_sparse_depth_wait(
        harness_factory, tiny_weights, wait, monkeypatch):
    """A lidar's projected scan is published after the camera frame it belongs to; the bag
    pairs it by stamp whenever it was recorded, the node waits up to sparse_depth_wait."""
    from depth_anything_ros.ros import metric_scale
    monkeypatch.setattr(metric_scale, "ALIVE_S", 60.0)  # the sensor is live however slow the host
    h = harness_factory({"scale_source": "sparse_depth", "sparse_depth_wait": wait,
                         "scale_smoothing": 0.0})
    watched = h.node._scale._sparse._arrived = WatchedCondition()
    pub = with_sparse_publisher(h)
    estimator = DepthEstimator.from_weights(tiny_weights, device="cpu")
    rgb = random_rgb(H, W, seed=4)
    raw = estimator.predict(rgb).values
    h.send_sparse(pub, sparse_msg(scan_line_depth(raw * 2.0), stamp=(8, 0)))
    h.image_pub.publish(make_image(rgb, stamp=(8, 0)))  # on time
    np.testing.assert_allclose(depth_of(h.wait_stamp("depth", (8, 0))), raw * 2.0, rtol=1e-3)
    assert watched.waits == 0  # its scan was there: no wait
    h.image_pub.publish(make_image(rgb, stamp=(9, 0)))
    if wait:
        assert watched.waiting.wait(20), "the frame did not wait for its scan"
        pub.publish(sparse_msg(scan_line_depth(raw * 2.2), stamp=(9, 0)))
        np.testing.assert_allclose(depth_of(h.wait_stamp("depth", (9, 0))), raw * 2.2, rtol=1e-3)
    else:  # not waited for: the frame had no scan (the held 2.0 is served)
        np.testing.assert_allclose(depth_of(h.wait_stamp("depth", (9, 0))), raw * 2.0, rtol=1e-3)
        assert watched.waits == 0
