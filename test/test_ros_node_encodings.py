"""Every camera encoding the node takes gives the depth of the same picture in rgb8: exactly for
the lossless ones, correlation ≥ 0.9 for the lossy driver formats (Bayer, YUV, 12-bit grey).
Run with the shipped model on a real TUM frame, so depth has structure to compare."""
import cv2
import numpy as np
import pytest
from rclpy.parameter import Parameter

from depth_anything_ros.conversions import decode_depth
from depth_anything_ros.geometry.pointcloud import unpack_rgb
from depth_anything_ros.model.checkpoints import default_weights_path
from depth_anything_ros.ros.messages import cloud_from_msg
from ros_helpers import (  # noqa: F401 — fixtures
    harness_factory, make_camera_info, make_image, ros_context, tiny_weights)
from tum_data import tum_frames

LOSSLESS = ["bgr8", "rgba8", "bgra8", "rgb16", "bgr16", "rgba16", "bgra16"]
LOSSLESS_GREY = ["mono8", "mono16"]
DRIVER_FORMATS = ([f"bayer_{p}{bits}" for p in ("rggb", "bggr", "gbrg", "grbg")
                   for bits in (8, 16)] + ["yuv422", "yuv422_yuy2", "nv21", "nv24"])


@pytest.fixture(scope="module")
def picture():
    _, rgb, _ = tum_frames([120])[0]
    return cv2.resize(rgb, (320, 240), interpolation=cv2.INTER_AREA)


@pytest.fixture
def node(harness_factory):
    return harness_factory(weights=default_weights_path(), subscribe=("depth",))


class Sender:
    def __init__(self, h):
        self.h, self.count = h, 0

    def depth(self, rgb, encoding="rgb8", **kw):
        self.count += 1
        stamp = (20, self.count)
        self.h.image_pub.publish(make_image(rgb, encoding, stamp=stamp, **kw))
        msg = self.h.wait_stamp("depth", stamp, timeout=30.0)
        self.stamp = stamp
        return decode_depth(msg.encoding, msg.height, msg.width, msg.step, False, msg.data)

    def colours(self):
        """The colours of the last frame's cloud: what the node decoded."""
        return unpack_rgb(cloud_from_msg(self.h.wait_stamp("points", self.stamp))["rgb"])


def grey_rgb(rgb):
    return np.repeat(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)


def correlation(a, b):
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def test_lossless_encodings_give_exactly_the_depth_of_the_rgb8_frame(node, picture):
    send = Sender(node)
    reference = send.depth(picture)
    assert np.isfinite(reference).all() and reference.std() > 0.05  # depth with structure
    for encoding in LOSSLESS:
        np.testing.assert_array_equal(send.depth(picture, encoding, row_padding=3), reference,
                                      err_msg=encoding)
    np.testing.assert_array_equal(send.depth(picture, "mono16", is_bigendian=True),
                                  send.depth(grey_rgb(picture)))
    grey_reference = send.depth(grey_rgb(picture))
    for encoding in LOSSLESS_GREY:
        np.testing.assert_array_equal(send.depth(picture, encoding), grey_reference,
                                      err_msg=encoding)


def test_driver_formats_give_the_depth_of_the_same_picture(harness_factory, picture, capsys):
    node = harness_factory(weights=default_weights_path(), subscribe=("depth", "points"))
    node.info_pub.publish(make_camera_info(320, 240, fx=260.0, fy=260.0))
    send = Sender(node)
    reference = send.depth(picture)
    scores = {}
    for encoding in DRIVER_FORMATS:
        scores[encoding] = correlation(send.depth(picture, encoding), reference)
        # the colours the node decoded are the picture's (a swapped Bayer pattern: 17 levels off)
        error = np.abs(send.colours().astype(int) - picture).mean()
        assert error < 5, f"{encoding}: colours off by {error:.1f} levels on average"
    # a 12-bit sensor in mono16 (values 0..4095): right only with mono16_bits = 12
    grey_reference = send.depth(grey_rgb(picture))
    assert node.node.set_parameters([Parameter("mono16_bits", value=12)])[0].successful
    scores["mono16 (12-bit, mono16_bits 12)"] = correlation(
        send.depth(picture, "mono16", mono16_bits=12), grey_reference)
    assert node.node.set_parameters([Parameter("mono16_bits", value=16)])[0].successful
    dark = send.depth(picture, "mono16", mono16_bits=12)
    with capsys.disabled():
        print("\ndepth correlation with the rgb8 frame: " + ", ".join(
            f"{k} {v:.3f}" for k, v in scores.items())
            + f"; 12-bit mono16 read as 16-bit: {correlation(dark, grey_reference):.3f}")
    assert min(scores.values()) >= 0.9, scores
