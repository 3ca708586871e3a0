"""The pixel formats camera drivers publish beyond plain RGB: Bayer mosaics, YUV, 16-bit grey.

Decoding follows cv_bridge's colours: OpenCV's bilinear demosaicing and BT.601 limited-range
YUV (`cv2.COLOR_YUV2RGB_*`). OpenCV names a Bayer pattern by the second row's first two
pixels (REFERENCE.md §14), so ROS `bayer_rggb8` is `COLOR_BayerBG2RGB`. The encoders are the
inverse, for writing test images and bags; they are not used on the node's hot path.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

# ROS pattern (top-left 2×2, row-major) → OpenCV demosaicing code (named after the 2nd row).
BAYER_CODES = {
    "rggb": cv2.COLOR_BayerBG2RGB,
    "bggr": cv2.COLOR_BayerRG2RGB,
    "gbrg": cv2.COLOR_BayerGR2RGB,
    "grbg": cv2.COLOR_BayerGB2RGB,
}
# Packed 4:2:2, two bytes per pixel: ROS `yuv422` is UYVY, `yuv422_yuy2` is YUYV (also the
# newer names `uyvy` / `yuyv`).
YUV422_CODES = {"uyvy": cv2.COLOR_YUV2RGB_UYVY, "yuyv": cv2.COLOR_YUV2RGB_YUYV}
# BT.601 limited range, as OpenCV's YUV decoders expect: rows Y, U (Cb), V (Cr).
_RGB_TO_YUV = np.array([[0.257, 0.504, 0.098], [-0.148, -0.291, 0.439], [0.439, -0.368, -0.071]])
_YUV_OFFSET = np.array([16.0, 128.0, 128.0])


@lru_cache(maxsize=16)
def _lut_16_to_8(significant_bits: int) -> np.ndarray:
    top = (1 << significant_bits) - 1
    values = np.rint(np.arange(65536, dtype=np.float64) * (255.0 / top))
    return np.clip(values, 0, 255).astype(np.uint8)


def scale_16_to_8(values: np.ndarray, significant_bits: int = 16) -> np.ndarray:
    """16-bit pixels holding `significant_bits` bits (0 … 2^bits − 1) → uint8 0 … 255, rounded
    (16: 65535 → 255 and v·257 → v exactly; 12: 4095 → 255); values above the range clip."""
    if not 1 <= significant_bits <= 16:
        raise ValueError(f"significant bits {significant_bits}: must be in 1..16")
    return _lut_16_to_8(significant_bits)[np.asarray(values, dtype=np.uint16)]


def scale_8_to_16(values: np.ndarray, significant_bits: int = 16) -> np.ndarray:
    """The inverse of `scale_16_to_8` (v·257 for 16 bits), for writing 16-bit test images."""
    top = (1 << significant_bits) - 1
    return np.rint(np.asarray(values, np.float64) * (top / 255.0)).astype(np.uint16)


def demosaic(mosaic: np.ndarray, pattern: str) -> np.ndarray:
    """An 8-bit Bayer mosaic H×W (`pattern` = rggb, bggr, gbrg or grbg) → RGB uint8 H×W×3."""
    return cv2.cvtColor(np.ascontiguousarray(mosaic), BAYER_CODES[pattern])


def mosaic(rgb: np.ndarray, pattern: str) -> np.ndarray:
    """RGB H×W×3 → the Bayer mosaic a sensor with that colour-filter pattern records."""
    out = np.empty(rgb.shape[:2], rgb.dtype)
    channel = {"r": 0, "g": 1, "b": 2}
    for (dy, dx), colour in zip(((0, 0), (0, 1), (1, 0), (1, 1)), pattern):
        out[dy::2, dx::2] = rgb[dy::2, dx::2, channel[colour]]
    return out


def yuv422_to_rgb(packed: np.ndarray, order: str) -> np.ndarray:
    """Packed 4:2:2 H×W×2 bytes (`order` uyvy or yuyv) → RGB uint8 H×W×3."""
    return cv2.cvtColor(np.ascontiguousarray(packed), YUV422_CODES[order])


def semi_planar_to_rgb(luma: np.ndarray, chroma: np.ndarray, kind: str) -> np.ndarray:
    """NV21 (Y plane + interleaved V,U at half resolution) or NV24 (Y + interleaved U,V at full
    resolution) → RGB uint8. NV24 goes through OpenCV's NV12 decoder on a 2×-upsampled luma
    (each chroma sample then covers exactly its own pixel), so both use the same coefficients."""
    height, width = luma.shape
    if kind == "nv21":
        planes = np.concatenate([luma, chroma.reshape(height // 2, width)], axis=0)
        return cv2.cvtColor(np.ascontiguousarray(planes), cv2.COLOR_YUV2RGB_NV21)
    big_luma = np.repeat(np.repeat(luma, 2, axis=0), 2, axis=1)
    planes = np.concatenate([big_luma, chroma.reshape(height, 2 * width)], axis=0)
    return cv2.cvtColor(planes, cv2.COLOR_YUV2RGB_NV12)[::2, ::2].copy()


def rgb_to_yuv(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 → float Y, U, V (BT.601 limited range, what OpenCV's decoders invert)."""
    return np.asarray(rgb, np.float64) @ _RGB_TO_YUV.T + _YUV_OFFSET


def _u8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def rgb_to_yuv422(rgb: np.ndarray, order: str) -> np.ndarray:
    """RGB H×W×3 (W even) → packed H×W×2: chroma of each pixel pair averaged."""
    yuv = rgb_to_yuv(rgb)
    u = yuv[:, 0::2, 1] / 2 + yuv[:, 1::2, 1] / 2
    v = yuv[:, 0::2, 2] / 2 + yuv[:, 1::2, 2] / 2
    height, width = rgb.shape[:2]
    out = np.empty((height, width, 2), np.uint8)
    luma, chroma = (1, 0) if order == "uyvy" else (0, 1)
    out[:, :, luma] = _u8(yuv[:, :, 0])
    out[:, 0::2, chroma] = _u8(u)
    out[:, 1::2, chroma] = _u8(v)
    return out


def rgb_to_semi_planar(rgb: np.ndarray, kind: str) -> np.ndarray:
    """RGB H×W×3 → NV21 ((H·3/2)×W bytes: Y, then V,U per 2×2 block) or NV24 ((3·H)×W: Y, then
    U,V per pixel), the layout of a ROS Image's data with step = W."""
    yuv = rgb_to_yuv(rgb)
    height, width = rgb.shape[:2]
    if kind == "nv24":
        chroma = yuv[:, :, 1:3].reshape(2 * height, width)
    else:
        blocks = yuv.reshape(height // 2, 2, width // 2, 2, 3).mean(axis=(1, 3))
        chroma = blocks[:, :, [2, 1]].reshape(height // 2, width)
    return np.concatenate([_u8(yuv[:, :, 0]), _u8(chroma)], axis=0)
