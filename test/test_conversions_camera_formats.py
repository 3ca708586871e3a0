"""Driver pixel formats (Bayer, YUV, 12-bit grey) decode to the colours the camera saw, and a
compressed image's size is read from its header before anything is decoded."""
import cv2
import numpy as np
import pytest

from depth_anything_ros.conversions import (
    SUPPORTED_ENCODINGS,
    ImageDecodeError,
    ImageTooLargeError,
    decode_compressed,
    decode_image,
    encode_image,
)
from depth_anything_ros.conversions.compressed_header import compressed_image_size


def smooth_rgb(height=48, width=64):
    """A picture without sharp edges: demosaicing and 4:2:x chroma lose almost nothing."""
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    rgb = np.stack([40 + 2.5 * u, 30 + 3.0 * v, 220 - 1.5 * u - 1.0 * v], -1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def decode(encoding, rgb, **kw):
    bits = kw.pop("mono16_bits", 16)
    step, data = encode_image(rgb, encoding, mono16_bits=bits, **kw)
    return decode_image(encoding, rgb.shape[0], rgb.shape[1], step,
                        kw.get("is_bigendian", False), data, mono16_bits=bits)


def interior_error(a, b, margin=2):
    return np.abs(a.astype(int) - b.astype(int))[margin:-margin, margin:-margin].max()


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
@pytest.mark.parametrize("depth", ["8", "16"])
def test_bayer_mosaics_demosaic_to_the_colours_of_their_own_pattern(pattern, depth):
    rgb = smooth_rgb()
    decoded = decode(f"bayer_{pattern}{depth}", rgb)
    assert decoded.shape == rgb.shape and interior_error(decoded, rgb) <= 2
    # read with any other pattern, the same bytes give wrong colours
    step, data = encode_image(rgb, f"bayer_{pattern}{depth}")
    for other in {"rggb", "bggr", "gbrg", "grbg"} - {pattern}:
        wrong = decode_image(f"bayer_{other}{depth}", 48, 64, step, False, data)
        assert interior_error(wrong, rgb) > 40, other


@pytest.mark.parametrize("encoding, twin", [("yuv422", "uyvy"), ("yuv422_yuy2", "yuyv")])
def test_packed_yuv422_decodes_as_cv_bridge_does(encoding, twin):
    rgb = smooth_rgb()
    step, data = encode_image(rgb, encoding, row_padding=6)
    assert step == 64 * 2 + 6
    decoded = decode_image(encoding, 48, 64, step, False, data)
    assert interior_error(decoded, rgb, margin=1) <= 3
    np.testing.assert_array_equal(decode_image(twin, 48, 64, step, False, data), decoded)
    # the byte order matters: UYVY read as YUYV is another picture
    other = "yuv422_yuy2" if encoding == "yuv422" else "yuv422"
    assert interior_error(decode_image(other, 48, 64, step, False, data), rgb) > 40
    # OpenCV's own decoder of the same bytes (what cv_bridge calls) gives the same result
    packed = np.frombuffer(data, np.uint8).reshape(48, step)[:, :128].reshape(48, 64, 2)
    code = cv2.COLOR_YUV2RGB_UYVY if twin == "uyvy" else cv2.COLOR_YUV2RGB_YUYV
    np.testing.assert_array_equal(cv2.cvtColor(np.ascontiguousarray(packed), code), decoded)


@pytest.mark.parametrize("encoding", ["nv21", "nv24"])
@pytest.mark.parametrize("padding", [0, 4])
def test_semi_planar_yuv_decodes_with_its_chroma_plane(encoding, padding):
    rgb = smooth_rgb()
    step, data = encode_image(rgb, encoding, row_padding=padding)
    rows = 1.5 if encoding == "nv21" else 3
    assert step == 64 + padding and len(data) == step * 48 * rows
    decoded = decode_image(encoding, 48, 64, step, False, data)
    # 4:2:0 chroma (one sample per 2×2 block) costs a little more than 4:4:4
    assert interior_error(decoded, rgb) <= (5 if encoding == "nv21" else 3)
    with pytest.raises(ImageDecodeError, match="data:"):
        decode_image(encoding, 48, 64, step, False, data[: step * 48])


def test_nv24_of_any_size_decodes_and_nv21_and_packed_yuv_need_even_sizes():
    # NV24 is 4:4:4 (one chroma pair per pixel): an odd-sized frame is a valid image
    rgb = np.random.default_rng(3).integers(0, 256, (3, 5, 3), dtype=np.uint8)
    step, data = encode_image(rgb, "nv24")
    decoded = decode_image("nv24", 3, 5, step, False, data)
    assert np.abs(decoded.astype(int) - rgb).max() <= 3
    # chroma shared by two columns (4:2:2) or a 2×2 block (NV21) cannot cover an odd size
    with pytest.raises(ImageDecodeError, match="yuv422 needs an even width, got 5x4"):
        decode_image("yuv422", 4, 5, 10, False, bytes(40))
    with pytest.raises(ImageDecodeError, match="nv21 needs an even width and height, got 4x3"):
        decode_image("nv21", 3, 4, 4, False, bytes(18))


def test_a_12_bit_sensor_in_mono16_is_scaled_by_mono16_bits():
    values = np.array([[0, 1024, 2048, 4095]], "<u2")
    full = decode_image("mono16", 1, 4, 8, False, values.tobytes())
    twelve = decode_image("mono16", 1, 4, 8, False, values.tobytes(), mono16_bits=12)
    assert full[0, :, 0].tolist() == [0, 4, 8, 16]  # full range: almost black
    assert twelve[0, :, 0].tolist() == [0, 64, 128, 255]
    rgb = smooth_rgb()
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    for bits in (10, 12, 16):
        np.testing.assert_array_equal(decode("mono16", rgb, mono16_bits=bits)[:, :, 0], grey)
    # the same rule for 16-bit Bayer
    assert interior_error(decode("bayer_rggb16", rgb, mono16_bits=12), rgb) <= 2


def test_unsupported_encodings_are_named_with_the_supported_list():
    with pytest.raises(ImageDecodeError) as error:
        decode_image("32FC1", 2, 2, 8, False, bytes(16))
    text = str(error.value)
    assert text.startswith("encoding '32FC1' is not supported (supported: ")
    assert all(name in text for name in SUPPORTED_ENCODINGS) and "\n" not in text


@pytest.mark.parametrize("ext, params", [(".png", []), (".jpg", []),
                                         (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])])
