"""Builds small real ROS 2 bags with rosbags for the bag tests, and reads them back.

Frames are deterministic synthetic pictures; bag times are the header stamps plus a fixed
"receive latency", so tests can tell the two apart.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from depth_anything_ros.conversions import decode_depth, encode_image
from depth_anything_ros.geometry.camera import CameraIntrinsics
from depth_anything_ros.model import DepthAnything, ModelConfig, save_model
from depth_anything_ros.scale import GroundPlane, fit_ground_plane

TYPESTORE = get_typestore(Stores.ROS2_HUMBLE)
T = TYPESTORE.types
START_NS = 1_700_000_000_123_456_789
PERIOD_NS = 100_000_000  # 10 Hz
LATENCY_NS = 5_000_000  # bag time = stamp + 5 ms
FX, FY, CX, CY = 60.0, 58.0, 31.5, 23.0
MODEL_INPUT_SIZE = 70  # tiny network input (5 patches): fast on 2 cores


def save_tiny_model(path: Path, variant: str = "metric", seed: int = 0) -> Path:
    """A random `vitpico` checkpoint (our .safetensors) the CLI and estimator load."""
    import torch

    torch.manual_seed(seed)
    config = ModelConfig.preset("vitpico", variant=variant, input_size=MODEL_INPUT_SIZE,
                                max_depth=20.0 if variant == "metric" else None)
    save_model(DepthAnything(config).eval(), path, provenance={"trained_by": "test/bag_helpers"})
    return path


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    """A tiny metric checkpoint per test module (import the fixture to use it)."""
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny_metric.safetensors")


@pytest.fixture(scope="module")
def estimator(weights):
    from depth_anything_ros.inference import DepthEstimator

    return DepthEstimator.from_weights(weights, device="cpu")


def synthetic_rgb(index: int, height: int = 48, width: int = 64) -> np.ndarray:
    """A deterministic picture that changes from frame to frame (gradients and a moving box)."""
    v, u = np.mgrid[0:height, 0:width]
    rgb = np.stack([(u * 4 + index * 16) % 256, (v * 5) % 256, ((u + v) * 3 + index * 40) % 256], -1)
    rgb = rgb.astype(np.uint8)
    x0 = (index * 7) % max(1, width - 12)
    rgb[10:22, x0:x0 + 12] = (250, (240 - index) % 256, 10)
    return rgb


def _header(stamp_ns: int, frame_id: str = "cam_optical_frame"):
    sec, nanosec = divmod(stamp_ns, 1_000_000_000)
    return T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec),
                                    frame_id=frame_id)


def image_msg(rgb: np.ndarray, stamp_ns: int, encoding: str = "rgb8", row_padding: int = 0):
    step, data = encode_image(rgb, encoding, row_padding=row_padding)
    return T["sensor_msgs/msg/Image"](header=_header(stamp_ns), height=rgb.shape[0], width=rgb.shape[1],
                                      encoding=encoding, is_bigendian=0, step=step,
                                      data=np.frombuffer(data, np.uint8))


def compressed_msg(rgb: np.ndarray, stamp_ns: int, fmt: str = "png"):
    ok, buf = cv2.imencode(f".{fmt}", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return T["sensor_msgs/msg/CompressedImage"](header=_header(stamp_ns), format=f"rgb8; {fmt} compressed bgr8",
                                                data=buf.reshape(-1))


def camera_info_msg(stamp_ns: int, height: int = 48, width: int = 64, calibrated: bool = True,
                    d: tuple[float, ...] = (0.0,) * 5,
                    k: tuple[float, float, float, float] = (FX, FY, CX, CY)):
    """The test camera's CameraInfo (`k`: fx, fy, cx, cy); uncalibrated cameras publish K and P
    all zeros."""
    fx, fy, cx, cy = k
    gain = 1.0 if calibrated else 0.0
    roi = T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    return T["sensor_msgs/msg/CameraInfo"](
        header=_header(stamp_ns), height=height, width=width, distortion_model="plumb_bob",
        d=np.array(d, dtype=np.float64), k=gain * np.array([fx, 0, cx, 0, fy, cy, 0, 0, 1.0]), r=np.eye(3).reshape(-1),
        p=gain * np.array([fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1.0, 0]), binning_x=0, binning_y=0, roi=roi)


@dataclass
class RecordedFrame:
    index: int
    stamp_ns: int
    bag_time_ns: int
    rgb: np.ndarray
    corrupt: bool = False


def write_camera_bag(
    path: Path,
    *,
    storage: str = "sqlite3",
    frames: int = 5,
    compressed: str | None = None,  # None: raw Image; "png" or "jpg": CompressedImage
    encoding: str = "rgb8",
    image_topic: str = "/cam/image_raw",
    info_topic: str | None = "/cam/camera_info",
    corrupt: dict[int, str] | None = None,  # frame index -> "short_data" | "truncated_cdr"
    notes: bool = True,
    version: int = 8,
    calibrated: bool = True,
    info_d: tuple[float, ...] = (0.0,) * 5,  # the CameraInfo's D (plumb_bob)
) -> list[RecordedFrame]:
    """A camera bag: frames, their CameraInfo and (with `notes`) a std_msgs/String on /note
    between frames. Returns the recorded frames with their stamps and bag times."""
    corrupt = corrupt or {}
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    recorded = []
    with Writer(path, version=version, storage_plugin=plugin) as writer:
        image_type = "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image"
        image_conn = writer.add_connection(image_topic, image_type, typestore=TYPESTORE)
        info_conn = (writer.add_connection(info_topic, "sensor_msgs/msg/CameraInfo", typestore=TYPESTORE)
                     if info_topic else None)
        note_conn = writer.add_connection("/note", "std_msgs/msg/String", typestore=TYPESTORE) if notes else None
        for i in range(frames):
            stamp = START_NS + i * PERIOD_NS
            bag_time = stamp + LATENCY_NS
            rgb = synthetic_rgb(i)
            msg = compressed_msg(rgb, stamp, compressed) if compressed else image_msg(rgb, stamp, encoding)
            kind = corrupt.get(i)
            if kind == "short_data":
                msg.data = msg.data[: len(msg.data) // 3]
            raw = bytes(TYPESTORE.serialize_cdr(msg, image_type))
            if kind == "truncated_cdr":
                raw = raw[:40]
            writer.write(image_conn, bag_time, raw)
            if info_conn is not None:
                writer.write(info_conn, bag_time + 1000, bytes(TYPESTORE.serialize_cdr(
                    camera_info_msg(stamp, calibrated=calibrated, d=info_d), "sensor_msgs/msg/CameraInfo")))
            if note_conn is not None:
                note = T["std_msgs/msg/String"](data=f"note {i}")
                writer.write(note_conn, bag_time + PERIOD_NS // 2,
                             bytes(TYPESTORE.serialize_cdr(note, "std_msgs/msg/String")))
            recorded.append(RecordedFrame(i, stamp, bag_time, rgb, corrupt=kind is not None))
    return recorded


def strip_type_definitions(path: Path) -> None:
    """Make a sqlite3 bag look Humble-recorded: no message definitions, no type hashes."""
    import sqlite3

    import yaml

    db = sqlite3.connect(str(next(path.glob("*.db3"))))
    db.execute("DELETE FROM message_definitions")
    db.execute("UPDATE topics SET type_description_hash = ''")
    db.commit()
    db.close()
    meta = yaml.safe_load((path / "metadata.yaml").read_text())
    for topic in meta["rosbag2_bagfile_information"]["topics_with_message_count"]:
        topic["topic_metadata"]["type_description_hash"] = ""
    (path / "metadata.yaml").write_text(yaml.safe_dump(meta))


@dataclass
class ReadMessage:
    topic: str
    msgtype: str
    bag_time_ns: int
    msg: object


def read_bag(path: Path, topics: tuple[str, ...] | None = None) -> dict[str, list[ReadMessage]]:
    """Every message of a bag (or of `topics`), by topic, deserialized with the bag's own
    definitions."""
    out: dict[str, list[ReadMessage]] = {}
    with AnyReader([path]) as reader:
        conns = [c for c in reader.connections if topics is None or c.topic in topics]
        for conn, bag_time, raw in reader.messages(connections=conns):
            out.setdefault(conn.topic, []).append(
                ReadMessage(conn.topic, conn.msgtype, bag_time, reader.deserialize(raw, conn.msgtype)))
    return out


def topic_counts(path: Path) -> dict[str, int]:
    with AnyReader([path]) as reader:
        return {topic: info.msgcount for topic, info in reader.topics.items()}


def stamp_ns(msg) -> int:
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


def tree_digest(path: Path) -> str:
    """SHA-256 over every file (relative name, size, bytes) below `path`, or of a single file."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        digest.update(str(f.relative_to(path.parent)).encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()


