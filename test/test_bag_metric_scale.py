"""Metric scale in bag jobs: --sparse-depth-topic anchors every frame through the same
ScaleCorrector as the node, relative models give metres, bad sparse depth falls back with the
reason counted in the summary, --camera-height uses each frame's CameraInfo and --imu-topic
gives the floor's direction (--ground-frame: test_bag_ground_frame.py)."""
import numpy as np
import pytest
from bag_helpers import (
    PERIOD_NS,
    START_NS,
    TYPESTORE,
    T,
    _header,
    assert_floor_seen_from_above,
    camera_info_msg,
    depths,
    image_msg,
    read_bag,
    save_tiny_model,
    synthetic_rgb,
    write_imu_readings,
)
from rosbags.rosbag2 import Writer

from depth_anything_ros.bag.errors import BagError, BagTopicError
from depth_anything_ros.bag.process import BagJobOptions, process_bag
from depth_anything_ros.conversions import encode_depth
from depth_anything_ros.geometry.camera import CameraIntrinsics
from depth_anything_ros.inference import DepthEstimator
from depth_anything_ros.scale import GroundPlane, fit_ground_plane, scan_line_depth

CAM, INFO, SPARSE = "/cam/image_raw", "/cam/camera_info", "/lidar/depth"
FRAMES = 6


@pytest.fixture(scope="module")
def metric(tmp_path_factory):
    path = save_tiny_model(tmp_path_factory.mktemp("model") / "metric.safetensors")
    return DepthEstimator.from_weights(path, device="cpu")


@pytest.fixture(scope="module")
def relative(tmp_path_factory):
    path = save_tiny_model(tmp_path_factory.mktemp("model") / "relative.safetensors",
                           variant="relative")
    return DepthEstimator.from_weights(path, device="cpu")


def sparse_image(depth, stamp, frame_id="cam_optical_frame", encoding="32FC1"):
    enc, step, data = encode_depth(depth, encoding)
    header = _header(stamp, frame_id)
    return T["sensor_msgs/msg/Image"](header=header, height=depth.shape[0],
                                      width=depth.shape[1], encoding=enc, is_bigendian=0,
                                      step=step, data=np.frombuffer(data, np.uint8))


def write_bag(path, sparse_of, *, sparse_delay_ns=20_000_000, stamp_offset_ns=0, stamped=True):
    """Camera frames + CameraInfo + a sparse depth topic. `sparse_of(index, rgb)` gives the
    sparse Image's depth (or None for none); it is recorded `sparse_delay_ns` after its frame,
    as a lidar's driver would, with its stamp `stamp_offset_ns` from the frame's (every header
    stamp zero unless `stamped`: drivers that do not stamp)."""
    frames = []
    with Writer(path, version=8) as writer:
        image_conn = writer.add_connection(CAM, "sensor_msgs/msg/Image", typestore=TYPESTORE)
        info_conn = writer.add_connection(INFO, "sensor_msgs/msg/CameraInfo", typestore=TYPESTORE)
        sparse_conn = writer.add_connection(SPARSE, "sensor_msgs/msg/Image", typestore=TYPESTORE)
        for i in range(FRAMES):
            stamp = START_NS + i * PERIOD_NS
            header_stamp = stamp if stamped else 0
            rgb = synthetic_rgb(i)
            writer.write(image_conn, stamp, bytes(TYPESTORE.serialize_cdr(
                image_msg(rgb, header_stamp), "sensor_msgs/msg/Image")))
            writer.write(info_conn, stamp + 1000, bytes(TYPESTORE.serialize_cdr(
                camera_info_msg(header_stamp), "sensor_msgs/msg/CameraInfo")))
            sparse = sparse_of(i, rgb)
            if sparse is not None:
                msg = sparse if not isinstance(sparse, np.ndarray) else sparse_image(
                    sparse, header_stamp + stamp_offset_ns if stamped else 0)
                writer.write(sparse_conn, stamp + sparse_delay_ns,
                             bytes(TYPESTORE.serialize_cdr(msg, "sensor_msgs/msg/Image")))
            frames.append((stamp, rgb))
    return frames


