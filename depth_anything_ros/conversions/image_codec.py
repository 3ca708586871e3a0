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

log = logging.getLogger(__name__)

# encoding -> (channels, bytes per channel)
RAW_ENCODINGS: dict[str, tuple[int, int]] = {
    "rgb8": (3, 1),
    "bgr8": (3, 1),
    "rgba8": (4, 1),
    "bgra8": (4, 1),
    "mono8": (1, 1),
    "mono16": (1, 2),
}


class ImageDecodeError(ValueError):
    """An image message cannot be turned into RGB; the message names the field and the reason."""


def bytes_per_pixel(encoding: str) -> int:
    """Bytes one pixel takes in a supported raw encoding (raises ImageDecodeError otherwise)."""
    if encoding not in RAW_ENCODINGS:
        raise ImageDecodeError(
            f"encoding '{encoding}' is not supported (supported: {', '.join(RAW_ENCODINGS)})")
    channels, depth = RAW_ENCODINGS[encoding]
    return channels * depth


def raw_view(encoding: str, height: int, width: int, step: int, is_bigendian: bool,
             data) -> np.ndarray:
    """A read-only H×W×C numpy view of a raw image buffer, honouring `step` and endianness.

    Raises ImageDecodeError naming the field (encoding, width/height, step, data) that is wrong.
    """
    bpp = bytes_per_pixel(encoding)
    channels, channel_bytes = RAW_ENCODINGS[encoding]
    if height <= 0 or width <= 0:
        raise ImageDecodeError(f"width/height: image is {width}x{height}, both must be > 0")
    if step < width * bpp:
        raise ImageDecodeError(
            f"step: {step} bytes is less than width × bytes per pixel = {width} × {bpp}")
    buffer = np.frombuffer(data, dtype=np.uint8)
    if buffer.size < step * height:
        raise ImageDecodeError(
            f"data: {buffer.size} bytes is shorter than step × height = {step} × {height}")
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


def mono16_to_mono8(values: np.ndarray) -> np.ndarray:
    """Full-range 16-bit to 8-bit (65535 → 255, v·257 → v exactly), rounding to nearest."""
    return ((values.astype(np.uint32) + 128) // 257).astype(np.uint8)


def decode_image(encoding: str, height: int, width: int, step: int, is_bigendian: bool,
                 data) -> np.ndarray:
    """Decode a raw ROS image to RGB uint8 H×W×3.

    `rgb8` comes back as a zero-copy read-only view of `data` (rows may be padded: positive
    strides, possibly not C-contiguous); other encodings are converted into a new array.
    mono16 is scaled to 8 bits over its full range (see `mono16_to_mono8`).
    """
    view = raw_view(encoding, height, width, step, is_bigendian, data)
    if encoding == "rgb8":
        return view
    if encoding == "bgr8":
        return cv2.cvtColor(np.ascontiguousarray(view), cv2.COLOR_BGR2RGB)
    if encoding == "rgba8":
        return np.ascontiguousarray(view[:, :, :3])
    if encoding == "bgra8":
        return cv2.cvtColor(np.ascontiguousarray(view), cv2.COLOR_BGRA2RGB)
    mono = view[:, :, 0]
    if encoding == "mono16":
        mono = mono16_to_mono8(mono)
    return cv2.cvtColor(np.ascontiguousarray(mono), cv2.COLOR_GRAY2RGB)


def decode_compressed(format: str, data) -> np.ndarray:  # noqa: A002 (ROS field name)
    """Decode a sensor_msgs/CompressedImage (JPEG or PNG, as image_transport writes it) to RGB.

    `format` is e.g. "jpeg", "png" or "rgb8; jpeg compressed bgr8"; colour images are stored
    as BGR by compressed_image_transport, grey ones as one channel, 16-bit PNGs are scaled to
    8 bits. `compressedDepth` payloads are rejected (they are depth, not camera images).
    """
    fmt = (format or "").lower()
    if "compresseddepth" in fmt:
        raise ImageDecodeError(f"format: '{format}' is a compressedDepth image, not a camera image")
    buffer = np.frombuffer(data, dtype=np.uint8)
    if buffer.size == 0:
        raise ImageDecodeError("data: compressed image is empty")
    image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ImageDecodeError(
            f"data: {buffer.size} bytes of format '{format}' could not be decoded (corrupt or "
            "not JPEG/PNG)")
    if image.dtype == np.uint16:
        image = mono16_to_mono8(image)
    elif image.dtype != np.uint8:
        raise ImageDecodeError(f"data: decoded pixel type {image.dtype} is not supported")
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image.reshape(image.shape[0], image.shape[1]), cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def encode_image(rgb: np.ndarray, encoding: str, *, row_padding: int = 0,
                 is_bigendian: bool = False) -> tuple[int, bytes]:
    """RGB uint8 H×W×3 → (step, data) in a raw encoding, the inverse of `decode_image`.

    Used to write camera images (bags, tests, demos). mono encodings take the luma
    (cv2 RGB2GRAY); mono16 stores v·257. `row_padding` appends that many zero bytes per row.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb: expected uint8 H×W×3, got {rgb.dtype} {rgb.shape}")
    bytes_per_pixel(encoding)
    if encoding == "rgb8":
        pixels = rgb
    elif encoding == "bgr8":
        pixels = rgb[:, :, ::-1]
    elif encoding in ("rgba8", "bgra8"):
        colour = rgb if encoding == "rgba8" else rgb[:, :, ::-1]
        alpha = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
        pixels = np.concatenate([colour, alpha], axis=2)
    else:
        grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
        if encoding == "mono16":
            grey = (grey.astype(np.uint16) * 257).astype(">u2" if is_bigendian else "<u2")
        pixels = grey
    height, width = rgb.shape[:2]
    rows = np.ascontiguousarray(pixels).view(np.uint8).reshape(height, -1)
    if row_padding:
        rows = np.concatenate([rows, np.zeros((height, row_padding), np.uint8)], axis=1)
    return rows.shape[1], rows.tobytes()
