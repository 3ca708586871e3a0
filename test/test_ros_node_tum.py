"""Real Kinect frames (TUM RGB-D fr1_rpy, CC BY 4.0, Sturm et al. IROS 2012) with their real
calibration (plumb_bob K and D from the dataset's README) through the node and the shipped model:
every output under the frame's header, the raw camera model republished, every point on its
pixel's true ray (OpenCV's undistortion), and depth that follows the Kinect's measurement."""
import numpy as np
from lens_truth import opencv_rays
from ros_helpers import (  # noqa: F401 — fixtures
    harness_factory, make_camera_info, make_image, ros_context, tiny_weights)
from tum_data import TUM_D, TUM_K, tum_frames

from depth_anything_ros.conversions import decode_depth
from depth_anything_ros.model.checkpoints import default_weights_path
from depth_anything_ros.ros.messages import cloud_from_msg

FRAMES = range(0, 347, 58)  # six frames across the sequence


def true_rays(width=640, height=480):
    v, u = np.mgrid[0:height, 0:width]
    return opencv_rays(TUM_K, TUM_D, u, v)


def test_real_tum_frames_with_their_calibration_through_the_node(harness_factory):
    h = harness_factory(weights=default_weights_path())
    rays = true_rays()
    correlations = []
    for stamp_s, rgb, gt in tum_frames(FRAMES):
        stamp = (int(stamp_s), int(round((stamp_s % 1) * 1e9)))
        info = make_camera_info(640, 480, fx=TUM_K[0], fy=TUM_K[4], cx=TUM_K[2], cy=TUM_K[5],
                                frame_id="openni_rgb_optical_frame", stamp=stamp)
        info.d = list(TUM_D)
        h.send_info(info)
        h.image_pub.publish(make_image(rgb, frame_id="openni_rgb_optical_frame", stamp=stamp))
        depth_msg = h.wait_stamp("depth", stamp, timeout=60.0)
        out_info = h.wait_stamp("info", stamp, timeout=60.0)
        cloud = cloud_from_msg(h.wait_stamp("points", stamp, timeout=60.0))
        for msg in (depth_msg, out_info):
            assert msg.header.frame_id == "openni_rgb_optical_frame"
        np.testing.assert_allclose(out_info.d, TUM_D)
        np.testing.assert_allclose(out_info.k, TUM_K)
        depth = decode_depth("32FC1", 480, 640, depth_msg.step, False, depth_msg.data)
        valid = np.isfinite(cloud["z"])
        assert valid.all() and np.array_equal(cloud["z"], depth)
        z = cloud["z"]
        assert np.abs(cloud["x"] / z - rays[..., 0]).max() <= 1e-3
        assert np.abs(cloud["y"] / z - rays[..., 1]).max() <= 1e-3
        measured = np.isfinite(gt)
        correlations.append(np.corrcoef(np.log(depth[measured]), np.log(gt[measured]))[0, 1])
    # The shipped model (trained on synthetic rooms) orders this office's depth like the Kinect:
    # log-depth correlation 0.25-0.83 per frame, 0.52 on average when measured.
    assert min(correlations) > 0.1 and np.mean(correlations) >= 0.3, correlations
