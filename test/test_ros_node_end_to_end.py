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
    harness_factory, make_camera_info, make_image, random_rgb, ros_context, tiny_weights)


def test_outputs_keep_the_input_stamp_and_frame_id_and_depth_equals_the_estimator(
        harness_factory, tiny_weights):
    h = harness_factory(image_qos=qos_profile_sensor_data)
    rgb = random_rgb()
    h.info_pub.publish(make_camera_info(32, 24, frame_id="cam_a", stamp=(5, 0)))
    h.wait_connected()
    import time; time.sleep(0.2)
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
