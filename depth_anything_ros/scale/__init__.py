"""Metric scale, ROS-free: anchors → robust per-frame fit → temporal filter (REFERENCE.md §4, §14).

- `disparity`: least-squares scale/shift of relative disparity against dense ground truth.
- `anchors`: sparse measured depths at pixels (`Anchors`), a simulated scan-line sensor.
- `fit`: robust scale or scale+shift (metric) or scale+shift in disparity (relative) from
  anchors (`ScaleFit`).
- `ground_plane`: the same from a flat floor and the camera's known height.
- `gravity`: the floor's normal from an IMU's accelerometer, for a camera that tilts.
- `mount`: the camera's height and the floor's normal from static transforms (`/tf_static`).
- `temporal`: log-space smoothing with outlier gating and resets (`ScaleFilter`).
- `corrector`: `ScaleCorrector`, the per-camera object the node and the bag job share.
"""
from depth_anything_ros.scale.anchors import Anchors, decode_sparse_depth, scan_line_depth
from depth_anything_ros.scale.corrector import (
    SCALE_MODELS,
    SCALE_SOURCES,
    Correction,
    ScaleCorrector,
    ScaleSettings,
)
from depth_anything_ros.scale.disparity import disparity_to_depth, fit_disparity_scale_shift
from depth_anything_ros.scale.fit import (FitConfig, ScaleFit, applied_factor, apply_scale,
                                          fit_anchors)
from depth_anything_ros.scale.ground_plane import (
    GroundConfig,
    GroundPlane,
    camera_geometry,
    fit_ground_plane,
    floor_anchors,
    pixel_rays,
)
from depth_anything_ros.scale.temporal import FilterConfig, ScaleFilter

__all__ = [
    "SCALE_MODELS",
    "SCALE_SOURCES",
    "Anchors",
    "Correction",
    "FilterConfig",
    "FitConfig",
    "GroundConfig",
    "GroundPlane",
    "ScaleCorrector",
    "ScaleFilter",
    "ScaleFit",
    "ScaleSettings",
    "applied_factor", "apply_scale", "camera_geometry", "decode_sparse_depth",
    "disparity_to_depth",
    "fit_anchors",
    "fit_disparity_scale_shift",
    "fit_ground_plane",
    "floor_anchors",
    "pixel_rays",
    "scan_line_depth",
]