def write_fleet(root: Path) -> dict[str, Path]:
    """A folder of bags as a robot fleet leaves them: a sqlite3 bag folder, an MCAP bag folder
    (one level down), a lone .mcap file and a broken .db3 (not a database). Returns them by
    the path `bags` reports (relative to `root`)."""
    import shutil

    write_camera_bag(root / "site_a" / "run1", storage="sqlite3", frames=6)
    write_camera_bag(root / "site_a" / "run2", storage="mcap", frames=4, compressed="png")
    staging = root.parent / f".{root.name}_lone"
    write_camera_bag(staging, storage="mcap", frames=5, notes=False)
    shutil.move(str(next(staging.glob("*.mcap"))), str(root / "lone.mcap"))
    shutil.rmtree(staging)
    (root / "broken.db3").write_bytes(b"this is not an sqlite3 database\n" * 64)
    return {"site_a/run1": root / "site_a" / "run1", "site_a/run2": root / "site_a" / "run2",
            "lone.mcap": root / "lone.mcap", "broken.db3": root / "broken.db3"}


def depth_messages(path: Path, topic: str = "/cam/depth/image") -> list[tuple[int, int, str, bytes]]:
    """(bag time, header stamp, encoding, payload) of every depth image in an output bag."""
    return [(m.bag_time_ns, stamp_ns(m.msg), m.msg.encoding, bytes(m.msg.data))
            for m in read_bag(path, (topic,)).get(topic, [])]


