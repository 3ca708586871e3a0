"""Topic planning of bag jobs: output names, CameraInfo pairing, --copy-topics, clear errors."""
import pytest

from depth_anything_ros.bag.errors import BagTopicError
from depth_anything_ros.bag.topics import (
    camera_namespace,
    default_camera_info_topic,
    output_topics,
    parse_copy_topics,
    plan_topics,
)

TOPICS = {
    "/cam/image_raw": "sensor_msgs/msg/Image",
    "/cam/camera_info": "sensor_msgs/msg/CameraInfo",
    "/front/image_raw/compressed": "sensor_msgs/msg/CompressedImage",
    "/imu": "sensor_msgs/msg/Imu",
    "/note": "std_msgs/msg/String",
}


@pytest.mark.parametrize("image_topic, namespace", [
    ("/cam/image_raw", "/cam"),
    ("/cam/image_raw/compressed", "/cam"),
    ("/robot/front/image_rect_color", "/robot/front"),
    ("/image_raw", ""),
    ("/image_raw/compressed", ""),
    # every image_transport suffix a bag can hold, not only "compressed"
    ("/cam/image_raw/theora", "/cam"),
    ("/cam/image_raw/compressedDepth", "/cam"),
    ("/cam/image_raw/zstd", "/cam"),
])
def test_camera_namespace_drops_the_image_name_and_its_transport(image_topic, namespace):
    assert camera_namespace(image_topic) == namespace


def test_outputs_live_in_the_camera_namespace_like_the_node():
    outputs = output_topics("/cam/image_raw/compressed")
    assert (outputs.image, outputs.camera_info, outputs.points) == (
        "/cam/depth/image", "/cam/depth/camera_info", "/cam/depth/points")
    assert output_topics("/image_raw").image == "/depth/image"
    assert default_camera_info_topic("/cam/image_raw") == "/cam/camera_info"


def test_missing_image_topic_error_lists_the_image_topics_of_the_bag():
    with pytest.raises(BagTopicError) as err:
        plan_topics(TOPICS, "/camera/image", bag_name="bag x")
    text = str(err.value)
    assert "'/camera/image'" in text and "bag x" in text
    assert "/cam/image_raw (sensor_msgs/msg/Image)" in text
    assert "/front/image_raw/compressed (sensor_msgs/msg/CompressedImage)" in text
    assert "/imu" not in text  # only image topics are offered


def test_a_non_image_topic_is_refused_naming_its_type():
    with pytest.raises(BagTopicError, match=r"'/imu'.*sensor_msgs/msg/Imu"):
        plan_topics(TOPICS, "/imu")


def test_camera_info_defaults_to_the_sibling_and_is_none_when_absent():
    assert plan_topics(TOPICS, "/cam/image_raw").camera_info_topic == "/cam/camera_info"
    assert plan_topics(TOPICS, "/front/image_raw/compressed").camera_info_topic is None
    plain, assumed = (plan_topics(TOPICS, "/front/image_raw/compressed", fallback_hfov_deg=hfov)
                      for hfov in (0.0, 90.0))
    assert plain.notes[0].endswith("writing depth images only, no camera_info or points")
    assert assumed.notes[0].endswith("camera_info and points from a pinhole assumed with "
                                     "--fallback-hfov-deg 90")


def test_an_explicit_camera_info_topic_must_exist_and_be_camera_info():
    plan = plan_topics(TOPICS, "/front/image_raw/compressed", camera_info_topic="/cam/camera_info")
    assert plan.camera_info_topic == "/cam/camera_info"
    with pytest.raises(BagTopicError, match=r"'/front/camera_info'.*CameraInfo topics are: /cam/camera_info"):
        plan_topics(TOPICS, "/front/image_raw/compressed", camera_info_topic="/front/camera_info")
    with pytest.raises(BagTopicError, match=r"Imu, not CameraInfo"):
        plan_topics(TOPICS, "/cam/image_raw", camera_info_topic="/imu")


def test_copy_topics_all_none_and_lists():
    assert plan_topics(TOPICS, "/cam/image_raw").copy_topics == tuple(sorted(TOPICS))
    assert plan_topics(TOPICS, "/cam/image_raw", copy_topics="none").copy_topics == ()
    plan = plan_topics(TOPICS, "/cam/image_raw", copy_topics="/note, /imu,/note")
    assert plan.copy_topics == ("/note", "/imu")


def test_copy_topics_naming_a_missing_topic_lists_the_bag_topics():
    with pytest.raises(BagTopicError, match=r"no topic '/gps'.*/note \(std_msgs/msg/String\)"):
        plan_topics(TOPICS, "/cam/image_raw", copy_topics="/note,/gps")


@pytest.mark.parametrize("spec", ["", " , ", "note"])
def test_malformed_copy_topic_lists_are_refused(spec):
    with pytest.raises(BagTopicError, match="--copy-topics"):
        parse_copy_topics(spec)


def test_input_topics_named_like_an_output_are_not_copied_by_all_and_refused_by_name():
    topics = {**TOPICS, "/cam/depth/image": "sensor_msgs/msg/Image"}
    assert "/cam/depth/image" not in plan_topics(topics, "/cam/image_raw").copy_topics
    with pytest.raises(BagTopicError, match="collide"):
        plan_topics(topics, "/cam/image_raw", copy_topics="/cam/depth/image")


def test_frame_names_pad_nanoseconds_so_they_sort_by_time():
    """Exported frames are named by stamp; 1 s + 5 ms must sort before 1 s + 123 ms."""
    from depth_anything_ros.bag.messages import Stamp

    stamps = [Stamp(1, 123_456_789, "f"), Stamp(1, 5_000_000, "f"), Stamp(0, 999_999_999, "f")]
    assert Stamp(1, 5_000_000, "f").name == "1_005000000"
    assert sorted(s.name for s in stamps) == [s.name for s in sorted(stamps, key=lambda s: s.ns)]
