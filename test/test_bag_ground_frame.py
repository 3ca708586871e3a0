"""The ground plane from the bag's own /tf_static (`--ground-frame`): the camera's height and
the floor's direction read for each frame's frame_id, the same depth as the mount given as
options, one scale filter per camera, the IMU's direction with the mount's height, and every
transform problem refused with the topic and frames named, before anything is written."""
import numpy as np
import pytest
from bag_helpers import (
    FLOOR_FRAME,
    assert_floor_seen_from_above,
    depths,
    save_tiny_model,
    synthetic_rgb,
    write_tf_bag,
)

from depth_anything_ros.bag.errors import BagError, BagTopicError
from depth_anything_ros.bag.process import BagJobOptions, process_bag
from depth_anything_ros.inference import DepthEstimator

CAM = "/cam/image_raw"
FRAMES = 6  # write_tf_bag's default


@pytest.fixture(scope="module")
def metric(tmp_path_factory):
    path = save_tiny_model(tmp_path_factory.mktemp("model") / "metric.safetensors")
    return DepthEstimator.from_weights(path, device="cpu")


def test_ground_frame_reads_the_cameras_mount_from_the_bags_static_transforms(tmp_path, metric):
    """--ground-frame: the camera's height and the floor's direction from /tf_static, for the
    frames' own frame_id. The random model reads the same depth everywhere, what a floor seen
    from straight above gives: only the mount's 90° pitch finds that floor, and its height sets
    the scale (0.5 here); the summary prints the mount as the node's parameters."""
    src = tmp_path / "in"
    first = synthetic_rgb(0)
    height = 0.5 * float(np.median(metric.predict(first).values))
    frames = write_tf_bag(src, height)
    summary = process_bag(src, tmp_path / "out", metric, BagJobOptions(
        CAM, ground_frame=FLOOR_FRAME, scale_smoothing=0.0))
    assert summary.scale_states == {"anchored": FRAMES}
    assert summary.camera_mounts == [
        f"base_footprint → cam_optical_frame: camera_height {height:.3f} m, camera_pitch_deg "
        "90.0, camera_roll_deg 0.0"]
    assert any("camera mount from the static transforms: base_footprint → cam_optical_frame"
               in line for line in summary.lines())
    assert_floor_seen_from_above(metric, tmp_path / "out", frames, height)
    # base_link as the floor: the camera 0.1 m lower above it, so depth scaled by less
    lower = process_bag(src, tmp_path / "lower", metric, BagJobOptions(
        CAM, ground_frame="base_link", scale_smoothing=0.0))
    assert lower.scale_states == {"anchored": FRAMES}
    assert np.median(lower.scales) == pytest.approx(np.median(summary.scales) * (height - 0.1)
                                                    / height, rel=0.01)


def test_ground_frame_with_an_imu_takes_the_height_from_tf_and_the_direction_from_the_imu(
        tmp_path, metric):
    """--ground-frame + --imu-topic: the mount says a level camera at `height`, the IMU says
    the camera (on a head that tilts) looks straight down. The random model's flat depth is
    a floor only straight down: found with the IMU's direction, at the mount's height."""
    src = tmp_path / "in"
    height = 0.5 * float(np.median(metric.predict(synthetic_rgb(0)).values))
    frames = write_tf_bag(src, height, pitch_deg=0.0, imu=True)
    both = process_bag(src, tmp_path / "out", metric, BagJobOptions(
        CAM, ground_frame=FLOOR_FRAME, imu_topic="/imu", imu_rpy=(0.0, -90.0, 90.0),
        scale_smoothing=0.0))
    assert both.scale_states == {"anchored": FRAMES}
    assert both.camera_mounts[0].endswith("camera_pitch_deg 0.0, camera_roll_deg 0.0")
    assert_floor_seen_from_above(metric, tmp_path / "out", frames, height)
    mount_only = process_bag(src, tmp_path / "level", metric, BagJobOptions(
        CAM, ground_frame=FLOOR_FRAME, scale_smoothing=0.0))
    assert mount_only.scale_states == {"unscaled": FRAMES}  # level: that is no floor


def rendered_drive(height, pitch_deg, frames=4, seed=3):
    """A held-out synthetic room driven through at 1 m/s (10 frames/s): 256×192 RGB with its
    intrinsics, the camera `height` m up looking `pitch_deg` down."""
    from depth_anything_ros.training.data.domains import make_scene
    from depth_anything_ros.training.data.scene import CameraPose, intrinsics_from_fov
    from depth_anything_ros.training.data.synthetic import frame_seed

    scene = make_scene("indoor", frame_seed("test", seed))
    x0, x1, y0, y1 = scene.free_region
    k = intrinsics_from_fov(256, 192, 70.0)
    images = []
    for i in range(frames):
        pose = CameraPose.from_yaw_pitch((x0 + 0.1 * i, 0.5 * (y0 + y1), height), 0.0,
                                         np.radians(-pitch_deg))
        images.append(scene.render(pose, k, 256, 192)[0])
    return images, tuple(float(v) for v in k)


