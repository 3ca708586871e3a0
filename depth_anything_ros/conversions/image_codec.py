"""Camera images (raw ROS encodings and compressed bytes) to RGB numpy arrays, without ROS.

The functions take plain message fields, so rclpy messages (`ros/messages.py`) and rosbags
messages (`bag/`) share one implementation. Raw images are read through numpy views of the
message buffer (`np.frombuffer` + strides by `step`), so row padding costs nothing and an
`rgb8` image is never copied.
"""
from __future__ import annotations

import logging

import cv2
import numpy as np

from depth_anything_ros.conversions.camera_formats import (
    BAYER_CODES,
    demosaic,
    mosaic,
    rgb_to_semi_planar,
    rgb_to_yuv422,
    scale_8_to_16,
    scale_16_to_8,
    semi_planar_to_rgb,
    yuv422_to_rgb,
)
from depth_anything_ros.conversions.compressed_header import PNG_SIGNATURE, compressed_image_size

log = logging.getLogger(__name__)

# encoding -> (channels, bytes per channel) of the packed encodings (one numpy view each)
RAW_ENCODINGS: dict[str, tuple[int, int]] = {
    "rgb8": (3, 1),
    "bgr8": (3, 1),
    "rgba8": (4, 1),
    "bgra8": (4, 1),
    "mono8": (1, 1),
    "mono16": (1, 2),
    "rgb16": (3, 2),
    "bgr16": (3, 2),
    "rgba16": (4, 2),
    "bgra16": (4, 2),
    **{f"bayer_{pattern}8": (1, 1) for pattern in BAYER_CODES},
    **{f"bayer_{pattern}16": (1, 2) for pattern in BAYER_CODES},
    "yuv422": (2, 1),       # UYVY (usb_cam "uyvy", many industrial cameras)
    "yuv422_yuy2": (2, 1),  # YUYV (usb_cam "yuyv", most webcams)
    "uyvy": (2, 1),
    "yuyv": (2, 1),
}
# Semi-planar YUV: a Y plane of `height` rows of `step` bytes, then the chroma plane:
# encoding -> (chroma rows per Y row, chroma row length in units of step)
SEMI_PLANAR_ENCODINGS: dict[str, tuple[float, int]] = {"nv21": (0.5, 1), "nv24": (1.0, 2)}
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(RAW_ENCODINGS) + tuple(SEMI_PLANAR_ENCODINGS)
_YUV422_ORDER = {"yuv422": "uyvy", "uyvy": "uyvy", "yuv422_yuy2": "yuyv", "yuyv": "yuyv"}
# chroma shared by two columns (4:2:2) or by 2×2 pixels (NV21); NV24 is 4:4:4, any size
_EVEN_WIDTH = {*_YUV422_ORDER, "nv21"}


class ImageDecodeError(ValueError):
    """An image message cannot be turned into RGB; the message names the field and the reason."""


class ImageTooLargeError(ImageDecodeError):
    """A compressed image's header announces more pixels than allowed (nothing was decoded)."""


def bytes_per_pixel(encoding: str) -> int:
    """Bytes one pixel takes in a row of a supported raw encoding (the Y plane's for nv21/nv24);
    raises ImageDecodeError naming the encoding and listing the supported ones otherwise."""
    if encoding in SEMI_PLANAR_ENCODINGS:
        return 1
    if encoding not in RAW_ENCODINGS:
        raise ImageDecodeError(
            f"encoding '{encoding}' is not supported (supported: "
            f"{', '.join(SUPPORTED_ENCODINGS)})")
    channels, depth = RAW_ENCODINGS[encoding]
    return channels * depth


def _check_size(encoding: str, height: int, width: int, step: int, data_size: int,
                rows: float = 1.0) -> None:
    bpp = bytes_per_pixel(encoding)
    if height <= 0 or width <= 0:
        raise ImageDecodeError(f"width/height: image is {width}x{height}, both must be > 0")
    if encoding in _EVEN_WIDTH and (width % 2 or (encoding == "nv21" and height % 2)):
        both = " and height" if encoding == "nv21" else ""
        raise ImageDecodeError(
            f"width/height: {encoding} needs an even width{both}, got {width}x{height}")
    if step < width * bpp:
        raise ImageDecodeError(
            f"step: {step} bytes is less than width × bytes per pixel = {width} × {bpp}")
    needed = int(step * height * rows)
    if data_size < needed:
        raise ImageDecodeError(
            f"data: {data_size} bytes is shorter than the {needed} bytes a {width}x{height} "
            f"{encoding} image with step {step} needs")


