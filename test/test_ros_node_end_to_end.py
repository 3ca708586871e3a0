"""Frames in, depth/image + depth/camera_info + depth/points out, under the input header."""

import cv2
import numpy as np
import pytest
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage

from depth_anything_ros.conversions import decode_depth
from depth_anything_ros.geometry.pointcloud import unpack_rgb
from depth_anything_ros.inference.estimator import DepthEstimator
from depth_anything_ros.ros.messages import cloud_from_msg
from ros_helpers import (  # noqa: F401 — fixtures
    harness_factory, make_camera_info, make_image, random_rgb, ros_context,
    save_canonical_plane_model, tiny_weights)


def test_outputs_keep_the_input_stamp_and_frame_id_and_depth_equals_the_estimator(
        harness_factory, tiny_weights):
    h = harness_factory(image_qos=qos_profile_sensor_data)
    rgb = random_rgb()
    h.wait_connected()
    h.send_info(make_camera_info(32, 24, frame_id="cam_a", stamp=(5, 0)))
    h.image_pub.publish(make_image(rgb, "rgb8", frame_id="cam_a", stamp=(7, 123)))
    depth_msg = h.wait_stamp("depth", (7, 123))
    info_msg = h.wait_stamp("info", (7, 123))
    points_msg = h.wait_stamp("points", (7, 123))
    for msg in (depth_msg, info_msg, points_msg):
        assert msg.header.frame_id == "cam_a"
    assert (depth_msg.encoding, depth_msg.width, depth_msg.height) == ("32FC1", 32, 24)
    depth = decode_depth("32FC1", 24, 32, depth_msg.step, depth_msg.is_bigendian, depth_msg.data)
    expected = DepthEstimator.from_weights(tiny_weights, device="cpu").predict(rgb).values
    np.testing.assert_allclose(depth, expected, rtol=1e-5, atol=1e-6)
    cloud = cloud_from_msg(points_msg)
    assert cloud.shape == (24, 32) and not points_msg.is_dense
    np.testing.assert_allclose(cloud["z"], depth, rtol=1e-6)
    np.testing.assert_array_equal(unpack_rgb(cloud["rgb"]), rgb)
    assert list(info_msg.k) == list(make_camera_info(32, 24).k)


def send_and_wait(h, msg, key="points", stamp=None):
    stamp = stamp or (msg.header.stamp.sec, msg.header.stamp.nanosec)
    h.image_pub.publish(msg)
    return h.wait_stamp(key, stamp)


@pytest.fixture
def calibrated(harness_factory):
    h = harness_factory()
    h.send_info(make_camera_info(32, 24))
    return h


ENCODINGS = [("rgb8", 0, False), ("bgr8", 4, False), ("rgba8", 0, False), ("bgra8", 8, False),
             ("mono8", 3, False), ("mono16", 2, False), ("mono16", 5, True)]


def test_all_raw_encodings_round_trip_to_the_source_colours(calibrated):
    rgb = random_rgb(seed=1)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    for index, (encoding, padding, bigendian) in enumerate(ENCODINGS):
        msg = make_image(rgb, encoding, row_padding=padding, is_bigendian=bigendian,
                         stamp=(10, index))
        cloud = cloud_from_msg(send_and_wait(calibrated, msg))
        expected = rgb if not encoding.startswith("mono") else np.repeat(grey[:, :, None], 3, 2)
        np.testing.assert_array_equal(unpack_rgb(cloud["rgb"]), expected, err_msg=encoding)


def compressed(rgb, ext, stamp, fmt):
    ok, data = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    msg = CompressedImage(format=fmt, data=data.tobytes())
    msg.header.frame_id = "camera_optical_frame"
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    return msg


def test_compressed_png_and_jpeg_input_on_image_compressed(harness_factory):
    h = harness_factory({"image_transport": "compressed"}, compressed=True)
    assert h.node.image_topic == f"{h.ns}/image/compressed"
    h.send_info(make_camera_info(32, 24))
    rgb = random_rgb(seed=2)
    png = compressed(rgb, ".png", (20, 0), "rgb8; png compressed bgr8")
    cloud = cloud_from_msg(send_and_wait(h, png))
    np.testing.assert_array_equal(unpack_rgb(cloud["rgb"]), rgb)
    flat = np.full((24, 32, 3), (180, 40, 90), np.uint8)
    cloud = cloud_from_msg(send_and_wait(h, compressed(flat, ".jpg", (20, 1), "jpeg")))
    assert np.abs(unpack_rgb(cloud["rgb"]).astype(int) - flat).max() <= 4


