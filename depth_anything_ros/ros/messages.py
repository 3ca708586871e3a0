"""rclpy messages ↔ numpy, as thin wrappers around the ROS-free `conversions` and `geometry`.

Built by hand (no cv_bridge, no sensor_msgs_py) so the node runs unchanged on Humble and Jazzy
installs and under NumPy 2 (REFERENCE.md §10).
"""
from __future__ import annotations

import array

import numpy as np
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2, PointField
from std_msgs.msg import Header

from depth_anything_ros.conversions import decode_compressed, decode_image, encode_depth
from depth_anything_ros.geometry.camera_model import CameraInfoFields
from depth_anything_ros.geometry.pointcloud import (
    CLOUD_DTYPE, POINT_FIELDS, POINT_STEP, cloud_shape, organized_cloud)


def _payload(data: bytes | np.ndarray) -> array.array:
    """Message `data` in one copy, without per-element checks (array.array is taken as is)."""
    if isinstance(data, bytes):
        return array.array("B", data)
    payload = array.array("B")
    payload.frombytes(memoryview(np.ascontiguousarray(data)).cast("B"))
    return payload


def _set_data(msg, payload: array.array) -> None:
    """Give a message its payload without another copy. Jazzy's generated setter copies every
    array.array (`array.array('B', value)`) unless ROS_PYTHON_CHECK_FIELDS=1; with 5 MB clouds
    that copy (a fresh allocation, page faults and all) cost as much as building the cloud."""
    if "_data" in getattr(type(msg), "__slots__", ()):
        msg._data = payload
    else:
        msg.data = payload


def image_to_rgb(msg: Image, mono16_bits: int = 16) -> np.ndarray:
    """sensor_msgs/Image → RGB uint8 H×W×3 (zero-copy view for rgb8); ImageDecodeError if bad."""
    return decode_image(msg.encoding, msg.height, msg.width, msg.step, bool(msg.is_bigendian),
                        msg.data, mono16_bits=mono16_bits)


def compressed_to_rgb(msg: CompressedImage, max_pixels: int | None = None,
                      mono16_bits: int = 16) -> np.ndarray:
    """sensor_msgs/CompressedImage (JPEG/PNG) → RGB uint8 H×W×3; ImageDecodeError if bad,
    ImageTooLargeError (before decoding) if its header announces more than `max_pixels`."""
    return decode_compressed(msg.format, msg.data, max_pixels=max_pixels,
                             mono16_bits=mono16_bits)


def image_msg(header: Header, height: int, width: int, encoding: str, step: int,
              data: bytes | np.ndarray, is_bigendian: bool = False) -> Image:
    """An Image with the given header (kept unchanged) and payload."""
    msg = Image(header=header, height=height, width=width, encoding=encoding,
                is_bigendian=is_bigendian, step=step)
    _set_data(msg, _payload(data))
    return msg


def depth_to_msg(depth: np.ndarray, header: Header, encoding: str = "32FC1") -> Image:
    """Metric depth H×W → REP-118 Image (32FC1 m with NaN, or 16UC1 mm with 0) under `header`."""
    encoding, step, data = encode_depth(depth, encoding)
    return image_msg(header, depth.shape[0], depth.shape[1], encoding, step, data)


def bgr_to_msg(bgr: np.ndarray, header: Header) -> Image:
    """A bgr8 uint8 H×W×3 picture (e.g. colourised depth) → Image."""
    height, width = bgr.shape[:2]
    return image_msg(header, height, width, "bgr8", width * 3, np.ascontiguousarray(bgr, np.uint8))


def camera_info_msg(fields: CameraInfoFields, header: Header) -> CameraInfo:
    """The CameraInfo of a depth image (from `CameraModel.info_fields()`) under `header`:
    its own size, ROI and binning folded into K and P (binning 0, empty ROI), D and R kept."""
    return CameraInfo(header=header, height=fields.height, width=fields.width,
                      distortion_model=fields.distortion_model, d=list(fields.d),
                      k=list(fields.k), r=list(fields.r), p=list(fields.p))


def cloud_to_msg(cloud: np.ndarray, header: Header) -> PointCloud2:
    """A CLOUD_DTYPE (H', W') structured array → organized PointCloud2 (height H', width W').

    The data is written row-major from a flat view, never from a 2-D array that could be read
    transposed (sensor_msgs_py issue #236, REFERENCE.md §10).
    """
    if cloud.dtype != CLOUD_DTYPE or cloud.ndim != 2:
        raise ValueError(
            f"cloud: expected a 2-D array of CLOUD_DTYPE, got {cloud.dtype} {cloud.shape}")
    msg = _cloud_header(header, *cloud.shape)
    _set_data(msg, _payload(np.ascontiguousarray(cloud).reshape(-1).view(np.uint8)))
    return msg


def depth_to_cloud_msg(depth: np.ndarray, rgb: np.ndarray | None, camera,
                       header: Header, stride: int = 1, min_range: float = 0.0,
                       max_range: float = float("inf")) -> PointCloud2:
    """`organized_cloud` written straight into the message's payload (one pass over 5 MB for a
    640×480 frame, no intermediate array, no copies): what the node publishes."""
    rows, columns = cloud_shape(*depth.shape, stride)
    payload = array.array("B", bytes(POINT_STEP)) * (rows * columns)
    view = np.frombuffer(payload, dtype=CLOUD_DTYPE).reshape(rows, columns)
    organized_cloud(depth, rgb, camera, stride, min_range, max_range, out=view)
    msg = _cloud_header(header, rows, columns)
    _set_data(msg, payload)
    return msg


def _cloud_header(header: Header, height: int, width: int) -> PointCloud2:
    msg = PointCloud2(header=header, height=height, width=width, is_bigendian=False,
                      point_step=POINT_STEP, row_step=POINT_STEP * width, is_dense=False)
    msg.fields = [PointField(name=name, offset=offset, datatype=datatype, count=count)
                  for name, offset, datatype, count in POINT_FIELDS]
    return msg


def cloud_from_msg(msg: PointCloud2) -> np.ndarray:
    """PointCloud2 in our layout → CLOUD_DTYPE (height, width) view (for tests and tools)."""
    fields = [(f.name, f.offset, f.datatype, f.count) for f in msg.fields]
    if fields != list(POINT_FIELDS) or msg.point_step != POINT_STEP or msg.is_bigendian:
        raise ValueError(f"cloud layout {fields} step {msg.point_step} is not ours")
    rows = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.row_step)
    flat = np.ascontiguousarray(rows[:, : msg.width * POINT_STEP])
    return flat.view(CLOUD_DTYPE).reshape(msg.height, msg.width)


def stamp_ns(stamp) -> int:
    """A builtin_interfaces/Time as integer nanoseconds (negative and zero stamps included;
    rclpy's Time refuses negative ones)."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)