def raw_view(encoding: str, height: int, width: int, step: int, is_bigendian: bool,
             data) -> np.ndarray:
    """A read-only H×W×C numpy view of a raw image buffer, honouring `step` and endianness.

    Raises ImageDecodeError naming the field (encoding, width/height, step, data) that is wrong.
    """
    bpp = bytes_per_pixel(encoding)
    if encoding in SEMI_PLANAR_ENCODINGS:
        raise ImageDecodeError(f"encoding '{encoding}' is planar: use decode_image")
    channels, channel_bytes = RAW_ENCODINGS[encoding]
    buffer = np.frombuffer(data, dtype=np.uint8)
    _check_size(encoding, height, width, step, buffer.size)
    if channel_bytes == 1:
        return np.lib.stride_tricks.as_strided(
            buffer, shape=(height, width, channels), strides=(step, bpp, 1), writeable=False)
    dtype = np.dtype(">u2" if is_bigendian else "<u2")
    if step % channel_bytes:
        # Rows start at odd byte offsets: a strided uint16 view would be misaligned; copy rows.
        rows = buffer[: step * height].reshape(height, step)[:, : width * bpp]
        return np.ascontiguousarray(rows).view(dtype).reshape(height, width, channels)
    words = buffer[: step * height].view(dtype)
    return np.lib.stride_tricks.as_strided(
        words, shape=(height, width, channels), strides=(step, bpp, channel_bytes),
        writeable=False)


def _semi_planar_planes(encoding: str, height: int, width: int, step: int,
                        data) -> tuple[np.ndarray, np.ndarray]:
    rows, row_steps = SEMI_PLANAR_ENCODINGS[encoding]
    buffer = np.frombuffer(data, dtype=np.uint8)
    _check_size(encoding, height, width, step, buffer.size, 1.0 + rows * row_steps)
    luma = buffer[: step * height].reshape(height, step)[:, :width]
    chroma_rows, chroma_step = int(height * rows), step * row_steps
    chroma = buffer[step * height: step * height + chroma_rows * chroma_step]
    chroma = chroma.reshape(chroma_rows, chroma_step)[:, : width * row_steps]
    return np.ascontiguousarray(luma), np.ascontiguousarray(chroma)


def decode_image(encoding: str, height: int, width: int, step: int, is_bigendian: bool,
                 data, *, mono16_bits: int = 16) -> np.ndarray:
    """Decode a raw ROS image to RGB uint8 H×W×3.

    `rgb8` comes back as a zero-copy read-only view of `data` (rows may be padded: positive
    strides, possibly not C-contiguous); other encodings are converted into a new array.
    16-bit encodings (mono16, bayer_*16) hold `mono16_bits` significant bits (12 for a 12-bit
    sensor) and are scaled to 8 bits over that range. Bayer mosaics are demosaiced and YUV is
    converted as cv_bridge does (`conversions.camera_formats`).
    """
    if encoding in SEMI_PLANAR_ENCODINGS:
        return semi_planar_to_rgb(*_semi_planar_planes(encoding, height, width, step, data),
                                  encoding)
    view = raw_view(encoding, height, width, step, is_bigendian, data)
    if RAW_ENCODINGS[encoding][1] == 2:  # rgb16 → rgb8, bayer_rggb16 → bayer_rggb8, ...
        view = scale_16_to_8(view, mono16_bits)
        encoding = encoding[:-2] + "8"
    if encoding == "rgb8":
        return view
    if encoding == "bgr8":
        return cv2.cvtColor(np.ascontiguousarray(view), cv2.COLOR_BGR2RGB)
    if encoding == "rgba8":
        return np.ascontiguousarray(view[:, :, :3])
    if encoding == "bgra8":
        return cv2.cvtColor(np.ascontiguousarray(view), cv2.COLOR_BGRA2RGB)
    if encoding in _YUV422_ORDER:
        return yuv422_to_rgb(view, _YUV422_ORDER[encoding])
    if encoding.startswith("bayer_"):
        return demosaic(view[:, :, 0], encoding[6:10])
    return cv2.cvtColor(np.ascontiguousarray(view[:, :, 0]), cv2.COLOR_GRAY2RGB)


