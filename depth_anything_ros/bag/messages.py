"""rosbags message objects ↔ numpy, through the same ROS-free codecs and geometry as the node.

Decoding camera images uses `depth_anything_ros.conversions`, depth payloads `encode_depth`,
clouds `geometry.organized_cloud` with `POINT_FIELDS`/`POINT_STEP`: the node and the bag job
therefore publish byte-for-byte the same message content for the same frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from depth_anything_ros.bag.topics import (
    CAMERA_INFO_TYPE,
    COMPRESSED_IMAGE_TYPE,
    IMAGE_TYPE,
    POINTCLOUD_TYPE,
)
from depth_anything_ros.conversions import decode_compressed, decode_image, encode_depth
from depth_anything_ros.geometry.camera_model import CameraInfoFields


@dataclass(frozen=True)
class Stamp:
    """A header stamp and frame, detached from any typestore's classes."""

    sec: int
    nanosec: int
    frame_id: str

    @property
    def name(self) -> str:
        """`<sec>_<nanosec>` with nanoseconds zero-padded, so names sort by time."""
        return f"{self.sec}_{self.nanosec:09d}"

    @property
    def ns(self) -> int:
        return self.sec * 1_000_000_000 + self.nanosec


def stamp_of(msg: Any) -> Stamp:
    header = msg.header
    return Stamp(int(header.stamp.sec), int(header.stamp.nanosec), str(header.frame_id))


def decode_rgb(msg: Any, msgtype: str, mono16_bits: int = 16) -> np.ndarray:
    """A deserialized Image or CompressedImage → RGB uint8 H×W×3 (ImageDecodeError if bad)."""
    if msgtype == IMAGE_TYPE:
        return decode_image(msg.encoding, int(msg.height), int(msg.width), int(msg.step),
                            bool(msg.is_bigendian), msg.data, mono16_bits=mono16_bits)
    if msgtype == COMPRESSED_IMAGE_TYPE:
        return decode_compressed(msg.format, msg.data, mono16_bits=mono16_bits)
    raise ValueError(f"{msgtype} is not an image message type")


def _as_bytes(data: Any) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8)


class MessageFactory:
    """Builds and serializes output messages with one typestore (Humble or Jazzy definitions)."""

    def __init__(self, typestore: Any) -> None:
        self.typestore = typestore
        types = typestore.types
        self._Header = types["std_msgs/msg/Header"]
        self._Time = types["builtin_interfaces/msg/Time"]
        self._Image = types[IMAGE_TYPE]
        self._CameraInfo = types[CAMERA_INFO_TYPE]
        self._RegionOfInterest = types["sensor_msgs/msg/RegionOfInterest"]
        self._PointCloud2 = types[POINTCLOUD_TYPE]
        self._PointField = types["sensor_msgs/msg/PointField"]

    def header(self, stamp: Stamp) -> Any:
        return self._Header(stamp=self._Time(sec=stamp.sec, nanosec=stamp.nanosec),
                            frame_id=stamp.frame_id)

    def depth_image(self, stamp: Stamp, depth: np.ndarray, encoding: str) -> Any:
        """REP-118 depth Image with the input header (32FC1 m with NaN, or 16UC1 mm with 0)."""
        enc, step, payload = encode_depth(depth, encoding)
        height, width = depth.shape
        return self._Image(header=self.header(stamp), height=height, width=width, encoding=enc,
                           is_bigendian=0, step=step, data=_as_bytes(payload))

    def camera_info(self, stamp: Stamp, fields: CameraInfoFields) -> Any:
        """The CameraInfo of a depth image (`CameraModel.info_fields()`) under its header: the
        node's rule (`ros.messages.camera_info_msg`), so both write the same content."""
        roi = self._RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
        return self._CameraInfo(
            header=self.header(stamp), height=fields.height, width=fields.width,
            distortion_model=fields.distortion_model,
            d=np.array(fields.d, dtype=np.float64), k=np.array(fields.k, dtype=np.float64),
            r=np.array(fields.r, dtype=np.float64), p=np.array(fields.p, dtype=np.float64),
            binning_x=0, binning_y=0, roi=roi,
        )

    def pointcloud(self, stamp: Stamp, cloud: np.ndarray) -> Any:
        """Organized PointCloud2 (H'×W', NaN invalid, is_dense false) from a structured cloud."""
        from depth_anything_ros.geometry.pointcloud import POINT_FIELDS, POINT_STEP

        height, width = cloud.shape
        if cloud.dtype.itemsize != POINT_STEP:
            raise ValueError(f"cloud: point size {cloud.dtype.itemsize} != POINT_STEP {POINT_STEP}")
        fields = [self._PointField(name=name, offset=offset, datatype=datatype, count=count)
                  for name, offset, datatype, count in POINT_FIELDS]
        data = np.ascontiguousarray(cloud).view(np.uint8).reshape(-1)
        return self._PointCloud2(header=self.header(stamp), height=height, width=width,
                                 fields=fields, is_bigendian=False, point_step=POINT_STEP,
                                 row_step=POINT_STEP * width, data=data, is_dense=False)

    def serialize(self, msg: Any) -> memoryview:
        return self.typestore.serialize_cdr(msg, msg.__msgtype__)
