"""Which topics a bag job reads, writes and copies, decided once before any message is read.

The output names follow the node: for an input `/cam/image_raw` (or its `/compressed`
transport) the depth outputs live in the camera namespace, `/cam/depth/{image,camera_info,points}`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from depth_anything_ros.bag.errors import BagTopicError

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
POINTCLOUD_TYPE = "sensor_msgs/msg/PointCloud2"
IMAGE_TYPES = (IMAGE_TYPE, COMPRESSED_IMAGE_TYPE)
IMU_TYPE = "sensor_msgs/msg/Imu"
TF_TYPE = "tf2_msgs/msg/TFMessage"

# Last name segments that are an image transport rather than part of the camera namespace.
TRANSPORT_SUFFIXES = ("compressed", "theora", "compressedDepth", "zstd")


@dataclass(frozen=True)
class OutputTopics:
    """The three topics a job writes for one camera."""

    image: str
    camera_info: str
    points: str


@dataclass(frozen=True)
class TopicPlan:
    """Everything a job needs to know about topics, validated against one bag."""

    image_topic: str
    image_type: str
    camera_info_topic: str | None
    outputs: OutputTopics
    copy_topics: tuple[str, ...]
    notes: tuple[str, ...] = ()  # warnings for the user (logged once by the job)
    sparse_depth_topic: str | None = None  # metric anchors (an Image topic), if any
    imu_topic: str | None = None  # the ground plane's direction (an Imu topic), if any
    tf_static_topic: str | None = None  # the camera's mount (TFMessage), for --ground-frame


def camera_namespace(image_topic: str) -> str:
    """`/cam/image_raw` and `/cam/image_raw/compressed` → `/cam`; `/image_raw` → ``""``."""
    parts = [p for p in image_topic.split("/") if p]
    if len(parts) > 1 and parts[-1] in TRANSPORT_SUFFIXES:
        parts = parts[:-1]
    return "".join(f"/{p}" for p in parts[:-1])


def output_topics(image_topic: str) -> OutputTopics:
    ns = camera_namespace(image_topic)
    return OutputTopics(f"{ns}/depth/image", f"{ns}/depth/camera_info", f"{ns}/depth/points")


def default_camera_info_topic(image_topic: str) -> str:
    """The sibling `camera_info` of an image topic, as image_transport pairs them."""
    return f"{camera_namespace(image_topic)}/camera_info"


def _listing(topic_types: Mapping[str, str], types: tuple[str, ...] | None = None) -> str:
    names = [f"{t} ({ty})" for t, ty in sorted(topic_types.items()) if types is None or ty in types]
    return ", ".join(names) if names else "none"


def parse_copy_topics(spec: str) -> str | tuple[str, ...]:
    """`all` | `none` | a comma-separated list of topic names → "all", "none" or a tuple."""
    spec = spec.strip()
    if spec in ("all", "none"):
        return spec
    names = tuple(dict.fromkeys(t.strip() for t in spec.split(",") if t.strip()))
    if not names:
        raise BagTopicError(f"--copy-topics {spec!r}: expected all, none or a comma-separated topic list")
    bad = [t for t in names if not t.startswith("/")]
    if bad:
        raise BagTopicError(f"--copy-topics: topic names must be absolute (start with '/'): {', '.join(bad)}")
    return names


def _not_of_type(topic_types: Mapping[str, str], topic: str, wanted: str,
                 kind: str) -> str | None:
    """"has no topic 'T'" or "has <type>, not <kind>, on 'T'" when `topic` is not of type
    `wanted` in the bag, else None: the middle of every wrong-topic error below."""
    found = topic_types.get(topic)
    if found == wanted:
        return None
    return ("has no topic" if found is None else f"has {found}, not {kind}, on") + f" {topic!r}"


def check_tf_static_topic(topic_types: Mapping[str, str], topic: str, bag_name: str) -> None:
    """BagTopicError unless the bag has `topic` as tf2_msgs/TFMessage (for --ground-frame)."""
    problem = _not_of_type(topic_types, topic, TF_TYPE, "a TFMessage")
    if problem is not None:
        raise BagTopicError(f"--ground-frame reads the camera's mount from static transforms, "
                            f"and {bag_name} {problem} (record /tf_static, or pass "
                            f"--tf-static-topic); its TFMessage topics are: "
                            f"{_listing(topic_types, (TF_TYPE,))}")


def plan_topics(
    topic_types: Mapping[str, str],
    image_topic: str,
    camera_info_topic: str | None = None,
    copy_topics: str = "all",
    bag_name: str = "the bag",
    sparse_depth_topic: str | None = None,
    fallback_hfov_deg: float = 0.0,
    imu_topic: str | None = None,
    tf_static_topic: str | None = None,
) -> TopicPlan:
    """Check the requested topics against a bag's `{topic: msgtype}`; errors list what it has."""
    notes: list[str] = []
    if image_topic not in topic_types:
        raise BagTopicError(
            f"{bag_name} has no topic {image_topic!r}; its image topics are: "
            f"{_listing(topic_types, IMAGE_TYPES)}"
        )
    image_type = topic_types[image_topic]
    if image_type not in IMAGE_TYPES:
        raise BagTopicError(
            f"topic {image_topic!r} in {bag_name} is {image_type}, not an Image or CompressedImage; "
            f"its image topics are: {_listing(topic_types, IMAGE_TYPES)}"
        )

    if camera_info_topic is not None:
        problem = _not_of_type(topic_types, camera_info_topic, CAMERA_INFO_TYPE, "CameraInfo")
        if problem is not None:
            raise BagTopicError(f"{bag_name} {problem}; its CameraInfo topics are: "
                                f"{_listing(topic_types, (CAMERA_INFO_TYPE,))}")
        info_topic: str | None = camera_info_topic
    else:
        sibling = default_camera_info_topic(image_topic)
        info_topic = sibling if topic_types.get(sibling) == CAMERA_INFO_TYPE else None
        if info_topic is None:
            notes.append(
                f"{bag_name} has no CameraInfo on {sibling} (pass --camera-info-topic; CameraInfo "
                f"topics: {_listing(topic_types, (CAMERA_INFO_TYPE,))}): "
                + (f"camera_info and points from a pinhole assumed with --fallback-hfov-deg "
                   f"{fallback_hfov_deg:g}" if fallback_hfov_deg > 0
                   else "writing depth images only, no camera_info or points")
            )

    for option, topic, wanted, kind, plural in (
            ("--sparse-depth-topic", sparse_depth_topic, IMAGE_TYPE, "an Image", "Image"),
            ("--imu-topic", imu_topic, IMU_TYPE, "an Imu", "Imu")):
        problem = None if topic is None else _not_of_type(topic_types, topic, wanted, kind)
        if problem is not None:
            raise BagTopicError(f"{option}: {bag_name} {problem}; its {plural} topics are: "
                                f"{_listing(topic_types, (wanted,))}")

    if tf_static_topic is not None:
        check_tf_static_topic(topic_types, tf_static_topic, bag_name)

    outputs = output_topics(image_topic)
    produced = {outputs.image, outputs.camera_info, outputs.points}
    selection = parse_copy_topics(copy_topics)
    if selection == "all":
        copies = tuple(t for t in sorted(topic_types) if t not in produced)
        for t in sorted(produced & set(topic_types)):
            notes.append(f"not copying input topic {t}: this job writes a new one")
    elif selection == "none":
        copies = ()
    else:
        missing = [t for t in selection if t not in topic_types]
        if missing:
            raise BagTopicError(
                f"--copy-topics: {bag_name} has no topic {', '.join(map(repr, missing))}; "
                f"its topics are: {_listing(topic_types)}"
            )
        clash = [t for t in selection if t in produced]
        if clash:
            raise BagTopicError(
                f"--copy-topics: {', '.join(clash)} would collide with this job's output topics"
            )
        copies = tuple(selection)
    return TopicPlan(image_topic, image_type, info_topic, outputs, copies, tuple(notes),
                     sparse_depth_topic, imu_topic, tf_static_topic)
