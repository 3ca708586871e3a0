"""Bag datasets on real bags written here with rosbags: raw and compressed images, stamp pairing."""

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from depth_anything_ros.training.data import open_dataset
from depth_anything_ros.training.data.bags import BagDataset, BagDatasetError

TYPESTORE = get_typestore(Stores.ROS2_HUMBLE)
T = TYPESTORE.types
START = 1_700_000_000_000_000_000
PERIOD = 100_000_000  # 10 Hz
H, W = 6, 8


def _header(stamp):
    sec, nanosec = divmod(stamp, 1_000_000_000)
    return T["std_msgs/msg/Header"](
        stamp=T["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec), frame_id="cam"
    )


def _image(stamp, array, encoding):
    data = np.ascontiguousarray(array).view(np.uint8).reshape(-1)
    return T["sensor_msgs/msg/Image"](
        header=_header(stamp),
        height=H,
        width=W,
        encoding=encoding,
        is_bigendian=0,
        step=data.size // H,
        data=data,
    )


def _compressed(stamp, rgb):
    ok, buffer = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return T["sensor_msgs/msg/CompressedImage"](
        header=_header(stamp), format="rgb8; png compressed bgr8", data=buffer.reshape(-1)
    )


def _info(stamp):
    roi = T["sensor_msgs/msg/RegionOfInterest"](
        x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
    )
    return T["sensor_msgs/msg/CameraInfo"](
        header=_header(stamp),
        height=H,
        width=W,
        distortion_model="plumb_bob",
        d=np.zeros(5),
        k=np.array([9.0, 0, 3.5, 0, 9.5, 2.5, 0, 0, 1]),
        r=np.eye(3).reshape(-1),
        p=np.array([10.0, 0, 3.0, 0, 0, 11.0, 2.0, 0, 0, 0, 1, 0]),
        binning_x=0,
        binning_y=0,
        roi=roi,
    )


def _frames(n=4):
    rng = np.random.default_rng(0)
    rgbs = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(n)]
    depths = [rng.uniform(0.5, 9.0, (H, W)).astype(np.float32) for _ in range(n)]
    for depth in depths:
        depth[0, 0] = np.nan
    return rgbs, depths


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """A bag: raw + compressed images, 32FC1 depth at the same stamps, 16UC1 depth 3 ms late,
    camera info, and an unrelated topic; frame 2 has no exact-stamp 32FC1 depth."""
    path = tmp_path_factory.mktemp("bags") / "rec"
    rgbs, depths = _frames()
    with Writer(path, version=8, storage_plugin=StoragePlugin.SQLITE3) as writer:

        def add(topic, kind):
            return writer.add_connection(topic, kind, typestore=TYPESTORE)

        raw, comp = (
            add("/cam/image_raw", "sensor_msgs/msg/Image"),
            add("/cam/image_raw/compressed", "sensor_msgs/msg/CompressedImage"),
        )
        depth32, depth16 = (
            add("/cam/depth", "sensor_msgs/msg/Image"),
            add("/cam/depth_mm", "sensor_msgs/msg/Image"),
        )
        info, note = (
            add("/cam/camera_info", "sensor_msgs/msg/CameraInfo"),
            add("/note", "std_msgs/msg/String"),
        )

        def write(conn, time, msg, kind):
            writer.write(conn, time, bytes(TYPESTORE.serialize_cdr(msg, kind)))

        for i, (rgb, depth) in enumerate(zip(rgbs, depths)):
            stamp = START + i * PERIOD
            bag_time = stamp + 7_000_000  # recorded a little after capture: bag time ≠ stamp
            write(raw, bag_time, _image(stamp, rgb, "rgb8"), "sensor_msgs/msg/Image")
            write(comp, bag_time, _compressed(stamp, rgb), "sensor_msgs/msg/CompressedImage")
            exact_stamp = stamp if i != 2 else stamp + 50_000_000
            write(depth32, bag_time, _image(exact_stamp, depth, "32FC1"), "sensor_msgs/msg/Image")
            mm = np.where(np.isfinite(depth), np.round(depth * 1000), 0).astype("<u2")
            write(
                depth16,
                bag_time + 3_000_000,
                _image(stamp + 3_000_000, mm, "16UC1"),
                "sensor_msgs/msg/Image",
            )
            write(info, bag_time, _info(stamp), "sensor_msgs/msg/CameraInfo")
            write(note, bag_time, T["std_msgs/msg/String"](data="x"), "std_msgs/msg/String")
    return path, rgbs, depths


def test_unlabeled_raw_image_topic_yields_every_frame_in_order(recording):
    path, rgbs, _ = recording
    ds = open_dataset(f"bag:{path}?image=/cam/image_raw")
    assert isinstance(ds, BagDataset) and not ds.labeled and len(ds) == 4
    for i, rgb in enumerate(rgbs):
        sample = ds[i]
        np.testing.assert_array_equal(sample["image"], rgb)
        sec, nanosec = divmod(START + i * PERIOD, 1_000_000_000)
        assert sample["name"] == f"{sec}_{nanosec:09d}" and "depth" not in sample


def test_compressed_image_topic_decodes_to_the_same_pixels(recording):
    path, rgbs, _ = recording
    ds = BagDataset(path, "/cam/image_raw/compressed")
    np.testing.assert_array_equal(ds[3]["image"], rgbs[3])


