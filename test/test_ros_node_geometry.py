"""depth/points from the node: z equals the published depth, x/y follow the pinhole formulas."""
import math

import numpy as np
import pytest
from rclpy.parameter import Parameter

from depth_anything_ros.conversions import decode_depth
from depth_anything_ros.geometry.pointcloud import unpack_rgb
from depth_anything_ros.ros.messages import cloud_from_msg
from ros_helpers import (  # noqa: F401 — fixtures
    harness_factory, make_camera_info, make_image, random_rgb, ros_context, save_plane_model,
    tiny_weights)

FX, FY, CX, CY = 40.0, 42.0, 15.0, 11.0


def send(h, rgb, stamp, info=None):
    h.send_info(info or make_camera_info(rgb.shape[1], rgb.shape[0], fx=FX, fy=FY, cx=CX,
                                         cy=CY, stamp=stamp))
    h.image_pub.publish(make_image(rgb, stamp=stamp))
    depth_msg = h.wait_stamp("depth", stamp)
    depth = decode_depth("32FC1", depth_msg.height, depth_msg.width, depth_msg.step, False,
                         depth_msg.data)
    return depth, cloud_from_msg(h.wait_stamp("points", stamp))


def test_plane_at_two_metres_through_the_node(harness_factory, tmp_path):
    h = harness_factory(weights=save_plane_model(tmp_path / "plane.safetensors", 2.0))
    rgb = random_rgb(24, 32, seed=4)
    depth, cloud = send(h, rgb, (3, 0))
    np.testing.assert_allclose(depth, 2.0, rtol=1e-5)
    u, v = np.meshgrid(np.arange(32), np.arange(24))
    np.testing.assert_allclose(cloud["z"], 2.0, rtol=1e-5)
    np.testing.assert_allclose(cloud["x"], (u - CX) * 2.0 / FX, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cloud["y"], (v - CY) * 2.0 / FY, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(unpack_rgb(cloud["rgb"]), rgb)


@pytest.mark.parametrize("stride", [1, 3])
def test_stride_and_range_limits_are_honoured_on_model_depth(harness_factory, stride):
    h = harness_factory({"points_stride": stride})
    rgb = random_rgb(24, 32, seed=5)
    depth, _ = send(h, rgb, (4, 0))
    # Limits equal to depths of sampled pixels: the boundaries are inclusive, and hit exactly.
    lo, hi = np.nanpercentile(depth[::stride, ::stride], [25, 75], method="nearest")
    assert h.node.set_parameters([Parameter("min_range", value=float(lo)),
                                  Parameter("max_range", value=float(hi))])[0].successful
    depth2, cloud = send(h, rgb, (4, 1))
    np.testing.assert_array_equal(depth2, depth)
    assert cloud.shape == (math.ceil(24 / stride), math.ceil(32 / stride))
    j, i = np.meshgrid(np.arange(cloud.shape[0]), np.arange(cloud.shape[1]), indexing="ij")
    u, v = stride * i, stride * j
    z = depth[v, u]
    kept = (z >= lo) & (z <= hi)
    assert kept.any() and (~kept).any() and (z == lo).any() and (z == hi).any()
    np.testing.assert_array_equal(np.isnan(cloud["z"]), ~kept)
    np.testing.assert_allclose(cloud["z"][kept], z[kept], rtol=1e-6)
    np.testing.assert_allclose(cloud["x"][kept], ((u - CX) * z / FX)[kept], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cloud["y"][kept], ((v - CY) * z / FY)[kept], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(unpack_rgb(cloud["rgb"]), rgb[v, u])