def test_sparse_depth_topic_scales_every_frame_of_a_metric_model(tmp_path, metric):
    src, out = tmp_path / "in", tmp_path / "out"
    frames = write_bag(src, lambda i, rgb: scan_line_depth(metric.predict(rgb).values * 2.5))
    summary = process_bag(src, out, metric, BagJobOptions(CAM, sparse_depth_topic=SPARSE,
                                                          batch_size=4))
    got = depths(out)
    assert len(got) == FRAMES and summary.frames_out == FRAMES
    for stamp, rgb in frames:
        np.testing.assert_allclose(got[stamp], metric.predict(rgb).values * 2.5, rtol=1e-4)
    assert summary.scale_states == {"anchored": FRAMES}
    np.testing.assert_allclose(summary.scales, 2.5, rtol=1e-4)
    assert summary.scale_jitter < 1e-4
    lines = "\n".join(summary.lines())
    assert "metric scale from sparse_depth: 6 anchored; median scale_factor 2.5" in lines
    # the sparse topic itself is copied like any input topic
    assert len(read_bag(out, (SPARSE,))[SPARSE]) == FRAMES


def test_a_relative_model_with_anchors_writes_metres_and_without_them_is_refused(
        tmp_path, relative):
    src = tmp_path / "in"

    def metres(rgb):
        return 1.0 / (40.0 * relative.predict(rgb).values - 3.9)  # 0.4–4.5 m

    frames = write_bag(src, lambda i, rgb: scan_line_depth(metres(rgb)))
    with pytest.raises(BagError, match="relative disparity.*--sparse-depth-topic"):
        process_bag(src, tmp_path / "refused", relative, BagJobOptions(CAM))
    summary = process_bag(src, tmp_path / "out", relative,
                          BagJobOptions(CAM, sparse_depth_topic=SPARSE, scale_smoothing=0.0))
    got = depths(tmp_path / "out")
    for stamp, rgb in frames:
        np.testing.assert_allclose(got[stamp], metres(rgb), rtol=2e-3)
    assert summary.scale_states == {"anchored": FRAMES}


def test_bad_or_missing_sparse_depth_falls_back_and_the_summary_says_why(tmp_path, metric):
    def sparse_of(i, rgb):
        good = scan_line_depth(metric.predict(rgb).values * 2.0)
        if i == 2:
            return sparse_image(good, START_NS + i * PERIOD_NS, frame_id="lidar_link")
        if i == 3:
            return None  # the lidar dropped a scan
        if i == 4:
            return good[:24, :32]  # another size
        return good

    src, out = tmp_path / "in", tmp_path / "out"
    frames = write_bag(src, sparse_of)
    summary = process_bag(src, out, metric, BagJobOptions(
        CAM, sparse_depth_topic=SPARSE, scale_smoothing=0.0, sparse_depth_tolerance=0.03))
    got = depths(out)
    raw = {stamp: metric.predict(rgb).values for stamp, rgb in frames}
    assert summary.frames_out == FRAMES  # nothing is dropped for want of a scale
    # frames 2–4 hold the scale of frame 1 (0.1 s per frame; held for 2 s)
    for stamp, _ in frames:
        np.testing.assert_allclose(got[stamp], raw[stamp] * 2.0, rtol=1e-4)
    assert summary.scale_states == {"anchored": 3, "held": 3}
    reasons = "\n".join(summary.scale_reasons)
    assert "frame_id 'lidar_link' differs from the image's 'cam_optical_frame'" in reasons
    assert "no sparse depth within --sparse-depth-tolerance 0.03 s" in reasons
    assert "sparse depth is 32×24 but the image is 64×48" in reasons


def test_without_any_earlier_scale_bad_frames_are_written_unscaled(tmp_path, metric):
    src, out = tmp_path / "in", tmp_path / "out"
    frames = write_bag(src, lambda i, rgb: np.full((48, 64), np.nan))  # all-NaN anchors
    summary = process_bag(src, out, metric, BagJobOptions(CAM, sparse_depth_topic=SPARSE))
    got = depths(out)
    for stamp, rgb in frames:
        np.testing.assert_allclose(got[stamp], metric.predict(rgb).values, rtol=1e-4)
    assert summary.scale_states == {"unscaled": FRAMES}
    assert list(summary.scale_reasons.values()) == [FRAMES]
    assert "no anchors: every sparse depth value is NaN" in next(iter(summary.scale_reasons))


def test_sparse_stamps_are_paired_within_the_tolerance_even_when_recorded_late(tmp_path,
                                                                              metric):
    src = tmp_path / "in"
    # recorded 0.25 s (2.5 frames) after the frame, stamped 10 ms after it
    write_bag(src, lambda i, rgb: scan_line_depth(metric.predict(rgb).values
                                                  * (1 + 0.1 * i)),
              sparse_delay_ns=250_000_000, stamp_offset_ns=10_000_000)
    summary = process_bag(src, tmp_path / "out", metric, BagJobOptions(
        CAM, sparse_depth_topic=SPARSE, scale_smoothing=0.0, sparse_depth_tolerance=0.02))
    assert summary.scale_states == {"anchored": FRAMES}
    assert summary.scales == pytest.approx([1.0, 1.1, 1.2, 1.3, 1.4, 1.5], rel=1e-4)  # its own
    strict = process_bag(src, tmp_path / "strict", metric, BagJobOptions(
        CAM, sparse_depth_topic=SPARSE, sparse_depth_tolerance=0.005))
    assert strict.scale_states == {"unscaled": FRAMES}


