"""End-to-end bag jobs on real bags written with rosbags and a tiny random metric model."""
import json
import math

import cv2
import numpy as np
import pytest
import yaml

from bag_helpers import (  # noqa: F401 — weights, estimator: fixtures
    CX, CY, FX, FY, estimator, read_bag, save_tiny_model, stamp_ns, topic_counts, weights,
    write_camera_bag,
)
from depth_anything_ros.bag.errors import BagError, BagTopicError
from depth_anything_ros.bag.process import BagJobOptions, process_bag
from depth_anything_ros.conversions import decode_depth
from depth_anything_ros.inference import DepthEstimator
from depth_anything_ros.previews import enlargement
from depth_anything_ros.scale_bar import scale_bar
from depth_anything_ros.visualize import color_range
from picture_helpers import assert_near_red_far_blue, panel

CAM = "/cam/image_raw"


def _depth(msg) -> np.ndarray:
    return decode_depth(msg.encoding, msg.height, msg.width, msg.step, bool(msg.is_bigendian), msg.data)


def _cloud(msg) -> dict[str, np.ndarray]:
    names = [f.name for f in msg.fields]
    assert names == ["x", "y", "z", "rgb"] and msg.point_step == 16 and not msg.is_dense
    assert msg.row_step == msg.width * msg.point_step
    floats = np.frombuffer(bytes(msg.data), "<f4").reshape(msg.height, msg.width, 4)
    return {"x": floats[..., 0], "y": floats[..., 1], "z": floats[..., 2], "rgb": floats[..., 3]}


def _storage_of(bag) -> str:
    meta = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    return meta["storage_identifier"]