def test_the_mount_from_tf_and_the_same_mount_as_options_write_the_same_depth(tmp_path):
    """On rendered rooms whose floor is in view, with the shipped model: --ground-frame with a
    URDF chain (the camera 1.1 m up, pitched 20° down and turned 30° on its mast: the turn
    leaves the floor's direction alone) writes the depth --camera-height 1.1 --camera-pitch 20
    writes, and finds the floor."""
    shipped = DepthEstimator.from_weights(None, device="cpu")
    images, k = rendered_drive(1.1, 20.0)
    write_tf_bag(tmp_path / "in", 1.1, pitch_deg=20.0, yaw_deg=30.0, images=images, k=k)
    from_tf = process_bag(tmp_path / "in", tmp_path / "tf", shipped, BagJobOptions(
        CAM, ground_frame=FLOOR_FRAME))
    given = process_bag(tmp_path / "in", tmp_path / "given", shipped, BagJobOptions(
        CAM, camera_height=1.1, camera_pitch=20.0))
    assert from_tf.camera_mounts == ["base_footprint → cam_optical_frame: camera_height 1.100 m, "
                                     "camera_pitch_deg 20.0, camera_roll_deg 0.0"]
    assert from_tf.scale_states == given.scale_states and from_tf.scale_states["anchored"] >= 3
    tf_depth, given_depth = depths(tmp_path / "tf"), depths(tmp_path / "given")
    assert tf_depth.keys() == given_depth.keys()
    for stamp in tf_depth:
        np.testing.assert_allclose(tf_depth[stamp], given_depth[stamp], rtol=1e-5)


def test_a_ground_frame_the_transforms_do_not_connect_to_the_camera_is_refused(tmp_path, metric):
    src = tmp_path / "in"
    write_tf_bag(src, 1.0, optical=False)  # the camera driver's transform was not recorded
    with pytest.raises(BagError, match="--ground-frame: /tf_static: no chain of static "
                       "transforms from 'base_footprint' to 'cam_optical_frame'"):
        process_bag(src, tmp_path / "out", metric, BagJobOptions(CAM, ground_frame="base_footprint"))
    with pytest.raises(BagError, match="--ground-frame odom: no transform on /tf_static names it "
                       "\\(its frames: base_footprint, base_link, camera_link\\)"):
        process_bag(src, tmp_path / "out", metric, BagJobOptions(CAM, ground_frame="odom"))
    assert not (tmp_path / "out").exists()
    # a robot's namespaced topic
    write_tf_bag(tmp_path / "ns", 1.0, tf_topic="/robot1/tf_static")
    summary = process_bag(tmp_path / "ns", tmp_path / "ns_out", metric, BagJobOptions(
        CAM, ground_frame="base_footprint", tf_static_topic="/robot1/tf_static"))
    assert summary.camera_mounts[0].endswith("camera_height 1.000 m, camera_pitch_deg 90.0, "
                                             "camera_roll_deg 0.0")


def test_two_cameras_on_one_topic_each_keep_their_own_mount_and_scale(tmp_path, metric):
    """--ground-frame with frames of two cameras interleaved on one topic (frame_ids
    cam_optical_frame / cam2_optical_frame, the second mounted twice as high): each camera's
    frames are scaled by its own height, with the default smoothing too (one filter shared by
    both would pull each towards the other's scale)."""
    src = tmp_path / "in"
    height = 0.5 * float(np.median(metric.predict(synthetic_rgb(0)).values))
    write_tf_bag(src, height, second_height=2 * height)
    summary = process_bag(src, tmp_path / "out", metric, BagJobOptions(
        CAM, ground_frame=FLOOR_FRAME))
    assert [m.split(":")[0] for m in summary.camera_mounts] == [
        "base_footprint → cam_optical_frame", "base_footprint → cam2_optical_frame"]
    assert summary.scale_states == {"anchored": FRAMES}
    scales = np.array(summary.scales)
    np.testing.assert_allclose(scales[1::2] / scales[0::2], 2.0, rtol=0.05)


def test_a_ground_frame_typo_or_a_wrong_topic_type_fails_before_any_model(tmp_path):
    from depth_anything_ros.bag.process import preflight

    write_tf_bag(tmp_path / "in", 1.0, frames=1)
    with pytest.raises(BagError, match="--ground-frame odom: no transform on /tf_static"):
        preflight(tmp_path / "in", tmp_path / "out", BagJobOptions(CAM, ground_frame="odom"))
    write_tf_bag(tmp_path / "typed", 1.0, frames=1, tf_type="std_msgs/msg/String")
    with pytest.raises(BagTopicError, match="has std_msgs/msg/String, not a TFMessage, on "
                       "'/tf_static'"):
        preflight(tmp_path / "typed", tmp_path / "out", BagJobOptions(CAM, ground_frame="a"))


def test_an_unusable_transform_in_the_bag_is_refused_naming_the_topic(tmp_path, metric):
    write_tf_bag(tmp_path / "in", 1.0, frames=1, mast=(0.0, 0.0, 0.0, 0.0))  # a zero rotation
    with pytest.raises(BagError, match="^/tf_static: rotation quaternion .* not a rotation"):
        process_bag(tmp_path / "in", tmp_path / "out", metric, BagJobOptions(
            CAM, ground_frame=FLOOR_FRAME))
    assert not (tmp_path / "out").exists()