def test_camera_height_uses_each_frames_camera_info(tmp_path, metric):
    src = tmp_path / "in"
    frames = write_bag(src, lambda i, rgb: None)
    summary = process_bag(src, tmp_path / "out", metric, BagJobOptions(
        CAM, camera_height=1.2, camera_pitch=20.0))
    # the random model sees no floor: refused exactly as the core refuses it with the bag's K
    rgb = frames[0][1]
    expected = fit_ground_plane(metric.predict(rgb).values, GroundPlane.from_pitch_roll(1.2, 20),
                                relative=False,
                                intrinsics=CameraIntrinsics(60.0, 58.0, 31.5, 23.0, 64, 48))
    assert expected.code == "no_floor"
    assert summary.scale_states == {"unscaled": FRAMES}
    assert expected.reason in summary.scale_reasons


def write_imu_bag(path, *, first_reading_frame=2):
    """Camera frames + CameraInfo + an /imu topic at 100 Hz from frame `first_reading_frame`
    on: an IMU in a body frame (x forward, y left, z up) on a camera looking straight down,
    so at rest it reads 1 g along −x (its forward axis points at the floor)."""
    frames = []
    with Writer(path, version=8) as writer:
        image_conn = writer.add_connection(CAM, "sensor_msgs/msg/Image", typestore=TYPESTORE)
        info_conn = writer.add_connection(INFO, "sensor_msgs/msg/CameraInfo", typestore=TYPESTORE)
        write_imu_readings(writer, START_NS + first_reading_frame * PERIOD_NS - 50_000_000,
                           START_NS + FRAMES * PERIOD_NS)
        for i in range(FRAMES):
            stamp = START_NS + i * PERIOD_NS
            rgb = synthetic_rgb(i)
            writer.write(image_conn, stamp, bytes(TYPESTORE.serialize_cdr(
                image_msg(rgb, stamp), "sensor_msgs/msg/Image")))
            writer.write(info_conn, stamp + 1000, bytes(TYPESTORE.serialize_cdr(
                camera_info_msg(stamp), "sensor_msgs/msg/CameraInfo")))
            frames.append((stamp, rgb))
    return frames


def test_imu_topic_gives_the_ground_planes_direction_as_in_the_node(tmp_path, metric):
    """--imu-topic: the floor's normal from the accelerometer, turned by --imu-rpy (the node's
    ground_normal: imu). The random model reads the same depth everywhere, what a floor seen
    from straight above gives, so only the IMU's normal finds the floor; the frames before the
    IMU's first reading are served unscaled, and the summary says why."""
    src = tmp_path / "in"
    frames = write_imu_bag(src)
    height = 0.5 * float(np.median(metric.predict(frames[0][1]).values))
    summary = process_bag(src, tmp_path / "out", metric, BagJobOptions(
        CAM, camera_height=height, imu_topic="/imu", imu_rpy=(0.0, -90.0, 90.0),
        scale_smoothing=0.0))
    assert summary.scale_states == {"unscaled": 2, "anchored": FRAMES - 2}
    assert summary.scale_reasons == {"no IMU reading received yet": 2}
    assert_floor_seen_from_above(metric, tmp_path / "out", frames[2:], height)
    # the same bag with the IMU's mounting left out: its −x reads as a camera rolled 90°
    plain = process_bag(src, tmp_path / "plain", metric, BagJobOptions(
        CAM, camera_height=height, imu_topic="/imu", scale_smoothing=0.0))
    assert plain.scale_states == {"unscaled": FRAMES}
    # --imu-orientation on messages that say they carry none (REP-145, from the first frame
    # on): each one is skipped, and the summary says why
    write_imu_bag(tmp_path / "early", first_reading_frame=0)
    attitude = process_bag(tmp_path / "early", tmp_path / "attitude", metric, BagJobOptions(
        CAM, camera_height=height, imu_topic="/imu", imu_rpy=(0.0, -90.0, 90.0),
        imu_orientation=True, scale_smoothing=0.0))
    assert attitude.scale_states == {"unscaled": FRAMES}
    [reason] = attitude.scale_reasons
    assert reason.endswith("the latest reading was skipped: the IMU message says it has no "
                           "orientation (orientation_covariance[0] = -1, REP-145): read its "
                           "accelerometer instead (imu_orientation false, no --imu-orientation)")


