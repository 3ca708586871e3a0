"""The node's cloud message: built straight into the payload, byte-identical to the reference
path (organized_cloud → cloud_to_msg), and never copied on its way into the message."""
import array

import numpy as np
import pytest
from sensor_msgs.msg import Image, PointCloud2, PointField
from std_msgs.msg import Header

from depth_anything_ros.geometry.camera import CameraIntrinsics
from depth_anything_ros.geometry.pointcloud import CLOUD_DTYPE, organized_cloud
from depth_anything_ros.ros.messages import (
    _set_data, cloud_from_msg, cloud_to_msg, depth_to_cloud_msg)

K = CameraIntrinsics(50.0, 52.0, 31.5, 23.0, 64, 48)


def scene(seed: int = 0):
    rng = np.random.default_rng(seed)
    depth = rng.uniform(0.5, 5.0, (48, 64)).astype(np.float32)
    depth[3, 4], depth[10, 11] = np.nan, -1.0
    return depth, rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)


@pytest.mark.parametrize("stride, rgb", [(1, True), (3, True), (2, False)])
def test_depth_to_cloud_msg_equals_the_reference_path_byte_for_byte(stride, rgb):
    depth, colours = scene()
    colours = colours if rgb else None
    header = Header(frame_id="cam")
    reference = cloud_to_msg(organized_cloud(depth, colours, K, stride, 0.7, 4.0), header)
    msg = depth_to_cloud_msg(depth, colours, K, header, stride, 0.7, 4.0)
    assert (msg.height, msg.width, msg.row_step, msg.point_step) == (
        reference.height, reference.width, reference.row_step, reference.point_step)
    assert msg.fields == reference.fields and msg.header.frame_id == "cam"
    assert bytes(msg.data) == bytes(reference.data)
    np.testing.assert_array_equal(cloud_from_msg(msg)["z"][0], organized_cloud(
        depth, colours, K, stride, 0.7, 4.0)["z"][0])


def test_the_cloud_declares_float32_xyz_rgb_and_is_not_dense():
    """What RViz, PCL and Nav2 read before any byte: four FLOAT32 fields at 0/4/8/12 (rgb packed
    as PCL does), and is_dense false because invalid pixels stay in as NaN points."""
    depth, colours = scene()
    msg = depth_to_cloud_msg(depth, colours, K, Header(frame_id="cam"), 1, 0.7, 4.0)
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        (name, offset, PointField.FLOAT32, 1)
        for name, offset in (("x", 0), ("y", 4), ("z", 8), ("rgb", 12))]
    assert msg.point_step == 16 and msg.is_dense is False and not msg.is_bigendian


def test_payloads_go_into_messages_without_a_copy():
    """Jazzy's generated setter copies an array.array element by element (~20 ms for a
    640×480 cloud); the payload must be the message's data object itself."""
    payload = array.array("B", bytes(16)) * 10
    for msg in (PointCloud2(), Image()):
        _set_data(msg, payload)
        assert msg.data is payload


def test_organized_cloud_fills_out_and_refuses_a_wrong_one():
    depth, colours = scene(2)
    out = np.empty((48, 64), CLOUD_DTYPE)
    assert organized_cloud(depth, colours, K, out=out) is out
    np.testing.assert_array_equal(out.view(np.uint8),
                                  organized_cloud(depth, colours, K).view(np.uint8))
    with pytest.raises(ValueError, match="out: expected a contiguous CLOUD_DTYPE array"):
        organized_cloud(depth, colours, K, stride=2, out=out)