def decode_compressed(format: str, data, *, max_pixels: int | None = None,  # noqa: A002
                      mono16_bits: int = 16) -> np.ndarray:
    """Decode a sensor_msgs/CompressedImage (JPEG or PNG, as image_transport writes it) to RGB.

    `format` is e.g. "jpeg", "png" or "rgb8; jpeg compressed bgr8"; colour images are stored
    as BGR by compressed_image_transport, grey ones as one channel, 16-bit PNGs are scaled to
    8 bits over `mono16_bits`. `compressedDepth` payloads are rejected (they are depth, not
    camera images). With `max_pixels`, a header announcing more pixels raises
    ImageTooLargeError before anything is decoded.
    """
    fmt = (format or "").lower()
    if "compresseddepth" in fmt:
        raise ImageDecodeError(f"format: '{format}' is a compressedDepth image, not a camera image")
    buffer = np.frombuffer(data, dtype=np.uint8)
    if buffer.size == 0:
        raise ImageDecodeError("data: compressed image is empty")
    size = compressed_image_size(buffer) if max_pixels is not None else None
    if max_pixels is not None and size is None:  # WebP, TIFF, BMP ... or a broken header
        if bytes(buffer[:2]) == b"\xff\xd8" or bytes(buffer[:8]) == PNG_SIGNATURE:
            raise ImageDecodeError(
                f"data: {buffer.size} bytes of format '{format}' could not be decoded (corrupt: "
                "its JPEG/PNG header gives no size)")
        raise ImageDecodeError(
            f"data: format '{format}' is not a JPEG or PNG whose header gives its size, so "
            f"max_image_pixels ({max_pixels}) cannot be checked before decoding; not decoded")
    if size is not None and size[0] * size[1] > max_pixels:
        raise ImageTooLargeError(
            f"data: its header says {size[0]}×{size[1]} = {size[0] * size[1]} pixels, more than "
            f"the limit of {max_pixels}; not decoded")
    image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ImageDecodeError(
            f"data: {buffer.size} bytes of format '{format}' could not be decoded (corrupt or "
            "not JPEG/PNG)")
    if image.dtype == np.uint16:
        image = scale_16_to_8(image, mono16_bits)
    elif image.dtype != np.uint8:
        raise ImageDecodeError(f"data: decoded pixel type {image.dtype} is not supported")
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image.reshape(image.shape[0], image.shape[1]), cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def encode_image(rgb: np.ndarray, encoding: str, *, row_padding: int = 0,
                 is_bigendian: bool = False, mono16_bits: int = 16) -> tuple[int, bytes]:
    """RGB uint8 H×W×3 → (step, data) in a raw encoding, the inverse of `decode_image`.

    Used to write camera images (bags, tests, demos). mono encodings take the luma
    (cv2 RGB2GRAY); 16-bit ones store it over `mono16_bits` bits (v·257 for 16); bayer_* keep
    each pixel's filter colour; YUV uses BT.601 limited range. `row_padding` appends that many
    zero bytes per row (of each plane).
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb: expected uint8 H×W×3, got {rgb.dtype} {rgb.shape}")
    bytes_per_pixel(encoding)
    height, width = rgb.shape[:2]
    if encoding in _EVEN_WIDTH and (width % 2 or (encoding == "nv21" and height % 2)):
        both = " and height" if encoding == "nv21" else ""
        raise ValueError(f"rgb: {encoding} needs an even width{both}, got {width}x{height}")
    wide = ">u2" if is_bigendian else "<u2"
    if encoding in SEMI_PLANAR_ENCODINGS:
        pixels = rgb_to_semi_planar(rgb, encoding)
    elif encoding in _YUV422_ORDER:
        pixels = rgb_to_yuv422(rgb, _YUV422_ORDER[encoding])
    else:
        base = encoding[:-2] + "8" if RAW_ENCODINGS[encoding][1] == 2 else encoding
        if base in ("rgb8", "bgr8", "rgba8", "bgra8"):
            pixels = rgb if base.startswith("rgb") else rgb[:, :, ::-1]
            if base.endswith("a8"):
                pixels = np.concatenate([pixels, np.full((height, width, 1), 255, np.uint8)], 2)
        elif base.startswith("bayer_"):
            pixels = mosaic(rgb, base[6:10])
        else:
            pixels = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
        if base != encoding:
            pixels = scale_8_to_16(pixels, mono16_bits).astype(wide)
    if encoding in SEMI_PLANAR_ENCODINGS:
        chroma_rows, row_steps = SEMI_PLANAR_ENCODINGS[encoding]
        luma = _padded(pixels[:height], row_padding)
        chroma = pixels[height:].reshape(int(height * chroma_rows), width * row_steps)
        return luma.shape[1], luma.tobytes() + _padded(chroma, row_padding * row_steps).tobytes()
    rows = _padded(np.ascontiguousarray(pixels).view(np.uint8).reshape(height, -1), row_padding)
    return rows.shape[1], rows.tobytes()


def _padded(rows: np.ndarray, padding: int) -> np.ndarray:
    if not padding:
        return rows
    return np.concatenate([rows, np.zeros((rows.shape[0], padding), np.uint8)], axis=1)