@pytest.mark.parametrize("options, error, message", [
    (dict(sparse_depth_topic="/nope"), BagTopicError,
     ("--sparse-depth-topic: bag .* has no topic '/nope'; its Image topics are: "
      "/cam/image_raw .*, /lidar/depth")),
    (dict(sparse_depth_topic=INFO), BagTopicError, "has sensor_msgs/msg/CameraInfo, not an Image"),
    (dict(camera_height=-1.0), BagError, "--camera-height -1.0: must be > 0"),
    (dict(camera_height=1.0, sparse_depth_topic=SPARSE), BagError, "two scale sources"),
    (dict(camera_height=1.0, ground_max_correction=0.5), BagError,
     "--ground-max-correction 0.5: use 0 \\(no limit\\) or a factor >= 1"),
    (dict(sparse_depth_topic=SPARSE, scale_model="plane"), BagError,
     "scale model 'plane': use one of scale_shift, scale"),
    (dict(camera_height=1.0, camera_info_topic=None, image_topic="/cam/image_raw"), None, None),
    (dict(imu_topic="/imu"), BagError,
     "--imu-topic /imu: .* pass --camera-height \\(or --ground-frame\\) too"),
    (dict(camera_height=1.0, imu_orientation=True), BagError,
     "--imu-rpy/--imu-smoothing/--imu-orientation describe the --imu-topic, which was not given"),
    (dict(ground_frame="base_footprint"), BagTopicError,
     "--ground-frame reads the camera's mount from static transforms, and bag .* has no topic "
     "'/tf_static' .*its TFMessage topics are: none"),
    (dict(ground_frame="base_footprint", camera_height=1.0), BagError,
     "--camera-height and --ground-frame are two sources of the camera's height"),
    (dict(ground_frame="base_footprint", camera_roll=5.0), BagError,
     "--camera-pitch/--camera-roll and --ground-frame are two sources of the floor's direction"),
    (dict(ground_frame="base_footprint", sparse_depth_topic=SPARSE), BagError,
     "--sparse-depth-topic and --ground-frame are two scale sources"),
    (dict(ground_frame="/"), BagError, "--ground-frame: give a frame name"),
    (dict(camera_height=1.0, tf_static_topic="/robot1/tf_static"), BagError,
     "--tf-static-topic is read for --ground-frame, which was not given"),
    (dict(camera_height=1.0, imu_topic="/nope"), BagTopicError,
     "--imu-topic: bag .* has no topic '/nope'; its Imu topics are: "),
    (dict(camera_height=1.0, imu_topic=INFO), BagTopicError,
     "has sensor_msgs/msg/CameraInfo, not an Imu, on '/cam/camera_info'"),
    (dict(camera_height=1.0, imu_topic=SPARSE, imu_rpy=(0.0, float("nan"), 0.0)), BagError,
     "--imu-rpy / --imu-smoothing: IMU rotation .* must be finite"),
    (dict(camera_height=1.0, imu_topic=SPARSE, camera_pitch=20.0), BagError,
     "--camera-pitch/--camera-roll and --imu-topic are two sources of the floor's direction"),
    (dict(camera_height=1.0, imu_rpy=[0.0, 0.0, 180.0]), BagError,
     "--imu-rpy/--imu-smoothing/--imu-orientation describe the --imu-topic, which was not given"),
    (dict(camera_height=1.0, imu_smoothing=0.5), BagError,
     "--imu-rpy/--imu-smoothing/--imu-orientation describe the --imu-topic, which was not given"),
    (dict(camera_height=1.0, imu_rpy=[0.0, 0.0, 0.0]), None, None),  # the CLI's default, a list
])
def test_unusable_scale_options_are_refused_before_any_frame(tmp_path, metric, options, error,
                                                           message):
    src = tmp_path / "in"
    write_bag(src, lambda i, rgb: None)
    options = {"image_topic": CAM, **options}
    if error is None:  # a valid combination: runs
        process_bag(src, tmp_path / "out", metric, BagJobOptions(**options))
        return
    with pytest.raises(error, match=message):
        process_bag(src, tmp_path / "out", metric, BagJobOptions(**options))
    assert not (tmp_path / "out").exists()


