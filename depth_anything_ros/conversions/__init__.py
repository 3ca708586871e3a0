"""ROS-free codecs between message fields and numpy arrays (shared by the node and bag tools)."""
from depth_anything_ros.conversions.depth_codec import DEPTH_ENCODINGS, decode_depth, encode_depth
from depth_anything_ros.conversions.image_codec import (
    RAW_ENCODINGS,
    SUPPORTED_ENCODINGS,
    ImageDecodeError,
    ImageTooLargeError,
    bytes_per_pixel,
    decode_compressed,
    decode_image,
    encode_image,
)

__all__ = [
    "DEPTH_ENCODINGS", "RAW_ENCODINGS", "SUPPORTED_ENCODINGS", "ImageDecodeError",
    "ImageTooLargeError", "bytes_per_pixel", "decode_compressed",
    "decode_depth", "decode_image", "encode_depth", "encode_image",
]