FLOOR_FRAME = "base_footprint"


def write_imu_readings(writer, first_ns: int, end_ns: int, topic: str = "/imu") -> None:
    """An Imu topic at 100 Hz from `first_ns` to `end_ns`, recorded 1 ms after each stamp: an
    IMU in a body frame (x forward, y left, z up) on a camera looking straight down, so at
    rest it reads 1 g along −x (its forward axis points at the floor)."""
    conn = writer.add_connection(topic, "sensor_msgs/msg/Imu", typestore=TYPESTORE)
    vector, quaternion = T["geometry_msgs/msg/Vector3"], T["geometry_msgs/msg/Quaternion"]
    for t in range(first_ns, end_ns, 10_000_000):
        msg = T["sensor_msgs/msg/Imu"](
            header=_header(t, "imu_link"), orientation=quaternion(x=0.0, y=0.0, z=0.0, w=1.0),
            orientation_covariance=np.full(9, -1.0), angular_velocity=vector(x=0.0, y=0.0, z=0.0),
            angular_velocity_covariance=np.zeros(9),
            linear_acceleration=vector(x=-9.81, y=0.0, z=0.0),
            linear_acceleration_covariance=np.zeros(9))
        writer.write(conn, t + 1_000_000, bytes(TYPESTORE.serialize_cdr(msg, "sensor_msgs/msg/Imu")))