def test_the_nearest_sparse_depth_is_paired_even_when_it_is_slightly_older_than_the_frame(
        tmp_path, metric):
    # A lidar stamped 1 ms before the camera and the next scan 10 ms after it: the frame must
    # take its scale from the nearest scan (the 1 ms one), not from the first one after it.
    src = tmp_path / "in"
    frames = []
    with Writer(src, version=8) as writer:
        image_conn = writer.add_connection(CAM, "sensor_msgs/msg/Image", typestore=TYPESTORE)
        sparse_conn = writer.add_connection(SPARSE, "sensor_msgs/msg/Image", typestore=TYPESTORE)
        for i in range(3):
            stamp = START_NS + i * PERIOD_NS
            rgb = synthetic_rgb(i)
            writer.write(image_conn, stamp, bytes(TYPESTORE.serialize_cdr(
                image_msg(rgb, stamp), "sensor_msgs/msg/Image")))
            raw = metric.predict(rgb).values
            for offset_ns, factor in ((-1_000_000, 2.0), (10_000_000, 3.0)):
                writer.write(sparse_conn, stamp + 20_000_000 + offset_ns, bytes(
                    TYPESTORE.serialize_cdr(sparse_image(scan_line_depth(raw * factor),
                                                         stamp + offset_ns),
                                            "sensor_msgs/msg/Image")))
            frames.append((stamp, rgb))
    summary = process_bag(src, tmp_path / "out", metric, BagJobOptions(
        CAM, sparse_depth_topic=SPARSE, scale_smoothing=0.0, sparse_depth_tolerance=0.02))
    assert summary.scale_states == {"anchored": 3}
    assert summary.scales == pytest.approx([2.0, 2.0, 2.0], rel=1e-4)
    got = depths(tmp_path / "out")
    for stamp, rgb in frames:
        np.testing.assert_allclose(got[stamp], metric.predict(rgb).values * 2.0, rtol=1e-4)


def test_a_camera_and_lidar_that_do_not_stamp_are_paired_by_recording_time(tmp_path, metric):
    # Both drivers leave the header stamp zero: each frame takes the scan recorded nearest to it
    # (20 ms later), as the node takes the newest on arrival, not one scan for the whole bag.
    src = tmp_path / "in"
    write_bag(src, lambda i, rgb: scan_line_depth(metric.predict(rgb).values * (1 + 0.1 * i)),
              stamped=False)
    summary = process_bag(src, tmp_path / "out", metric, BagJobOptions(
        CAM, sparse_depth_topic=SPARSE, scale_smoothing=0.0, sparse_depth_tolerance=0.05))
    assert summary.scale_states == {"anchored": FRAMES}
    assert summary.scales == pytest.approx([1.0, 1.1, 1.2, 1.3, 1.4, 1.5], rel=1e-4)


def test_the_nodes_other_scale_parameters_reach_the_bags_corrector(tmp_path, capsys):
    """--scale-min-anchors (and beside it --scale-gate, --scale-reset-frames, --scale-max-age,
    parsed and checked alike): a node tuned away from the defaults can be reproduced on its
    recordings."""
    from depth_anything_ros.cli import main

    weights = save_tiny_model(tmp_path / "metric.safetensors")
    metric = DepthEstimator.from_weights(weights, device="cpu")
    src = tmp_path / "in"
    write_bag(src, lambda i, rgb: scan_line_depth(metric.predict(rgb).values * 2.0))
    common = ["bag", str(src), "--image-topic", CAM, "--weights", str(weights), "--device",
              "cpu", "--sparse-depth-topic", SPARSE, "--quiet"]
    assert main([*common, str(tmp_path / "plain")]) == 0
    assert main([*common, str(tmp_path / "strict"), "--scale-min-anchors", "1000",
                 "--scale-gate", "0.1", "--scale-reset-frames", "2",
                 "--scale-max-age", "0"]) == 0
    raw = {stamp: metric.predict(rgb).values for stamp, rgb in
           ((s, synthetic_rgb(i)) for i, s in enumerate(START_NS + np.arange(FRAMES) * PERIOD_NS))}
    plain, strict = depths(tmp_path / "plain"), depths(tmp_path / "strict")
    for stamp, values in raw.items():  # 3 scan lines give ~hundreds of anchors, not 1000
        np.testing.assert_allclose(plain[int(stamp)], values * 2.0, rtol=1e-4)
        np.testing.assert_allclose(strict[int(stamp)], values, rtol=1e-6)
    # refused with the reason, like the node's parameter
    assert main([*common, str(tmp_path / "bad"), "--scale-min-anchors", "1"]) == 2
    assert "min_anchors 1: must be ≥ 2" in capsys.readouterr().err

