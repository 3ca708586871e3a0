"""The demo's parts on their own, without running a whole demo: its environment (DDS kept
local), the recorder's cloud reading and scoring, the summary's accounting, the synthetic
camera and its CameraInfo, the frames' path and pinhole, the node process (log tail, Ctrl-C
escalation) and the preview's top view. `test_demo.py` runs the demo itself."""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest


def test_demo_environment_keeps_dds_local_and_respects_an_explicit_domain():
    from depth_anything_ros.demo.node_process import DEMO_DOMAIN_RANGE, demo_environment

    chosen = demo_environment({"PATH": "/bin"})
    assert chosen["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert chosen["ROS_LOCALHOST_ONLY"] == "1"  # Humble reads only this one
    assert DEMO_DOMAIN_RANGE[0] <= int(chosen["ROS_DOMAIN_ID"]) <= DEMO_DOMAIN_RANGE[1]
    explicit = demo_environment({"ROS_DOMAIN_ID": "7", "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET",
                                 "ROS_LOCALHOST_ONLY": "0"})
    assert explicit["ROS_DOMAIN_ID"] == "7"
    assert explicit["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert explicit["ROS_LOCALHOST_ONLY"] == "1"


def test_recorder_reads_a_pointcloud2_by_its_fields():
    """The cloud reader decodes x, y, z and packed rgb through the message's field table."""
    from sensor_msgs.msg import PointCloud2, PointField

    from depth_anything_ros.demo.recorder import cloud_arrays
    from depth_anything_ros.geometry.camera import CameraIntrinsics
    from depth_anything_ros.geometry.pointcloud import POINT_FIELDS, POINT_STEP, organized_cloud

    depth = np.full((3, 4), 2.0, np.float32)
    depth[1, 2] = np.nan
    rgb = np.arange(3 * 4 * 3, dtype=np.uint8).reshape(3, 4, 3)
    cloud = organized_cloud(depth, rgb, CameraIntrinsics(2.0, 2.0, 1.5, 1.0, 4, 3))
    msg = PointCloud2(height=3, width=4, point_step=POINT_STEP, row_step=4 * POINT_STEP,
                      is_bigendian=False, is_dense=False)
    msg.fields = [PointField(name=n, offset=o, datatype=d, count=c) for n, o, d, c in POINT_FIELDS]
    msg.data = cloud.tobytes()
    xyz, colours = cloud_arrays(msg)
    assert xyz.shape == (3, 4, 3) and np.isnan(xyz[1, 2]).all()
    assert xyz[0, 0].tolist() == pytest.approx([(0 - 1.5) * 2.0 / 2.0, (0 - 1.0) * 2.0 / 2.0, 2.0])
    np.testing.assert_array_equal(colours, rgb)


def test_birds_eye_view_puts_a_point_where_its_x_and_z_say():
    from depth_anything_ros.demo.preview import birds_eye_view

    point = np.array([[1.0, 0.3, 4.0]])  # 1 m right, 4 m ahead
    view = birds_eye_view(point, np.array([[0, 0, 255]], np.uint8), 101, 101, z_max=10.0)
    # 10 px per metre, camera at the bottom centre (row 100, column 50)
    assert view[100 - 40, 50 + 10].tolist() == [0, 0, 255]


def test_frame_accounting_blames_transport_not_the_node_for_a_depth_lost_beside_its_cloud():
    from depth_anything_ros.demo.summary import frame_accounting

    # frames 1-6 published; depth came back for 1-3, clouds for 1-4 (and 99, a warm-up frame)
    counts = frame_accounting(range(1, 7), [1, 2, 3], [1, 2, 3, 4, 99])
    assert counts == {"processed_by_node": 4, "not_processed": 2, "depth_lost_after_node": 1}


def test_summary_rates_and_latency_percentiles():
    from depth_anything_ros.demo.summary import latency_stats, rate_hz

    assert rate_hz([0.0, 0.5, 1.0, 1.5, 2.0]) == pytest.approx(2.0)
    assert rate_hz([3.0]) is None
    stats = latency_stats([0.1] * 19 + [1.0])
    assert stats["p50_ms"] == pytest.approx(100.0)
    # numpy's linear percentile: rank 0.95 · 19 = 18.05 → 100 + 0.05 · 900 ms
    assert stats["p95_ms"] == pytest.approx(145.0)
    assert stats["max_ms"] == pytest.approx(1000.0)
    assert latency_stats([])["p50_ms"] is None


def test_the_valid_pixel_fraction_counts_only_pixels_the_ground_truth_has():
    """summary.json's valid_pixel_fraction: of the pixels with ground truth, how many got a
    usable depth (pixels without truth, the sky in the outdoor scene, do not count)."""
    from depth_anything_ros.demo.recorder import DepthRecorder

    gt = np.array([[1.0, np.nan], [np.nan, 2.0]])
    _, all_of_them = DepthRecorder._score(np.ones((2, 2)), gt)
    _, half = DepthRecorder._score(np.array([[1.0, 1.0], [1.0, np.nan]]), gt)
    assert (all_of_them, half) == (1.0, 0.5)


def _demo_frame(width=32, height=24, fx=30.0, fy=31.0, cx=15.5, cy=11.5):
    from depth_anything_ros.demo.frames import DemoFrame

    return DemoFrame(np.zeros((height, width, 3), np.uint8), np.ones((height, width), np.float32),
                     fx, fy, cx, cy)


def test_the_node_reads_the_demo_cameras_info_as_the_frames_own_pinhole():
    """The node takes an undistorted camera's pinhole from P (intrinsics_source auto), so the
    demo's P must be [K | 0]: a P laid out like K (fy and cy one slot early) still "projects"
    and silently bends every cloud the demo shows, while the summary, which checks only K,
    stays green."""
    from std_msgs.msg import Header

    from depth_anything_ros.demo.camera import camera_info_for
    from depth_anything_ros.geometry.camera_model import Calibration, CameraModelCache

    frame = _demo_frame()
    info = camera_info_for(frame, Header(frame_id="camera_optical_frame"))
    assert (info.width, info.height) == (32, 24)
    k, p = np.reshape(info.k, (3, 3)), np.reshape(info.p, (3, 4))
    np.testing.assert_array_equal(k, [[30.0, 0.0, 15.5], [0.0, 31.0, 11.5], [0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(p, np.hstack([k, np.zeros((3, 1))]))
    camera = CameraModelCache().frame_camera(Calibration.from_message(info), 32, 24)
    i = camera.model.intrinsics
    assert (i.fx, i.fy, i.cx, i.cy) == (30.0, 31.0, 15.5, 11.5)


def test_demo_frames_follow_the_path_at_the_scene_speed_whatever_the_rate():
    """SPEED_MPS is metres per second: frame 2 at 2 Hz and frame 1 at 1 Hz are both one second
    along the indoor path, so they are the same picture (the motion looks the same at any
    rate); a speed applied per frame would put them 0.4 m apart."""
    from depth_anything_ros.demo.frames import render_demo_frames

    at_2hz = render_demo_frames(3, 32, 24, rate_hz=2.0, workers=1)
    at_1hz = render_demo_frames(2, 32, 24, rate_hz=1.0, workers=1)
    np.testing.assert_array_equal(at_2hz[2].rgb, at_1hz[1].rgb)
    np.testing.assert_array_equal(at_2hz[2].depth, at_1hz[1].depth)
    assert not np.array_equal(at_2hz[1].rgb, at_2hz[2].rgb)  # the camera does move


def test_demo_frames_carry_the_pinhole_of_the_requested_field_of_view():
    """A 64×48 frame with a 90° horizontal field of view: fx = fy = 32 px, principal point at
    the centre (31.5, 23.5); its CameraInfo is what the node scales depth by."""
    from depth_anything_ros.demo.frames import render_demo_frames

    frame, = render_demo_frames(1, 64, 48, rate_hz=1.0, hfov_deg=90.0, workers=1)
    assert frame.rgb.shape == (48, 64, 3) and frame.depth.shape == (48, 64)
    assert (frame.fx, frame.fy, frame.cx, frame.cy) == pytest.approx((32.0, 32.0, 31.5, 23.5))


def test_a_failed_start_quotes_the_end_of_the_node_log(tmp_path):
    """The error names why the node died, which is in its last lines (the traceback), not in
    the banner at the top of a long log."""
    from depth_anything_ros.demo.node_process import log_tail

    log = tmp_path / "depth_node.log"
    log.write_text("".join(f"line {n}\n" for n in range(1, 41)) + "\n")
    assert log_tail(log, 15) == "\n".join(f"line {n}" for n in range(26, 41))
    assert log_tail(tmp_path / "missing.log") == ""


def test_a_blank_ros_domain_id_gets_a_private_domain_too():
    """ROS_DOMAIN_ID="" (an unset variable exported by a script) means domain 0 to ROS: the
    demo must draw a private one, as when the variable is absent."""
    from depth_anything_ros.demo.node_process import DEMO_DOMAIN_RANGE, demo_environment

    for blank in ("", "  "):
        chosen = demo_environment({"ROS_DOMAIN_ID": blank})
        assert DEMO_DOMAIN_RANGE[0] <= int(chosen["ROS_DOMAIN_ID"]) <= DEMO_DOMAIN_RANGE[1]


def test_stopping_a_node_that_ignores_ctrl_c_escalates_to_sigterm():
    """A node stuck in a call that ignores SIGINT must not hang the demo: after the timeout it
    gets SIGTERM (here it then exits with status 3)."""
    import threading

    from depth_anything_ros.demo.node_process import stop_depth_node

    child = subprocess.Popen(
        [sys.executable, "-c",
         "import signal, sys, time\n"
         "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
         "signal.signal(signal.SIGTERM, lambda *a: sys.exit(3))\n"
         "print('ready', flush=True)\n"
         "time.sleep(60)\n"], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        result = []
        worker = threading.Thread(target=lambda: result.append(stop_depth_node(child, 0.5)),
                                  daemon=True)
        worker.start()
        worker.join(timeout=20)
        assert result == [3], "stop_depth_node did not escalate past SIGINT"
    finally:
        child.kill()
        child.wait()
        child.stdout.close()


def test_birds_eye_view_draws_the_prediction_over_the_grey_ground_truth():
    """Where predicted and true points coincide the prediction's colour shows (it is what is
    judged); a true point with no prediction on it stays grey."""
    from depth_anything_ros.demo.preview import GT_POINT_BGR, birds_eye_view

    predicted = np.array([[1.0, 0.0, 4.0]])
    truth = np.array([[1.0, 0.0, 4.0], [-2.0, 0.0, 6.0]])
    view = birds_eye_view(predicted, np.array([[0, 0, 255]], np.uint8), 101, 101, z_max=10.0,
                          gt_points_xyz=truth)
    assert view[100 - 40, 50 + 10].tolist() == [0, 0, 255]
    assert view[100 - 60, 50 - 20].tolist() == list(GT_POINT_BGR)


def test_birds_eye_view_spans_the_camera_at_the_bottom_to_z_max_at_the_top():
    """The top view's rows cover 0..z_max exactly: a point at z_max is on the top row, the
    camera's own position on the bottom row."""
    from depth_anything_ros.demo.preview import birds_eye_view

    points = np.array([[0.0, 0.0, 10.0], [0.0, 0.0, 0.0]])
    view = birds_eye_view(points, None, 101, 101, z_max=10.0)
    assert view[0, 50].tolist() == [255, 255, 255]
    assert view[100, 50].tolist() == [255, 255, 255]


def test_the_synthetic_camera_sends_each_frame_once_after_warm_up_then_stops():
    """Warm-up repeats frame 0 under stamps of its own; the measured run then sends frames
    0..N-1 once each, in order, and the camera stops by itself after the last one (one more
    tick would index past the film)."""
    import rclpy

    from depth_anything_ros.demo.camera import SyntheticCamera

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        camera = SyntheticCamera([_demo_frame() for _ in range(3)], 1000.0, context=context)
        try:
            for _ in range(2):
                camera._tick()
                time.sleep(0.002)  # distinct stamps
            camera.start_run()
            for _ in range(5):
                camera._tick()
                time.sleep(0.002)
            stats = camera.snapshot()
            assert stats["warmup_published"] == 2
            assert [camera.frame_for_stamp(s) for s in stats["published_stamps"]] == [0, 1, 2]
            assert camera.finished.is_set()
            assert camera.last_run_stamp() == max(stats["published_stamps"])
            assert not any(camera.warmup_stamp(s) for s in stats["published_stamps"])
        finally:
            camera.destroy_node()
    finally:
        context.try_shutdown()