def write_tf_bag(path, height, *, pitch_deg=90.0, yaw_deg=0.0, optical=True,
                 tf_topic="/tf_static", frames=6, images=None, k=(FX, FY, CX, CY),
                 second_height=None, tf_type="tf2_msgs/msg/TFMessage", mast=None,
                 imu=False):
    """Camera frames + CameraInfo + the robot's static transforms, as robot_state_publisher and
    a camera driver latch them (two messages): base_footprint → base_link (0.1 m up) →
    camera_link (`height` − 0.1 m above it, turned `yaw_deg` left and pitched `pitch_deg` down:
    URDF rpy (0, pitch, yaw)) → cam_optical_frame, the frames' own frame_id (left out unless
    `optical`). `images`: the frames' RGB (default: `frames` synthetic ones), `k` their fx, fy,
    cx, cy. `second_height`: a second camera (cam2_link → cam2_optical_frame, mounted alike
    at that height) whose frames alternate with the first's on the same topic. `tf_type`: the
    static-transform topic's declared type. `mast`: camera_link's quaternion as recorded
    (default: from the pitch and yaw). `imu`: also `write_imu_readings` on /imu (straight
    down, whatever the mount says)."""
    transform = T["geometry_msgs/msg/TransformStamped"]
    vector, quaternion = T["geometry_msgs/msg/Vector3"], T["geometry_msgs/msg/Quaternion"]
    sy, cy = np.sin(np.radians(pitch_deg) / 2), np.cos(np.radians(pitch_deg) / 2)
    sz, cz = np.sin(np.radians(yaw_deg) / 2), np.cos(np.radians(yaw_deg) / 2)
    if mast is None:  # about z (yaw), then y (pitch): q_z ⊗ q_y
        mast = (-sz * sy, cz * sy, sz * cy, cz * cy)

    def link(parent, child, xyz, xyzw):
        return transform(header=_header(START_NS - 10**9, parent), child_frame_id=child,
                         transform=T["geometry_msgs/msg/Transform"](
                             translation=vector(*xyz), rotation=quaternion(*xyzw)))

    robot = [link(FLOOR_FRAME, "base_link", (0.0, 0.0, 0.1), (0.0, 0.0, 0.0, 1.0)),
             link("base_link", "camera_link", (0.2, 0.0, height - 0.1), mast)]
    driver = [link("camera_link", "cam_optical_frame", (0.0, 0.0, 0.0), (-0.5, 0.5, -0.5, 0.5))]
    if second_height is not None:
        robot.append(link("base_link", "cam2_link", (0.2, 0.0, second_height - 0.1), mast))
        driver.append(link("cam2_link", "cam2_optical_frame", (0.0, 0.0, 0.0),
                           (-0.5, 0.5, -0.5, 0.5)))
    images = [synthetic_rgb(i) for i in range(frames)] if images is None else images
    written = []
    with Writer(path, version=8) as writer:
        tf_conn = writer.add_connection(tf_topic, tf_type, typestore=TYPESTORE)
        image_conn = writer.add_connection("/cam/image_raw", "sensor_msgs/msg/Image",
                                           typestore=TYPESTORE)
        info_conn = writer.add_connection("/cam/camera_info", "sensor_msgs/msg/CameraInfo",
                                          typestore=TYPESTORE)
        if imu:
            write_imu_readings(writer, START_NS - 50_000_000, START_NS + len(images) * PERIOD_NS)
        for i, transforms in enumerate([robot] + ([driver] if optical else [])):
            writer.write(tf_conn, START_NS - 10**9 + i, bytes(TYPESTORE.serialize_cdr(
                T["tf2_msgs/msg/TFMessage"](transforms=transforms), "tf2_msgs/msg/TFMessage")))
        for i, rgb in enumerate(images):
            stamp = START_NS + i * PERIOD_NS
            image, info = image_msg(rgb, stamp), camera_info_msg(stamp, *rgb.shape[:2], k=k)
            if second_height is not None and i % 2:
                image.header.frame_id = info.header.frame_id = "cam2_optical_frame"
            writer.write(image_conn, stamp, bytes(TYPESTORE.serialize_cdr(
                image, "sensor_msgs/msg/Image")))
            writer.write(info_conn, stamp + 1000, bytes(TYPESTORE.serialize_cdr(
                info, "sensor_msgs/msg/CameraInfo")))
            written.append((stamp, rgb))
    return written


def depths(out):
    """{header stamp: metres} of every depth image in an output bag."""
    return {stamp_ns(m.msg): decode_depth(m.msg.encoding, m.msg.height, m.msg.width, m.msg.step,
                                          bool(m.msg.is_bigendian), m.msg.data)
            for m in read_bag(out, ("/cam/depth/image",))["/cam/depth/image"]}


def assert_floor_seen_from_above(metric, out, frames, height):
    """Each frame's depth in `out` is the random model's (the same depth everywhere: a floor
    seen from straight above) fitted to a floor `height` below a camera looking straight down:
    half the prediction, as `height` was chosen."""
    got = depths(out)
    for stamp, rgb in frames:
        prediction = metric.predict(rgb).values
        fit = fit_ground_plane(prediction, GroundPlane(height, (0.0, 0.0, -1.0)),
                               relative=False,
                               intrinsics=CameraIntrinsics(FX, FY, CX, CY, 64, 48))
        assert fit.ok and fit.scale == pytest.approx(0.5, rel=0.01)
        np.testing.assert_allclose(got[stamp], fit.apply(prediction), rtol=1e-4)