def test_camera_info_of_another_resolution_is_scaled_to_the_depth_image(harness_factory):
    h = harness_factory()
    h.send_info(make_camera_info(64, 48, fx=80.0, fy=84.0, cx=31.0, cy=23.0))
    send_and_wait(h, make_image(random_rgb(), stamp=(30, 0)), key="depth")
    info = h.wait_stamp("info", (30, 0))
    assert (info.width, info.height) == (32, 24)
    assert [info.k[0], info.k[2], info.k[4], info.k[5]] == [40.0, 15.5, 42.0, 11.5]
    assert [info.p[0], info.p[2], info.p[5], info.p[6]] == [40.0, 15.5, 42.0, 11.5]


def test_without_camera_info_depth_is_published_and_points_wait(harness_factory):
    h = harness_factory()
    send_and_wait(h, make_image(random_rgb(), stamp=(40, 0)), key="depth")
    h.send_info(make_camera_info(32, 24))
    send_and_wait(h, make_image(random_rgb(), stamp=(40, 1)), key="points")
    stamps = [(m.header.stamp.sec, m.header.stamp.nanosec) for m in h.received["points"]]
    assert (40, 0) not in stamps and not any(
        (m.header.stamp.sec, m.header.stamp.nanosec) == (40, 0) for m in h.received["info"])


def test_require_exact_stamp_uses_only_a_camera_info_with_the_image_stamp(harness_factory):
    h = harness_factory({"require_exact_stamp": True})
    h.send_info(make_camera_info(32, 24, stamp=(50, 0)))
    send_and_wait(h, make_image(random_rgb(), stamp=(50, 1)), key="depth")
    send_and_wait(h, make_image(random_rgb(), stamp=(50, 0)), key="points")
    assert [m.header.stamp.nanosec for m in h.received["points"]] == [0]


def test_16uc1_depth_is_millimetres_of_the_same_depth(harness_factory, tiny_weights):
    h = harness_factory({"depth_encoding": "16UC1"})
    rgb = random_rgb(seed=3)
    msg = send_and_wait(h, make_image(rgb, stamp=(60, 0)), key="depth")
    assert msg.encoding == "16UC1" and msg.step == 64
    mm = np.frombuffer(msg.data, "<u2").reshape(24, 32)
    expected = DepthEstimator.from_weights(tiny_weights, device="cpu").predict(rgb).values
    np.testing.assert_array_equal(mm, np.rint(expected * 1000).astype(np.uint16))


def test_colored_depth_is_bgr8_with_the_input_header(harness_factory):
    h = harness_factory({"publish_colored": True, "colormap": "inferno"}, subscribe=("colored",))
    msg = send_and_wait(h, make_image(random_rgb(), stamp=(70, 5), frame_id="cam_c"), key="colored")
    assert (msg.encoding, msg.width, msg.height, msg.header.frame_id) == ("bgr8", 32, 24, "cam_c")
    assert len(msg.data) == 32 * 24 * 3


@pytest.mark.parametrize("policy, expected", [("auto", 2.0 * (40.0 / 24) / 0.5), ("off", 2.0)])
def test_depth_is_focal_corrected_with_the_frames_camera_info(harness_factory, tmp_path,
                                                              policy, expected):
    weights = save_canonical_plane_model(tmp_path / "canonical.safetensors")
    h = harness_factory({"focal_correction": policy}, weights=weights)
    h.wait_connected()
    # no camera_info yet: nothing to correct with, the canonical depth goes out as it is
    plain = send_and_wait(h, make_image(random_rgb(), stamp=(60, 0)), key="depth")
    np.testing.assert_allclose(decode_depth("32FC1", 24, 32, plain.step, plain.is_bigendian,
                                            plain.data), 2.0, rtol=1e-5)
    # calibrated at 64×48 with fx 80: fx 40 px on the 32×24 image, f = 40 / 24
    h.send_info(make_camera_info(64, 48, fx=80.0, fy=84.0, cx=31.0, cy=23.0))
    msg = send_and_wait(h, make_image(random_rgb(), stamp=(60, 1)), key="points")
    depth = h.wait_stamp("depth", (60, 1))
    np.testing.assert_allclose(decode_depth("32FC1", 24, 32, depth.step, depth.is_bigendian,
                                            depth.data), expected, rtol=1e-5)
    np.testing.assert_allclose(cloud_from_msg(msg)["z"], expected, rtol=1e-5)


def test_weights_under_the_home_folder_load_as_the_start_up_check_found_them(
        harness_factory, tiny_weights, tmp_path, monkeypatch):
    # `weights:=~/model.safetensors`: the check expanded "~", the loader did not
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "model.safetensors").write_bytes(tiny_weights.read_bytes())
    h = harness_factory(weights="~/model.safetensors")
    h.send_info(make_camera_info(32, 24))
    send_and_wait(h, make_image(random_rgb(), stamp=(80, 0)), key="depth")
