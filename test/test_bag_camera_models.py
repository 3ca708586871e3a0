"""The bag tool reads cameras with the node's own camera models: a distorted, ROI'd camera in a
bag gives points on the true rays, and the same frame through the node gives the same cloud."""
import time

import numpy as np

import lens_truth
from bag_helpers import (TYPESTORE, T, _header, image_msg, read_bag, save_tiny_model,
                         synthetic_rgb, write_camera_bag)
from depth_anything_ros.bag.process import BagJobOptions, process_bag
from depth_anything_ros.geometry.pointcloud import CLOUD_DTYPE
from depth_anything_ros.inference import DepthEstimator
from depth_anything_ros.ros.messages import cloud_from_msg
from ros_helpers import (  # noqa: F401 — fixtures
    harness_factory, make_camera_info, make_image, ros_context, tiny_weights)

# The TUM freiburg1 lens at a tenth of its resolution, as a 64×48 window of a 80×60 sensor.
K = [51.73, 0.0, 31.86, 0.0, 51.65, 25.53, 0.0, 0.0, 1.0]
D = [0.2624, -0.9531, -0.0054, 0.0026, 1.1633]
ROI = (8, 6, 64, 48)
STAMP_NS = 1_700_000_000_000_000_000


def camera_info(stamp_ns):
    roi = T["sensor_msgs/msg/RegionOfInterest"](x_offset=ROI[0], y_offset=ROI[1], height=ROI[3],
                                                width=ROI[2], do_rectify=False)
    p = [K[0], 0, K[2], 0, 0, K[4], K[5], 0, 0, 0, 1, 0]
    return T["sensor_msgs/msg/CameraInfo"](
        header=_header(stamp_ns), height=60, width=80, distortion_model="plumb_bob",
        d=np.array(D), k=np.array(K), r=np.eye(3).ravel(), p=np.array(p, float), binning_x=0,
        binning_y=0, roi=roi)


def write_bag(path, rgb):
    from rosbags.rosbag2 import Writer

    with Writer(path, version=8) as writer:
        image = writer.add_connection("/cam/image_raw", "sensor_msgs/msg/Image",
                                      typestore=TYPESTORE)
        info = writer.add_connection("/cam/camera_info", "sensor_msgs/msg/CameraInfo",
                                     typestore=TYPESTORE)
        writer.write(info, STAMP_NS, bytes(TYPESTORE.serialize_cdr(
            camera_info(STAMP_NS), "sensor_msgs/msg/CameraInfo")))
        writer.write(image, STAMP_NS + 1, bytes(TYPESTORE.serialize_cdr(
            image_msg(rgb, STAMP_NS), "sensor_msgs/msg/Image")))


def opencv_rays():
    v, u = np.mgrid[0:48, 0:64]
    return lens_truth.opencv_rays(K, D, u + ROI[0], v + ROI[1])


def test_bag_and_node_read_a_distorted_roi_camera_alike(tmp_path, harness_factory):
    weights = save_tiny_model(tmp_path / "tiny.safetensors")
    rgb = synthetic_rgb(0)
    write_bag(tmp_path / "in", rgb)
    estimator = DepthEstimator.from_weights(weights, device="cpu")
    process_bag(tmp_path / "in", tmp_path / "out", estimator,
                BagJobOptions("/cam/image_raw", batch_size=1))
    out = read_bag(tmp_path / "out")
    bag_cloud = out["/cam/depth/points"][0].msg
    bag_info = out["/cam/depth/camera_info"][0].msg
    cloud = np.frombuffer(bytes(bag_cloud.data), np.uint8).view(CLOUD_DTYPE).reshape(48, 64)
    rays = opencv_rays()
    assert np.abs(cloud["x"] / cloud["z"] - rays[..., 0]).max() <= 1e-3
    assert np.abs(cloud["y"] / cloud["z"] - rays[..., 1]).max() <= 1e-3
    assert (bag_info.width, bag_info.height, bag_info.roi.width) == (64, 48, 0)
    np.testing.assert_allclose(bag_info.k[[0, 2, 4, 5]], [K[0], K[2] - 8, K[4], K[5] - 6])
    np.testing.assert_allclose(bag_info.d, D)

    # the node, same weights, same frame and CameraInfo fields
    h = harness_factory(weights=weights)
    info = make_camera_info(80, 60, fx=K[0], fy=K[4], cx=K[2], cy=K[5], stamp=(7, 0))
    info.d = D
    info.roi.x_offset, info.roi.y_offset, info.roi.width, info.roi.height = ROI
    h.info_pub.publish(info)
    time.sleep(0.2)
    h.image_pub.publish(make_image(rgb, stamp=(7, 0)))
    node_cloud = cloud_from_msg(h.wait_stamp("points", (7, 0)))
    node_info = h.wait_stamp("info", (7, 0))
    for field in ("x", "y", "z"):
        np.testing.assert_allclose(node_cloud[field], cloud[field], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(node_info.k, bag_info.k)
    np.testing.assert_array_equal(node_info.p, bag_info.p)


def test_a_bag_without_any_camera_info_gets_camera_info_and_points_from_the_fallback_fov(
        tmp_path):
    # A webcam recorded without a camera_info topic: with --fallback-hfov-deg the user asked for
    # an assumed pinhole, so every frame must still get its camera_info and point cloud.
    weights = save_tiny_model(tmp_path / "tiny.safetensors")
    write_camera_bag(tmp_path / "in", frames=3, info_topic=None)
    estimator = DepthEstimator.from_weights(weights, device="cpu")
    summary = process_bag(tmp_path / "in", tmp_path / "out", estimator,
                          BagJobOptions("/cam/image_raw", fallback_hfov_deg=90.0))
    out = read_bag(tmp_path / "out")
    assert summary.frames_out == 3 and not summary.camera_problems
    assert len(out["/cam/depth/camera_info"]) == 3 and len(out["/cam/depth/points"]) == 3
    info = out["/cam/depth/camera_info"][0].msg
    # 90° across 64 pixels: fx = 32 px, principal point at the centre
    np.testing.assert_allclose(info.k[[0, 2, 4, 5]], [32.0, 31.5, 32.0, 23.5])
