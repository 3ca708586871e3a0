"""The camera model of an image, from a CameraInfo, with image_geometry semantics.

A CameraInfo describes the full-resolution sensor: K, D, R, P for `width`×`height`. `binning_x/y`
and `roi` say which window of it, at which resolution, the image holds: ROI offsets move the
principal point (no scaling), binning divides (REFERENCE.md §14, image_geometry's
`PinholeCameraModel.fromCameraInfo`). Raw images are described by K + D, rectified ones by P
with D ignored. `resolve_camera` turns (calibration, image size, intrinsics source) into a
`CameraModel` of exactly that image; `CameraModelCache` keeps the models (and their per-pixel
rays) so they are computed once per distinct CameraInfo. ROS-free: the node and the bag tool
read their messages' fields into a `Calibration` and share everything below.
"""
from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from depth_anything_ros.geometry.camera import CameraInfoError, CameraIntrinsics
from depth_anything_ros.geometry.focal import fx_from_hfov
from depth_anything_ros.geometry.rays import PixelRays, lens_rays, pinhole_rays

# distortion_model → accepted numbers of coefficients (OpenCV order k1 k2 p1 p2 [k3 [k4 k5 k6]];
# equidistant: k1..k4). These are the models image_geometry and camera_calibration write.
DISTORTION_MODELS: dict[str, tuple[int, ...]] = {
    "plumb_bob": (4, 5),
    "rational_polynomial": (8,),
    "equidistant": (4,),
}
INTRINSICS_SOURCES = ("auto", "K", "P")
IDENTITY_R = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def _floats(values: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


@dataclass(frozen=True)
class Calibration:
    """The fields of one CameraInfo that define geometry (hashable: the cache key)."""

    width: int
    height: int
    distortion_model: str
    d: tuple[float, ...]
    k: tuple[float, ...]
    r: tuple[float, ...] = IDENTITY_R
    p: tuple[float, ...] = (0.0,) * 12
    binning_x: int = 0
    binning_y: int = 0
    roi: tuple[int, int, int, int] = (0, 0, 0, 0)  # x_offset, y_offset, width, height

    @classmethod
    def from_message(cls, msg: Any) -> "Calibration":
        """From any object with CameraInfo's fields (rclpy or rosbags messages alike)."""
        roi = msg.roi
        return cls(int(msg.width), int(msg.height), str(msg.distortion_model), _floats(msg.d),
                   _floats(msg.k), _floats(msg.r), _floats(msg.p), int(msg.binning_x),
                   int(msg.binning_y),
                   (int(roi.x_offset), int(roi.y_offset), int(roi.width), int(roi.height)))

    @property
    def uncalibrated(self) -> bool:
        """No focal length: drivers of uncalibrated cameras publish K all zero (camera_info_manager
        without a calibration file), some with K[8] = 1."""
        return len(self.k) == 9 and self.k[0] == 0.0 and self.k[4] == 0.0


@dataclass(frozen=True)
class CameraInfoFields:
    """What the republished CameraInfo holds: the camera model of the depth image itself
    (its size, ROI and binning folded into K and P, so binning = 0 and an empty ROI)."""

    width: int
    height: int
    distortion_model: str
    d: tuple[float, ...]
    k: tuple[float, ...]
    r: tuple[float, ...]
    p: tuple[float, ...]


@dataclass(frozen=True, eq=False)
class CameraModel:
    """The geometry of one `width`×`height` image: its K and P (ROI, binning, resize applied),
    the lens model it is read with, and its per-pixel rays (computed on first use, then kept).

    source: "K+D" (raw image through a distorted lens), "K" (raw, no distortion), "P"
    (rectified image) or "hfov" (assumed pinhole from `fallback_hfov_deg`).
    """

    width: int
    height: int
    k: tuple[float, ...]
    p: tuple[float, ...]
    r: tuple[float, ...]
    distortion_model: str
    d: tuple[float, ...]
    source: str
    note: str = field(default="", compare=False)

    @property
    def intrinsics(self) -> CameraIntrinsics:
        """The pinhole part: P's for rectified images, K's otherwise."""
        if self.source == "P":
            fx, cx, fy, cy = self.p[0], self.p[2], self.p[5], self.p[6]
        else:
            fx, cx, fy, cy = self.k[0], self.k[2], self.k[4], self.k[5]
        return CameraIntrinsics(fx, fy, cx, cy, self.width, self.height)

    @property
    def distorted(self) -> bool:
        return self.source == "K+D"

    @cached_property
    def _rays(self) -> PixelRays:
        if self.distorted:
            return lens_rays(np.reshape(self.k, (3, 3)), np.asarray(self.d),
                             self.distortion_model, self.width, self.height)
        i = self.intrinsics
        return pinhole_rays(i.fx, i.fy, i.cx, i.cy, self.width, self.height)

    def rays(self) -> PixelRays:
        """Every pixel's ray (what `organized_cloud` multiplies by depth)."""
        return self._rays

    def info_fields(self) -> CameraInfoFields:
        return CameraInfoFields(self.width, self.height, self.distortion_model, self.d, self.k,
                                self.r, self.p)

    def describe(self) -> str:
        """One line for logs and diagnostics."""
        i = self.intrinsics
        lens = f"{self.distortion_model} D={list(self.d)}" if self.distorted else "pinhole"
        text = (f"{self.source} {self.width}x{self.height} fx={i.fx:.2f} fy={i.fy:.2f} "
                f"cx={i.cx:.2f} cy={i.cy:.2f} {lens}")
        return f"{text} ({self.note})" if self.note else text


def has_distortion(calibration: Calibration) -> bool:
    return any(v != 0.0 for v in calibration.d)


def _check_distortion(calibration: Calibration) -> None:
    model, count = calibration.distortion_model, len(calibration.d)
    if model not in DISTORTION_MODELS:
        raise CameraInfoError(
            f"distortion_model '{model}' is not supported with non-zero D (supported: "
            f"{', '.join(DISTORTION_MODELS)}; or rectify the image and use intrinsics_source P)")
    if count not in DISTORTION_MODELS[model]:
        expected = " or ".join(map(str, DISTORTION_MODELS[model]))
        raise CameraInfoError(f"D has {count} values, but distortion_model '{model}' needs "
                              f"{expected}")
    if not all(math.isfinite(v) for v in calibration.d):
        raise CameraInfoError(f"D is {list(calibration.d)}: all values must be finite")


def _choose_source(calibration: Calibration, source: str) -> str:
    """auto: distorted → K+D; otherwise P when it is a usable pinhole, else K."""
    if source not in INTRINSICS_SOURCES:
        raise ValueError(f"intrinsics source {source!r}: use one of {INTRINSICS_SOURCES}")
    if source == "P":
        return "P"
    if has_distortion(calibration):
        return "K+D"
    if source == "K":
        return "K"
    return "P" if _usable_p(calibration.p) else "K"


def _usable_p(p: tuple[float, ...]) -> bool:
    """A P that projects: 12 finite values with positive focal lengths."""
    return len(p) == 12 and all(math.isfinite(v) for v in p) and p[0] > 0 and p[5] > 0


def _window(calibration: Calibration, image_width: int, image_height: int
            ) -> tuple[int, int, int, int, int, int]:
    """(roi x, y, w, h, binning x, y) of the image, with image_geometry's defaults:
    binning 0 = 1, an all-zero ROI = the full sensor, size 0 (unset) = the image's."""
    width, height = calibration.width, calibration.height
    bx, by = calibration.binning_x or 1, calibration.binning_y or 1
    if width == 0 or height == 0:
        width, height = image_width * bx, image_height * by
    x, y, w, h = calibration.roi
    if (x, y, w, h) == (0, 0, 0, 0):
        w, h = width, height
    if w == 0 or h == 0 or x + w > width or y + h > height:
        raise CameraInfoError(
            f"roi (x_offset {x}, y_offset {y}, width {w}, height {h}) is not inside the "
            f"{width}x{height} calibration")
    return x, y, w, h, bx, by


def _reduce(matrix: tuple[float, ...], columns: int, x: int, y: int, sx: float,
            sy: float) -> tuple[float, ...]:
    """K (3 columns) or P (4 columns) of the window: principal point minus the ROI offset, then
    row 0 × sx and row 1 × sy (sx = resize / binning_x: focal, centre and P's Tx alike)."""
    m = list(matrix)
    m[2] -= x
    m[columns + 2] -= y
    for i in range(columns):
        m[i] *= sx
        m[columns + i] *= sy
    return tuple(m)


def resolve_camera(calibration: Calibration, image_width: int, image_height: int,
                   source: str = "auto") -> CameraModel:
    """The CameraModel of a `image_width`×`image_height` image described by `calibration`.

    Raises CameraInfoError naming the field: K or P unusable, D of the wrong length for its
    model, an unknown distortion_model with non-zero D, a ROI outside the calibration, or a
    window of another aspect ratio than the image. A window of the same aspect ratio but another
    size (a resized image) is scaled, as image_proc's resize does.
    """
    if len(calibration.k) != 9:
        raise CameraInfoError(f"K has {len(calibration.k)} values, expected 9")
    if len(calibration.p) != 12:
        raise CameraInfoError(f"P has {len(calibration.p)} values, expected 12")
    chosen = _choose_source(calibration, source)
    if chosen == "K+D":
        _check_distortion(calibration)
    x, y, w, h, bx, by = _window(calibration, image_width, image_height)
    window_w, window_h = w // bx, h // by
    if window_w <= 0 or window_h <= 0:
        raise CameraInfoError(
            f"binning ({bx}, {by}) of the roi's {w}x{h} pixels leaves a {window_w}x{window_h} "
            "image")
    if abs(window_w * image_height - image_width * window_h) > 0.01 * window_w * image_height:
        raise CameraInfoError(
            f"camera_info describes a {window_w}x{window_h} image (after roi and binning) but "
            f"the image is {image_width}x{image_height}, another aspect ratio")
    sx = image_width / window_w / bx
    sy = image_height / window_h / by
    k = _reduce(calibration.k, 3, x, y, sx, sy)
    p = _reduce(calibration.p, 4, x, y, sx, sy)
    if not _usable_p(p):  # republished, P all zero would give image_geometry users fx = 0
        p = (k[0], k[1], k[2], 0.0, k[3], k[4], k[5], 0.0, k[6], k[7], k[8], 0.0)
    r = calibration.r if len(calibration.r) == 9 else IDENTITY_R
    model = CameraModel(image_width, image_height, k, p, r, calibration.distortion_model,
                        calibration.d, chosen)
    try:
        model.intrinsics.validate()
    except CameraInfoError as error:
        raise CameraInfoError(f"{'P' if chosen == 'P' else 'K'}: {error}") from None
    return model


def pinhole_from_hfov(width: int, height: int, hfov_deg: float, note: str = "") -> CameraModel:
    """An assumed pinhole camera: fx = fy = (W/2)/tan(hfov/2), principal point at the centre
    ((W−1)/2, (H−1)/2). For cameras without a calibration (`fallback_hfov_deg`)."""
    f = fx_from_hfov(hfov_deg, width)
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    k = (f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0)
    p = (f, 0.0, cx, 0.0, 0.0, f, cy, 0.0, 0.0, 0.0, 1.0, 0.0)
    return CameraModel(width, height, k, p, IDENTITY_R, "plumb_bob", (0.0,) * 5, "hfov", note)


def focal_length(calibration: Calibration, image_width: int, image_height: int,
                 source: str = "auto") -> float:
    """fx in pixels of the image from K (from P with `source` "P"), whatever D says.

    The focal correction needs only the focal length, so a camera_info whose distortion is
    unusable (D of the wrong length, an unknown distortion_model) still gives it; the ROI,
    binning and resize rules are `resolve_camera`'s. Raises CameraInfoError when K/P, the ROI
    or the aspect ratio is unusable."""
    pinhole = replace(calibration, d=())
    return resolve_camera(pinhole, image_width, image_height,
                          "P" if source == "P" else "K").intrinsics.fx


@dataclass(frozen=True)
class FrameCamera:
    """What one frame's CameraInfo gives: the full model for depth/camera_info and points (None:
    neither), the focal length for the focal correction (None: the depth stays uncorrected) and,
    when the model is missing, why (None: no camera_info at all)."""

    model: CameraModel | None
    fx: float | None
    problem: str | None = None


class CameraModelCache:
    """Models (and so their rays) per (calibration, image size, source): a new CameraInfo
    value costs one `resolve_camera`, a repeated one a dictionary look-up. Thread-safe (the bag
    tool builds clouds in a pool); least recently used entries go beyond `size`."""

    def __init__(self, size: int = 8) -> None:
        self._size = size
        self._models: OrderedDict[tuple, CameraModel] = OrderedDict()
        self._lock = threading.Lock()
        self.resolved = 0  # how many models were built (tests check the caching)

    def get(self, calibration: Calibration, image_width: int, image_height: int,
            source: str = "auto") -> CameraModel:
        key = (calibration, image_width, image_height, source)
        with self._lock:
            model = self._models.get(key)
            if model is not None:
                self._models.move_to_end(key)
                return model
        model = resolve_camera(calibration, image_width, image_height, source)
        model.rays()  # compute outside the lock, once, before it is shared
        with self._lock:
            self.resolved += 1
            self._models[key] = model
            while len(self._models) > self._size:
                self._models.popitem(last=False)
        return model

    def for_frame(self, calibration: Calibration | None, image_width: int, image_height: int,
                  source: str = "auto", fallback_hfov_deg: float = 0.0) -> CameraModel | None:
        """The model of one frame, as the node and the bag tool both decide it: its
        calibration's; an assumed pinhole (`pinhole_from_hfov`) when there is no calibration or
        it is `uncalibrated` (K zero) and `fallback_hfov_deg` > 0; else None. Raises
        CameraInfoError for an unusable calibration."""
        if calibration is None or calibration.uncalibrated:
            if fallback_hfov_deg <= 0:
                if calibration is None:
                    return None
                return self.get(calibration, image_width, image_height, source)  # names K
            reason = "no camera_info" if calibration is None else "camera_info has K all zero"
            return pinhole_from_hfov(image_width, image_height, fallback_hfov_deg,
                                     f"assumed: {reason}; pinhole from fallback_hfov_deg = "
                                     f"{fallback_hfov_deg:g}°")
        return self.get(calibration, image_width, image_height, source)

    def frame_camera(self, calibration: Calibration | None, image_width: int, image_height: int,
                     source: str = "auto", fallback_hfov_deg: float = 0.0) -> FrameCamera:
        """`for_frame`, never raising: an unusable calibration gives no model, the reason, and
        still K's focal length when K itself is usable (`focal_length`), so a bad D costs the
        points but not the metric scale."""
        try:
            model = self.for_frame(calibration, image_width, image_height, source,
                                   fallback_hfov_deg)
        except CameraInfoError as exc:
            assert calibration is not None  # no calibration never raises
            try:
                fx: float | None = focal_length(calibration, image_width, image_height, source)
            except CameraInfoError:
                fx = None
            return FrameCamera(None, fx, str(exc))
        return FrameCamera(model, None if model is None else model.intrinsics.fx)