def test_compressed_size_comes_from_the_header(ext, params):
    ok, data = cv2.imencode(ext, np.zeros((37, 53, 3), np.uint8), params)
    assert compressed_image_size(data.tobytes()) == (53, 37)
    assert compressed_image_size(b"GIF89a....") is None


def test_a_compressed_image_over_the_pixel_limit_is_refused_before_decoding():
    ok, jpeg = cv2.imencode(".jpg", np.zeros((1200, 1600, 3), np.uint8))
    with pytest.raises(ImageTooLargeError, match=r"1600×1200 = 1920000 pixels.*not decoded"):
        decode_compressed("jpeg", jpeg.tobytes(), max_pixels=1_000_000)
    assert decode_compressed("jpeg", jpeg.tobytes(), max_pixels=2_000_000).shape == (1200, 1600, 3)


def test_a_truncated_nv24_image_is_a_decode_error_naming_data():
    # nv24's chroma rows are twice the step long: a payload of 2–3× step·height passed the size
    # check and then failed in numpy's reshape with an unrelated ValueError
    step, data = encode_image(smooth_rgb(), "nv24")
    with pytest.raises(ImageDecodeError, match="data: .* shorter than the 9216 bytes"):
        decode_image("nv24", 48, 64, step, False, data[: step * 48 * 5 // 2])


def test_with_a_pixel_limit_only_jpeg_and_png_are_decoded():
    # a WebP's size is not read before decoding: 1 kB could become gigabytes
    ok, webp = cv2.imencode(".webp", np.zeros((60, 80, 3), np.uint8))
    assert ok
    assert decode_compressed("webp", webp.tobytes()).shape == (60, 80, 3)  # no limit: decoded
    with pytest.raises(ImageDecodeError, match="format 'webp' is not a JPEG or PNG"):
        decode_compressed("webp", webp.tobytes(), max_pixels=10_000)


def test_mono16_values_above_the_declared_bits_saturate_to_white():
    """mono16_bits set below what the sensor sends (10 for a 12-bit camera, or stray high bits)
    must clip to 255, not wrap around to dark grey."""
    values = np.array([[1023, 1024, 4095, 65535]], "<u2")
    ten = decode_image("mono16", 1, 4, 8, False, values.tobytes(), mono16_bits=10)
    assert ten[0, :, 0].tolist() == [255, 255, 255, 255]


def _jpeg_segments(data: bytes) -> tuple[bytes, list[bytes], bytes]:
    """(SOI, the marker segments before the scan, the scan to the end) of a JPEG."""
    i, segments = 2, []
    while data[i + 1] != 0xDA:
        length = int.from_bytes(data[i + 2:i + 4], "big")
        segments.append(data[i:i + 2 + length])
        i += 2 + length
    return data[:2], segments, data[i:]


def test_a_jpeg_header_with_its_huffman_tables_before_the_frame_gives_the_frame_size():
    """Many camera encoders write DHT (0xFFC4) before the frame header; C4 sits among the SOF
    markers' numbers but carries Huffman tables, and read as a frame it gives a garbage size
    that refuses (or lets through) the image wrongly."""
    ok, data = cv2.imencode(".jpg", smooth_rgb(37, 53))
    soi, segments, scan = _jpeg_segments(data.tobytes())
    tables = [s for s in segments if s[1] == 0xC4]
    assert tables and any(s[1] == 0xC0 for s in segments)
    reordered = soi + b"".join(tables + [s for s in segments if s[1] != 0xC4]) + scan
    assert cv2.imdecode(np.frombuffer(reordered, np.uint8), cv2.IMREAD_COLOR).shape == (37, 53, 3)
    assert compressed_image_size(reordered) == (53, 37)
    assert decode_compressed("jpeg", reordered, max_pixels=53 * 37).shape == (37, 53, 3)


def test_a_jpeg_header_with_fill_bytes_before_a_marker_gives_the_frame_size():
    """Any marker may be preceded by 0xFF fill bytes (ITU T.81 B.1.1.2); they are skipped, not
    read as a marker with a length."""
    ok, data = cv2.imencode(".jpg", smooth_rgb(37, 53))
    soi, segments, scan = _jpeg_segments(data.tobytes())
    padded = soi + b"".join(b"\xff\xff" + s for s in segments) + scan
    assert cv2.imdecode(np.frombuffer(padded, np.uint8), cv2.IMREAD_COLOR).shape == (37, 53, 3)
    assert compressed_image_size(padded) == (53, 37)