def test_labeled_pairs_match_by_exact_stamp_and_skip_unmatched_frames(recording):
    path, rgbs, depths = recording
    ds = open_dataset(f"bag:{path}?image=/cam/image_raw&depth=/cam/depth")
    assert ds.labeled and len(ds) == 3  # frame 2's depth is 50 ms off
    for sample, i in zip((ds[0], ds[1], ds[2]), (0, 1, 3)):
        np.testing.assert_array_equal(sample["image"], rgbs[i])
        np.testing.assert_array_equal(sample["depth"], depths[i])
        np.testing.assert_array_equal(sample["valid"], np.isfinite(depths[i]))


def test_nearest_stamp_within_tolerance_pairs_millimetre_depth(recording):
    path, rgbs, depths = recording
    with pytest.raises(
        BagDatasetError, match="no /cam/image_raw frame has a /cam/depth_mm frame within 0.0 s"
    ):
        BagDataset(path, "/cam/image_raw", "/cam/depth_mm")
    ds = BagDataset(path, "/cam/image_raw", "/cam/depth_mm", tolerance=0.005)
    assert len(ds) == 4
    for i in range(4):
        np.testing.assert_allclose(ds[i]["depth"], depths[i], atol=0.0005)
        np.testing.assert_array_equal(ds[i]["image"], rgbs[i])


def test_camera_info_gives_rectified_intrinsics(recording):
    path, _, _ = recording
    ds = open_dataset(f"bag:{path}?image=/cam/image_raw&camera_info=/cam/camera_info&every=2")
    assert len(ds) == 2
    np.testing.assert_allclose(ds[1]["intrinsics"], [10.0, 11.0, 3.0, 2.0])  # from P, not K
    # without camera_info=, the image's sibling <ns>/camera_info is used, as the bag tool does
    sibling = open_dataset(f"bag:{path}?image=/cam/image_raw&every=2")
    np.testing.assert_allclose(sibling[1]["intrinsics"], [10.0, 11.0, 3.0, 2.0])


def test_errors_name_the_bag_and_topic(recording, tmp_path):
    path, _, _ = recording
    with pytest.raises(BagDatasetError, match=r"no topic /missing \(topics: .*/cam/image_raw"):
        BagDataset(path, "/missing")
    with pytest.raises(BagDatasetError, match="topic /note has type std_msgs/msg/String"):
        BagDataset(path, "/note")
    with pytest.raises(
        BagDatasetError, match="/cam/image_raw/compressed has type .*CompressedImage"
    ):
        BagDataset(path, "/cam/image_raw", "/cam/image_raw/compressed")
    with pytest.raises(BagDatasetError, match=f"bag {tmp_path / 'nope'} does not exist"):
        BagDataset(tmp_path / "nope", "/cam/image_raw")


def test_dataset_survives_pickling_for_dataloader_workers(recording):
    import pickle

    path, rgbs, _ = recording
    ds = BagDataset(path, "/cam/image_raw", max_frames=2)
    clone = pickle.loads(pickle.dumps(ds))
    assert len(clone) == 2
    np.testing.assert_array_equal(clone[1]["image"], rgbs[1])


def _write_bag(path, messages):
    """A bag of (topic, type, bag time, message) in the given order."""
    with Writer(path, version=8, storage_plugin=StoragePlugin.SQLITE3) as writer:
        connections = {}
        for topic, kind, time, msg in messages:
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, kind, typestore=TYPESTORE)
            writer.write(connections[topic], time, bytes(TYPESTORE.serialize_cdr(msg, kind)))


def test_depth_stamped_slightly_before_its_image_is_paired_within_tolerance(tmp_path):
    # Many RGB-D drivers stamp the depth frame a few ms before the colour frame; with a
    # tolerance set, those frames must still pair (with their own depth, not the next one).
    rgbs, depths = _frames()
    messages = []
    for i, (rgb, depth) in enumerate(zip(rgbs, depths)):
        stamp = START + i * PERIOD
        messages.append(("/cam/depth", "sensor_msgs/msg/Image", stamp + 5_000_000,
                         _image(stamp - 3_000_000, depth, "32FC1")))
        messages.append(("/cam/image_raw", "sensor_msgs/msg/Image", stamp + 7_000_000,
                         _image(stamp, rgb, "rgb8")))
    _write_bag(tmp_path / "early", messages)
    ds = BagDataset(tmp_path / "early", "/cam/image_raw", "/cam/depth", tolerance=0.005)
    assert len(ds) == 4
    for i in range(4):
        np.testing.assert_array_equal(ds[i]["image"], rgbs[i])
        np.testing.assert_array_equal(ds[i]["depth"], depths[i])


def test_camera_info_with_an_all_zero_p_falls_back_to_k(tmp_path):
    # Uncalibrated or non-rectifying drivers publish K but leave P all zeros; training on
    # fx = fy = 0 would poison every canonical-focal metric sample from this camera.
    rgbs, _ = _frames(1)
    info = _info(START)
    info.p = np.zeros(12)
    _write_bag(tmp_path / "zero_p", [
        ("/cam/image_raw", "sensor_msgs/msg/Image", START, _image(START, rgbs[0], "rgb8")),
        ("/cam/camera_info", "sensor_msgs/msg/CameraInfo", START, info),
    ])
    sample = BagDataset(tmp_path / "zero_p", "/cam/image_raw")[0]
    np.testing.assert_allclose(sample["intrinsics"], [9.0, 9.5, 3.5, 2.5])  # K, not zeros