@pytest.mark.parametrize("in_storage, in_version, out_storage", [
    ("sqlite3", 8, None), ("mcap", 8, None), ("sqlite3", 8, "mcap"), ("mcap", 9, "sqlite3"),
])
def test_output_bag_has_depth_info_points_and_copies_at_original_times(
        tmp_path, estimator, in_storage, in_version, out_storage):
    src, out = tmp_path / "in", tmp_path / "out"
    recorded = write_camera_bag(src, storage=in_storage, frames=5, version=in_version)
    summary = process_bag(src, out, estimator, BagJobOptions(CAM, batch_size=2, storage=out_storage))

    assert _storage_of(out) == (out_storage or in_storage)
    meta = yaml.safe_load((out / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["version"] == 8  # Humble-readable by default, whatever the input was
    assert (summary.frames_in, summary.frames_out, summary.skipped) == (5, 5, [])
    bag = read_bag(out)
    types = {topic: {m.msgtype for m in msgs} for topic, msgs in bag.items()}
    assert types == {
        "/cam/depth/image": {"sensor_msgs/msg/Image"},
        "/cam/depth/camera_info": {"sensor_msgs/msg/CameraInfo"},
        "/cam/depth/points": {"sensor_msgs/msg/PointCloud2"},
        CAM: {"sensor_msgs/msg/Image"},
        "/cam/camera_info": {"sensor_msgs/msg/CameraInfo"},
        "/note": {"std_msgs/msg/String"},
    }
    for topic in ("/cam/depth/image", "/cam/depth/camera_info", "/cam/depth/points"):
        msgs = bag[topic]
        assert [m.bag_time_ns for m in msgs] == [f.bag_time_ns for f in recorded]
        assert [stamp_ns(m.msg) for m in msgs] == [f.stamp_ns for f in recorded]
        assert {m.msg.header.frame_id for m in msgs} == {"cam_optical_frame"}
    source = read_bag(src)
    for topic in (CAM, "/cam/camera_info", "/note"):
        assert [m.bag_time_ns for m in bag[topic]] == [m.bag_time_ns for m in source[topic]]
    assert [m.msg.data for m in bag["/note"]] == [f"note {i}" for i in range(5)]


def test_sqlite_output_uses_64k_pages_and_reads_back_whole(tmp_path, estimator):
    import sqlite3

    src, out = tmp_path / "in", tmp_path / "out"
    write_camera_bag(src, frames=3, storage="mcap")
    process_bag(src, out, estimator, BagJobOptions(CAM, storage="sqlite3"))
    db = sqlite3.connect(str(next(out.glob("*.db3"))))
    assert db.execute("PRAGMA page_size").fetchone()[0] == 65536  # fewer overflow pages per frame
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT schema_version FROM schema").fetchone()[0] == 4  # kept by VACUUM
    db.close()
    counts = topic_counts(out)
    assert counts["/cam/depth/image"] == counts["/cam/depth/points"] == counts["/cam/image_raw"] == 3


def test_a_bag_without_type_definitions_like_humble_records_is_processed_and_copied(tmp_path, estimator):
    from bag_helpers import strip_type_definitions

    src, out = tmp_path / "in", tmp_path / "out"
    write_camera_bag(src, frames=2)
    strip_type_definitions(src)
    summary = process_bag(src, out, estimator, BagJobOptions(CAM))
    assert (summary.frames_out, summary.copied) == (2, 6)
    bag = read_bag(out)  # the output carries definitions again: readable without a typestore
    assert [m.msg.data for m in bag["/note"]] == ["note 0", "note 1"]
    assert len(bag["/cam/depth/points"]) == 2


def test_depth_equals_the_estimator_on_the_same_frame(tmp_path, estimator):
    src, out = tmp_path / "in", tmp_path / "out"
    recorded = write_camera_bag(src, frames=5, encoding="bgr8")
    process_bag(src, out, estimator, BagJobOptions(CAM, batch_size=3))
    depths = read_bag(out)["/cam/depth/image"]
    assert len(depths) == len(recorded)
    for frame, message in zip(recorded, depths):
        assert message.msg.encoding == "32FC1" and (message.msg.height, message.msg.width) == (48, 64)
        expected = estimator.predict(frame.rgb).values
        np.testing.assert_allclose(_depth(message.msg), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_compressed_input_gives_the_depth_of_the_decoded_frame(tmp_path, estimator, fmt):
    src, out = tmp_path / "in", tmp_path / "out"
    recorded = write_camera_bag(src, frames=3, compressed=fmt, image_topic="/cam/image_raw/compressed")
    summary = process_bag(src, out, estimator, BagJobOptions("/cam/image_raw/compressed", batch_size=2))
    assert summary.frames_out == 3
    bag = read_bag(out)
    assert {m.msgtype for m in bag["/cam/image_raw/compressed"]} == {"sensor_msgs/msg/CompressedImage"}
    for frame, message in zip(recorded, bag["/cam/depth/image"]):
        ok, buf = cv2.imencode(f".{fmt}", cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
        decoded = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        np.testing.assert_allclose(_depth(message.msg), estimator.predict(decoded).values,
                                   rtol=1e-5, atol=1e-5)


def test_cloud_back_projects_the_depth_with_the_camera_info(tmp_path, estimator):
    src, out = tmp_path / "in", tmp_path / "out"
    recorded = write_camera_bag(src, frames=2)
    process_bag(src, out, estimator, BagJobOptions(CAM))
    bag = read_bag(out)
    for frame, dmsg, imsg, pmsg in zip(recorded, bag["/cam/depth/image"], bag["/cam/depth/camera_info"],
                                       bag["/cam/depth/points"]):
        depth, info = _depth(dmsg.msg), imsg.msg
        assert (info.width, info.height) == (64, 48)
        assert list(info.k) == [FX, 0, CX, 0, FY, CY, 0, 0, 1]
        cloud = _cloud(pmsg.msg)
        assert (pmsg.msg.height, pmsg.msg.width) == depth.shape
        v, u = np.mgrid[0:48, 0:64]
        np.testing.assert_allclose(cloud["z"], depth, rtol=1e-6)
        np.testing.assert_allclose(cloud["x"], (u - CX) * depth / FX, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(cloud["y"], (v - CY) * depth / FY, rtol=1e-5, atol=1e-6)
        bits = cloud["rgb"].view(np.uint32)
        rgb = frame.rgb.astype(np.uint32)
        np.testing.assert_array_equal(bits, (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2])


def test_points_stride_no_points_and_16uc1(tmp_path, estimator):
    src = tmp_path / "in"
    write_camera_bag(src, frames=2)
    process_bag(src, tmp_path / "strided", estimator, BagJobOptions(CAM, points_stride=4))
    cloud = read_bag(tmp_path / "strided")["/cam/depth/points"][0].msg
    assert (cloud.height, cloud.width) == (12, 16)

    process_bag(src, tmp_path / "mm", estimator,
                BagJobOptions(CAM, points=False, depth_encoding="16UC1"))
    bag = read_bag(tmp_path / "mm")
    assert "/cam/depth/points" not in bag and "/cam/depth/camera_info" in bag
    metres = read_bag(tmp_path / "strided")["/cam/depth/image"][0].msg
    mm = bag["/cam/depth/image"][0].msg
    assert mm.encoding == "16UC1" and mm.step == 128
    np.testing.assert_allclose(_depth(mm), np.round(_depth(metres) * 1000) / 1000, atol=1e-6)


def test_copy_topics_none_and_a_list(tmp_path, estimator):
    src = tmp_path / "in"
    write_camera_bag(src, frames=2)
    process_bag(src, tmp_path / "none", estimator, BagJobOptions(CAM, copy_topics="none"))
    assert set(read_bag(tmp_path / "none")) == {"/cam/depth/image", "/cam/depth/camera_info",
                                               "/cam/depth/points"}
    summary = process_bag(src, tmp_path / "some", estimator, BagJobOptions(CAM, copy_topics="/note"))
    assert set(read_bag(tmp_path / "some")) == {"/cam/depth/image", "/cam/depth/camera_info",
                                               "/cam/depth/points", "/note"}
    assert summary.copied == 2


def test_without_camera_info_only_depth_is_written(tmp_path, estimator):
    src, out = tmp_path / "in", tmp_path / "out"
    write_camera_bag(src, frames=2, info_topic=None)
    process_bag(src, out, estimator, BagJobOptions(CAM))
    assert set(read_bag(out)) == {"/cam/depth/image", CAM, "/note"}


def test_an_uncalibrated_camera_gets_depth_only_unless_a_fallback_fov_is_given(tmp_path,
                                                                                estimator):
    # As the node: K all zero is no camera model, so neither camera_info nor points ...
    src, out = tmp_path / "in", tmp_path / "out"
    write_camera_bag(src, frames=2, calibrated=False)
    summary = process_bag(src, out, estimator, BagJobOptions(CAM))
    assert summary.frames_out == 2 and sum(summary.camera_problems.values()) == 2
    counts = topic_counts(out)
    assert counts["/cam/depth/image"] == 2
    assert counts.get("/cam/depth/camera_info", 0) == 0 and counts.get("/cam/depth/points", 0) == 0
    # the summary names the field at fault
    assert "2 frames without camera_info and points: K: fx is 0.0: focal length must be finite " \
           "and > 0" in summary.lines()
    # ... and with --fallback-hfov-deg both, from the assumed pinhole
    summary = process_bag(src, tmp_path / "fov", estimator,
                          BagJobOptions(CAM, fallback_hfov_deg=90.0))
    assert not summary.camera_problems
    counts = topic_counts(tmp_path / "fov")
    assert counts["/cam/depth/camera_info"] == 2 and counts["/cam/depth/points"] == 2


@pytest.mark.parametrize("kind", ["short_data", "truncated_cdr"])
def test_a_corrupt_frame_in_the_middle_is_skipped_and_counted(tmp_path, estimator, kind):
    src, out = tmp_path / "in", tmp_path / "out"
    recorded = write_camera_bag(src, frames=5, corrupt={2: kind})
    summary = process_bag(src, out, estimator, BagJobOptions(CAM, batch_size=2))
    assert (summary.frames_in, summary.frames_out) == (5, 4)
    assert [s.index for s in summary.skipped] == [2]
    assert summary.skipped[0].bag_time_ns == recorded[2].bag_time_ns
    assert any(line.startswith("1 frame skipped: ") and "(first: frame 2," in line
               for line in summary.lines())
    good = [f.bag_time_ns for f in recorded if not f.corrupt]
    assert [m.bag_time_ns for m in read_bag(out, ("/cam/depth/image",))["/cam/depth/image"]] == good
    counts = topic_counts(out)  # the input camera topic is still copied verbatim, corrupt one too
    assert counts[CAM] == 5 and counts["/cam/depth/points"] == 4


def test_missing_topic_error_lists_image_topics_and_writes_nothing(tmp_path, estimator):
    src, out = tmp_path / "in", tmp_path / "out"
    write_camera_bag(src, frames=1)
    with pytest.raises(BagTopicError, match=r"no topic '/camera/image'.*/cam/image_raw \(sensor_msgs/msg/Image\)"):
        process_bag(src, out, estimator, BagJobOptions("/camera/image"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_a_topic_without_messages_is_an_error_saying_so_and_writes_nothing(tmp_path, estimator):
    """A recording whose camera topic exists but never carried a frame (the driver died) is a
    failure naming that, not "none of the 0 frames produced depth"."""
    from bag_helpers import TYPESTORE
    from rosbags.rosbag2 import Writer

    from depth_anything_ros.bag.errors import BagNoDepthError

    src, out = tmp_path / "in", tmp_path / "out"
    with Writer(src, version=8) as writer:
        writer.add_connection(CAM, "sensor_msgs/msg/Image", typestore=TYPESTORE)
        note = writer.add_connection("/note", "std_msgs/msg/String", typestore=TYPESTORE)
        msg = TYPESTORE.types["std_msgs/msg/String"](data="driver died")
        writer.write(note, 1000, bytes(TYPESTORE.serialize_cdr(msg, "std_msgs/msg/String")))
    with pytest.raises(BagNoDepthError, match=r"no messages on /cam/image_raw; nothing written"):
        process_bag(src, out, estimator, BagJobOptions(CAM))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_relative_models_are_refused(tmp_path):
    src = tmp_path / "in"
    write_camera_bag(src, frames=1)
    relative = DepthEstimator.from_weights(save_tiny_model(tmp_path / "rel.safetensors", "relative"),
                                           device="cpu")
    with pytest.raises(BagError, match="relative disparity"):
        process_bag(src, tmp_path / "out", relative, BagJobOptions(CAM))


def test_export_dir_has_rgb_depth_mm_npy_preview_and_intrinsics_named_by_stamp(tmp_path, estimator):
    src, out, export = tmp_path / "in", tmp_path / "out", tmp_path / "export"
    recorded = write_camera_bag(src, frames=3)
    process_bag(src, out, estimator, BagJobOptions(CAM, export_dir=export))
    depth_msgs = read_bag(out)["/cam/depth/image"]
    names = [f"{f.stamp_ns // 10**9}_{f.stamp_ns % 10**9:09d}" for f in recorded]
    assert names[0] == "1700000000_123456789"
    assert sorted(p.name for p in export.iterdir()) == ["depth", "intrinsics", "preview", "rgb"]
    for name, frame, msg in zip(names, recorded, depth_msgs):
        depth = _depth(msg.msg)
        np.testing.assert_array_equal(np.load(export / "depth" / f"{name}.npy"), depth)
        mm = cv2.imread(str(export / "depth" / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        assert mm.dtype == np.uint16
        np.testing.assert_array_equal(mm, np.round(depth * 1000).astype(np.uint16))
        rgb = cv2.cvtColor(cv2.imread(str(export / "rgb" / f"{name}.png")), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(rgb, frame.rgb)
        preview = cv2.imread(str(export / "preview" / f"{name}.png"))
        f = enlargement(48)  # the frame | its depth near red, far blue | the scale bar
        np.testing.assert_array_equal(panel(preview, 48, 64, 0, f), cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
        assert_near_red_far_blue(panel(preview, 48, 64, 1, f), depth, "bag export preview")
        assert preview.shape[1] == 2 * 64 * f + scale_bar(48 * f, *color_range(depth)).shape[1]
        intr = json.loads((export / "intrinsics" / f"{name}.json").read_text())
        assert (intr["fx"], intr["fy"], intr["cx"], intr["cy"]) == (FX, FY, CX, CY)
        assert (intr["width"], intr["height"], intr["frame_id"]) == (64, 48, "cam_optical_frame")


def test_frames_with_one_repeated_stamp_are_exported_under_numbered_names(tmp_path, estimator):
    """A driver that stamps every frame alike (a stuck clock) must not lose frames in the
    export: the repeats of a stamp get `-1`, `-2`, ... in frame order, each with its own
    picture."""
    from bag_helpers import TYPESTORE, image_msg, synthetic_rgb
    from rosbags.rosbag2 import Writer

    src, out, export = tmp_path / "in", tmp_path / "out", tmp_path / "export"
    with Writer(src, version=8) as writer:
        conn = writer.add_connection(CAM, "sensor_msgs/msg/Image", typestore=TYPESTORE)
        for i in range(4):
            msg = image_msg(synthetic_rgb(i), 7_000_000_001)  # one stamp for all four
            writer.write(conn, 2000 + i, bytes(TYPESTORE.serialize_cdr(msg, "sensor_msgs/msg/Image")))
    process_bag(src, out, estimator, BagJobOptions(CAM, batch_size=2, export_dir=export))
    names = ["7_000000001", "7_000000001-1", "7_000000001-2", "7_000000001-3"]
    assert sorted(p.stem for p in (export / "rgb").iterdir()) == names
    for i, name in enumerate(names):
        rgb = cv2.cvtColor(cv2.imread(str(export / "rgb" / f"{name}.png")), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(rgb, synthetic_rgb(i))
        assert (export / "depth" / f"{name}.npy").is_file()


def test_export_intrinsics_carry_a_distorted_lens_and_say_when_they_were_assumed(tmp_path,
                                                                                  estimator):
    """Exported RGB is the raw frame: for a distorted lens its JSON must carry the lens model
    (D) too, or training would treat it as a pinhole; intrinsics assumed from
    --fallback-hfov-deg are marked as such, with the reason."""
    d = (-0.2, 0.05, 0.001, -0.002, 0.0)
    write_camera_bag(tmp_path / "distorted", frames=1, info_d=d)
    process_bag(tmp_path / "distorted", tmp_path / "out1", estimator,
                BagJobOptions(CAM, export_dir=tmp_path / "export1"))
    (path,) = (tmp_path / "export1" / "intrinsics").iterdir()
    intr = json.loads(path.read_text())
    assert (intr["fx"], intr["fy"], intr["cx"], intr["cy"]) == (FX, FY, CX, CY)
    assert intr["distortion_model"] == "plumb_bob" and intr["d"] == list(d)
    assert "assumed" not in intr

    write_camera_bag(tmp_path / "webcam", frames=1, info_topic=None)
    process_bag(tmp_path / "webcam", tmp_path / "out2", estimator,
                BagJobOptions(CAM, export_dir=tmp_path / "export2", fallback_hfov_deg=90.0))
    (path,) = (tmp_path / "export2" / "intrinsics").iterdir()
    intr = json.loads(path.read_text())
    assert intr["fx"] == pytest.approx(32.0) and (intr["width"], intr["height"]) == (64, 48)
    assert "d" not in intr
    assert intr["assumed"].startswith("assumed: no camera_info") and "90" in intr["assumed"]


def test_distro_jazzy_writes_bag_version_9_humble_version_8(tmp_path, estimator):
    src = tmp_path / "in"
    write_camera_bag(src, frames=1)
    for distro, version in (("humble", 8), ("jazzy", 9)):
        out = tmp_path / distro
        process_bag(src, out, estimator, BagJobOptions(CAM, distro=distro))
        meta = yaml.safe_load((out / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
        assert meta["version"] == version
        assert len(read_bag(out)["/cam/depth/points"]) == 1


def test_frames_of_different_sizes_are_batched_separately_and_all_written(tmp_path, estimator):
    from bag_helpers import TYPESTORE, image_msg, synthetic_rgb
    from rosbags.rosbag2 import Writer

    src, out = tmp_path / "in", tmp_path / "out"
    sizes = [(48, 64), (48, 64), (32, 40), (48, 64)]
    with Writer(src, version=8) as writer:
        conn = writer.add_connection(CAM, "sensor_msgs/msg/Image", typestore=TYPESTORE)
        for i, (h, w) in enumerate(sizes):
            msg = image_msg(synthetic_rgb(i, h, w), 1000 + i)
            writer.write(conn, 2000 + i, bytes(TYPESTORE.serialize_cdr(msg, "sensor_msgs/msg/Image")))
    process_bag(src, out, estimator, BagJobOptions(CAM, batch_size=4))
    depths = read_bag(out)["/cam/depth/image"]
    assert [(m.msg.height, m.msg.width) for m in depths] == sizes
    np.testing.assert_allclose(_depth(depths[2].msg), estimator.predict(synthetic_rgb(2, 32, 40)).values,
                               rtol=1e-5, atol=1e-5)
    assert not math.isnan(float(_depth(depths[3].msg).mean()))


def test_a_canonical_focal_model_is_corrected_with_each_frames_camera_info(tmp_path):
    from depth_anything_ros.geometry.focal import CANONICAL
    from depth_anything_ros.model import DepthAnything, ModelConfig, save_model

    import torch

    torch.manual_seed(0)
    config = ModelConfig.preset("vitpico", variant="metric", max_depth=20.0, input_size=70,
                                canonical_focal=0.5, focal_origin=CANONICAL)
    weights = tmp_path / "canonical.safetensors"
    save_model(DepthAnything(config).eval(), weights)
    estimator = DepthEstimator.from_weights(weights, device="cpu")
    src = tmp_path / "in"
    recorded = write_camera_bag(src, frames=3)
    process_bag(src, tmp_path / "out", estimator, BagJobOptions(CAM, batch_size=2))
    process_bag(src, tmp_path / "off", DepthEstimator.from_weights(
        weights, device="cpu", focal_correction="off"), BagJobOptions(CAM, batch_size=2))
    corrected = read_bag(tmp_path / "out")["/cam/depth/image"]
    plain = read_bag(tmp_path / "off")["/cam/depth/image"]
    for frame, message, raw in zip(recorded, corrected, plain):
        # the camera_info's fx = 60 px on a 64×48 image: f = 60 / 48, f_c = 0.5
        expected = estimator.predict(frame.rgb, fx=FX).values
        np.testing.assert_allclose(_depth(message.msg), expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(_depth(message.msg), _depth(raw.msg) * (FX / 48) / 0.5,
                                   rtol=1e-5)
    # without CameraInfo the depth is written uncorrected, and the summary counts those frames
    bare = tmp_path / "bare"
    write_camera_bag(bare, frames=2, info_topic=None)
    summary = process_bag(bare, tmp_path / "bare_out", estimator, BagJobOptions(CAM))
    first = read_bag(tmp_path / "bare_out")["/cam/depth/image"][0]
    np.testing.assert_allclose(_depth(first.msg), estimator.predict(recorded[0].rgb).values,
                               rtol=1e-5, atol=1e-5)
    assert summary.frames_without_focal == 2
    assert any(line.startswith("2 frames without a usable focal length") for line in summary.lines())
    # a CameraInfo whose D is unusable (3 values for plumb_bob) still has a good K: the depth is
    # corrected with its fx; only camera_info and points are left out, and the summary says why
    bad_d = tmp_path / "bad_d"
    write_camera_bag(bad_d, frames=2, info_d=(0.1, 0.01, 0.0))
    summary = process_bag(bad_d, tmp_path / "bad_d_out", estimator, BagJobOptions(CAM))
    written = read_bag(tmp_path / "bad_d_out")
    np.testing.assert_allclose(_depth(written["/cam/depth/image"][0].msg),
                               estimator.predict(recorded[0].rgb, fx=FX).values, rtol=1e-5, atol=1e-5)
    assert "/cam/depth/points" not in written and "/cam/depth/camera_info" not in written
    assert summary.frames_without_focal == 0
    assert "2 frames without camera_info and points: D has 3 values, but distortion_model " \
           "'plumb_bob' needs 4 or 5" in summary.lines()


def test_batch_size_is_the_most_frames_one_model_call_gets(tmp_path, weights, monkeypatch):
    """--batch-size sizes GPU memory: a batch of N must never be N + 1 frames."""
    spied = DepthEstimator.from_weights(weights, device="cpu")
    sizes = []
    real = spied.predict_batch

    def recording(rgbs, *args, **kwargs):
        sizes.append(len(rgbs))
        return real(rgbs, *args, **kwargs)

    monkeypatch.setattr(spied, "predict_batch", recording)
    src = tmp_path / "in"
    write_camera_bag(src, frames=5)
    summary = process_bag(src, tmp_path / "out", spied, BagJobOptions(CAM, batch_size=2))
    assert summary.frames_out == 5 and sizes == [2, 2, 1]
