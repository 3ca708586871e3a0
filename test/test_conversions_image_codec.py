"""Raw and compressed camera images decode to the RGB the camera saw (conversions/image_codec)."""
import cv2
import numpy as np
import pytest

from depth_anything_ros.conversions import (
    ImageDecodeError, decode_compressed, decode_image, decode_depth, encode_depth, encode_image)

RNG = np.random.default_rng(3)
RGB = RNG.integers(0, 256, (7, 9, 3), dtype=np.uint8)
GREY = cv2.cvtColor(RGB, cv2.COLOR_RGB2GRAY)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16",
                                      "rgb16", "bgr16", "rgba16", "bgra16"])
@pytest.mark.parametrize("padding", [0, 3])
@pytest.mark.parametrize("bigendian", [False, True])
def test_raw_encodings_round_trip_with_row_padding_and_endianness(encoding, padding, bigendian):
    step, data = encode_image(RGB, encoding, row_padding=padding, is_bigendian=bigendian)
    decoded = decode_image(encoding, 7, 9, step, bigendian, data)
    expected = RGB if not encoding.startswith("mono") else np.repeat(GREY[:, :, None], 3, axis=2)
    assert decoded.shape == (7, 9, 3) and decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, expected)


def test_rgb8_is_a_zero_copy_view_of_the_message_buffer():
    step, data = encode_image(RGB, "rgb8", row_padding=5)
    buffer = bytearray(data)
    decoded = decode_image("rgb8", 7, 9, step, False, buffer)
    assert np.shares_memory(decoded, np.frombuffer(buffer, np.uint8))
    assert not decoded.flags.writeable


def test_mono16_uses_the_full_16_bit_range():
    values = np.array([[0, 257, 65535, 1000]], dtype="<u2")
    decoded = decode_image("mono16", 1, 4, 8, False, values.tobytes())
    assert decoded[0, :, 0].tolist() == [0, 1, 255, 4]


def test_mono16_with_odd_step_is_read_correctly():
    values = np.array([[1, 2], [3, 4]], dtype="<u2") * 257
    rows = np.zeros((2, 5), np.uint8)
    rows[:, :4] = values.view(np.uint8).reshape(2, 4)
    decoded = decode_image("mono16", 2, 2, 5, False, rows.tobytes())
    assert decoded[:, :, 0].tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize("fields, field_named", [
    (dict(encoding="32FC1"), r"encoding '32FC1' is not supported \(supported: rgb8, "),
    (dict(width=0), "width/height"),
    (dict(height=0), "width/height"),
    (dict(step=26), "step: 26"),
    (dict(data=b"\0" * 100), "data: 100 bytes"),
])
def test_bad_raw_images_raise_an_error_naming_the_field(fields, field_named):
    step, data = encode_image(RGB, "rgb8")
    args = dict(encoding="rgb8", height=7, width=9, step=step, is_bigendian=False, data=data)
    args.update(fields)
    with pytest.raises(ImageDecodeError, match=field_named):
        decode_image(**args)


def test_jpeg_and_png_decode_to_rgb():
    ok, png = cv2.imencode(".png", cv2.cvtColor(RGB, cv2.COLOR_RGB2BGR))
    decoded = decode_compressed("rgb8; png compressed bgr8", png.tobytes())
    np.testing.assert_array_equal(decoded, RGB)
    flat = np.full((16, 16, 3), (200, 30, 90), np.uint8)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(flat, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert np.abs(decode_compressed("jpeg", jpeg.tobytes()).astype(int) - flat).max() <= 3
    ok, grey16 = cv2.imencode(".png", (GREY.astype(np.uint16) * 257))
    np.testing.assert_array_equal(decode_compressed("png", grey16.tobytes())[:, :, 1], GREY)


@pytest.mark.parametrize("fmt, data", [("jpeg", b"\xff\xd8 not really a jpeg"), ("png", b""),
                                       ("16UC1; compressedDepth png", b"\x00" * 20)])
def test_corrupt_or_depth_compressed_payloads_are_rejected(fmt, data):
    with pytest.raises(ImageDecodeError):
        decode_compressed(fmt, data)


def test_depth_32fc1_keeps_metres_and_writes_nan_for_invalid():
    depth = np.array([[1.5, 0.0, np.nan, np.inf]], np.float32)
    encoding, step, data = encode_depth(depth, "32FC1")
    assert (encoding, step) == ("32FC1", 16)
    back = np.frombuffer(data, "<f4")
    assert back[0] == 1.5 and np.isnan(back[1:]).all()
    np.testing.assert_array_equal(decode_depth(encoding, 1, 4, step, False, data), back[None])


def test_depth_16uc1_is_millimetres_with_zero_invalid():
    depth = np.array([[1.2344, 0.0, np.nan, 70.0, 65.5]], np.float32)
    encoding, step, data = encode_depth(depth, "16UC1")
    assert step == 10
    assert np.frombuffer(data, "<u2").tolist() == [1234, 0, 0, 0, 65500]


def test_depth_16uc1_rounds_to_the_nearest_millimetre():
    depth = np.array([[1.2346, 2.0004, 0.9996]], np.float32)
    _, _, data = encode_depth(depth, "16UC1")
    assert np.frombuffer(data, "<u2").tolist() == [1235, 2000, 1000]


@pytest.mark.parametrize("encoding, dtype, values, metres", [
    ("16UC1", ">u2", [1000, 0, 65535], [1.0, np.nan, 65.535]),
    ("32FC1", ">f4", [1.25, np.nan, 7.5], [1.25, np.nan, 7.5]),
])
def test_big_endian_depth_payloads_are_read_in_their_byte_order(encoding, dtype, values,
                                                                 metres):
    """A lidar bridge on a big-endian host (or one that says is_bigendian) must not become
    garbage anchors: the bytes are swapped, the values not."""
    data = np.array([values], dtype).tobytes()
    decoded = decode_depth(encoding, 1, 3, len(data), True, data)
    np.testing.assert_array_equal(decoded, np.array([metres], np.float32))


def test_16uc1_keeps_exactly_65_535_m_and_drops_what_rounds_beyond():
    _, _, data = encode_depth(np.array([[65.535, 65.5355, 65.536]], np.float32), "16UC1")
    assert np.frombuffer(data, "<u2").tolist() == [65535, 0, 0]


def test_a_png_with_alpha_on_image_compressed_keeps_red_and_blue():
    rgba = np.dstack([RGB, np.full(RGB.shape[:2], 200, np.uint8)])
    ok, png = cv2.imencode(".png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    np.testing.assert_array_equal(decode_compressed("png", png.tobytes()), RGB)
