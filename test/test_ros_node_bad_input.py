"""Bad frames and bad camera_info are rejected with a throttled error; the next good frame works."""
import math
import time

import cv2
import pytest
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image

from ros_helpers import (  # noqa: F401 — fixtures
    RosoutLog as RosoutErrors, harness_factory, make_camera_info, make_image, random_rgb,
    ros_context, tiny_weights)


def bad_raw_frames():
    rgb = random_rgb()
    good = make_image(rgb)
    yield "unsupported encoding", "encoding '32FC1'", Image(
        header=good.header, height=24, width=32, encoding="32FC1", step=128, data=bytes(24 * 128))
    short = make_image(rgb)
    short.data = bytes(short.data)[:-10]
    yield "data shorter than step×height", "data:", short
    narrow = make_image(rgb)
    narrow.step = 32 * 3 - 1
    yield "step < width×bpp", "step:", narrow
    empty = make_image(rgb)
    empty.width = 0
    yield "zero width", "image is 0x24", empty
    flat = make_image(rgb)
    flat.height = 0
    yield "zero height", "image is 32x0", flat
    yield "image larger than max_image_pixels", "max_image_pixels", make_image(random_rgb(40, 60))


def test_each_bad_frame_is_logged_skipped_and_followed_by_a_served_good_frame(harness_factory):
    h = harness_factory({"max_image_pixels": 32 * 24, "error_log_period": 0.0})
    errors = RosoutErrors(h)
    h.send_info(make_camera_info(32, 24))
    for index, (what, text, bad) in enumerate(bad_raw_frames()):
        bad.header.stamp.sec, bad.header.stamp.nanosec = 100 + index, 0
        h.image_pub.publish(bad)
        deadline = time.monotonic() + 5
        while not errors.matching(text) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert errors.matching(text), f"no error naming '{text}' for {what}: {errors.records}"
        assert all(h.ns in r for r in errors.matching(text)), "error must name the topic"
        h.image_pub.publish(make_image(random_rgb(), stamp=(100 + index, 1)))
        h.wait_stamp("points", (100 + index, 1))
        assert not any(m.header.stamp.sec == 100 + index and m.header.stamp.nanosec == 0
                       for m in h.received["depth"]), f"{what} produced depth"
    assert h.node.stats.rejected == 6 and h.node.worker_alive


def test_repeated_errors_are_throttled(harness_factory):
    h = harness_factory()
    errors = RosoutErrors(h)
    bad = make_image(random_rgb())
    bad.step = 10
    for index in range(8):
        bad.header.stamp.nanosec = index
        h.image_pub.publish(bad)
        time.sleep(0.03)
    h.image_pub.publish(make_image(random_rgb(), stamp=(5, 5)))
    h.wait_stamp("depth", (5, 5))
    errors.sync()  # every line logged for the bad frames has arrived
    assert h.node.stats.rejected >= 2
    assert len(errors.matching("step:")) == 1


def test_corrupt_compressed_bytes_are_rejected_then_good_ones_served(harness_factory):
    h = harness_factory({"image_transport": "compressed"}, compressed=True,
                        subscribe=("depth",))
    errors = RosoutErrors(h)
    bad = CompressedImage(format="jpeg", data=b"\xff\xd8\xff\xe0 garbage")
    bad.header.stamp.sec = 1
    h.image_pub.publish(bad)
    ok, png = cv2.imencode(".png", random_rgb())
    good = CompressedImage(format="png", data=png.tobytes())
    good.header.stamp.sec = 2
    errors.wait("could not be decoded")  # the bad frame was taken (not replaced by the good one)
    h.image_pub.publish(good)
    h.wait_stamp("depth", (2, 0))
    assert errors.matching("could not be decoded")
    assert all(m.header.stamp.sec == 2 for m in h.received["depth"])


@pytest.mark.parametrize("info, text", [
    (make_camera_info(32, 24, fx=0.0), "fx is 0.0"),
    (make_camera_info(32, 32), "another aspect ratio"),
])
def test_bad_camera_info_skips_points_keeps_depth_and_a_good_info_restores_them(
        harness_factory, info, text):
    h = harness_factory()
    errors = RosoutErrors(h)
    h.send_info(info)
    h.image_pub.publish(make_image(random_rgb(), stamp=(7, 0)))
    h.wait_stamp("depth", (7, 0))
    deadline = time.monotonic() + 3
    while not errors.matching(text) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert errors.matching(text) and errors.matching("camera_info")
    assert not h.received["points"]
    h.send_info(make_camera_info(32, 24))
    h.image_pub.publish(make_image(random_rgb(), stamp=(7, 1)))
    h.wait_stamp("points", (7, 1))


def test_nan_parameter_values_are_refused_and_the_node_keeps_serving(harness_factory):
    h = harness_factory()
    for name in ("min_range", "max_range", "colored_max"):
        result = h.node.set_parameters([Parameter(name, value=math.nan)])[0]
        assert not result.successful and name in result.reason
        assert h.node.get_parameter(name).value == 0.0
    h.send_info(make_camera_info(32, 24))
    h.image_pub.publish(make_image(random_rgb(), stamp=(9, 0)))
    h.wait_stamp("points", (9, 0))


def test_a_negative_stamp_gets_depth_and_the_node_keeps_serving(harness_factory):
    # Time's sec is a signed int32, so any publisher may send -1; rclpy's Time refuses it, and
    # computing the latency with it used to end the publisher thread: no depth ever after.
    h = harness_factory()
    h.send_info(make_camera_info(32, 24))
    h.image_pub.publish(make_image(random_rgb(), stamp=(-1, 0)))
    h.wait_stamp("depth", (-1, 0))
    for second in (201, 202):
        h.image_pub.publish(make_image(random_rgb(), stamp=(second, 0)))
        h.wait_stamp("depth", (second, 0))
    assert h.node.worker_alive
    deadline = time.monotonic() + 5  # the count follows the publish
    while h.node.stats.summary()["frames_published"] < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert h.node.stats.summary()["frames_published"] == 3
