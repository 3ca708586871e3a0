"""Preview pictures: the input beside its depth (with a scale bar), and the error against GT.

``predict`` and ``bag --export-dir`` write :func:`depth_preview`; the demo composes its own row
from :func:`titled` and :func:`side_by_side`. Panels keep the input's resolution; inputs shorter
than ``MIN_PANEL_HEIGHT`` are enlarged (nearest neighbour) so the labels stay readable.
Colours follow ``visualize`` (one convention); text is cv2's, so no extra dependency.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from depth_anything_ros.metrics import (
    aligned_depth,
    depth_metrics,
    relative_error_map,
    valid_depth_mask,
)
from depth_anything_ros.scale_bar import (
    BACKGROUND_BGR,
    FONT,
    TEXT_BGR,
    depth_picture,
    text_scale,
    text_thickness,
    with_scale_bar,
)
from depth_anything_ros.visualize import (
    DEFAULT_COLORMAP,
    ERROR_VMAX,
    KINDS,
    color_range_or_empty,
    colorize_error,
)

MIN_PANEL_HEIGHT = 240
# Range in which a relative model's disparity is aligned to ground truth (as `train evaluate`).
ALIGN_DEPTH_RANGE = (1e-3, 80.0)


def titled(panel: np.ndarray, text: str) -> np.ndarray:
    """``panel`` under a dark strip carrying ``text`` (sized for the panel's height)."""
    scale = text_scale(panel.shape[0]) * 0.9
    thickness = text_thickness(scale)
    (_, text_h), baseline = cv2.getTextSize("Ag", FONT, scale, thickness)
    strip = np.empty((text_h + baseline + 2 * max(3, text_h // 2), panel.shape[1], 3), np.uint8)
    strip[:] = BACKGROUND_BGR
    cv2.putText(strip, text, (max(4, text_h // 2), strip.shape[0] - baseline - max(3, text_h // 2)),
                FONT, scale, TEXT_BGR, thickness, cv2.LINE_AA)
    return np.vstack([strip, panel])


def side_by_side(panels: list[np.ndarray]) -> np.ndarray:
    """Panels left to right, shorter ones padded at the bottom with the background colour."""
    height = max(p.shape[0] for p in panels)
    padded = []
    for panel in panels:
        if panel.shape[0] < height:
            pad = np.empty((height - panel.shape[0], panel.shape[1], 3), np.uint8)
            pad[:] = BACKGROUND_BGR
            panel = np.vstack([panel, pad])
        padded.append(panel)
    return np.hstack(padded)


def enlargement(height: int) -> int:
    """Integer factor that brings a panel ``height`` tall to at least ``MIN_PANEL_HEIGHT``."""
    return max(1, math.ceil(MIN_PANEL_HEIGHT / max(height, 1)))


def enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    """``image`` ``factor`` times larger, nearest neighbour (pixels stay visible as blocks)."""
    if factor == 1:
        return image
    return cv2.resize(image, (image.shape[1] * factor, image.shape[0] * factor),
                      interpolation=cv2.INTER_NEAREST)


@dataclass(frozen=True)
class FrameError:
    """One frame against its ground truth: the per-pixel error map and its mean (abs_rel)."""

    error_map: np.ndarray  # float32 H×W |gt − pred| / gt, NaN where not scored
    abs_rel: float
    valid_pixels: int
    aligned: bool  # True: a relative model, scored after the LSQ scale/shift fit

    @property
    def title(self) -> str:
        fit = ", after scale/shift fit" if self.aligned else ""
        return f"|d - gt| / gt   abs_rel {self.abs_rel:.3f} ({self.valid_pixels} px{fit})"


def frame_error(values: np.ndarray, gt: np.ndarray, kind: str = "depth") -> FrameError:
    """Score one prediction (depth in m, or disparity aligned first) against GT depth in m."""
    values = np.asarray(values)
    gt = np.asarray(gt, dtype=np.float32)
    if values.shape != gt.shape:
        raise ValueError(f"ground truth is {gt.shape[1]}x{gt.shape[0]} but the prediction is "
                         f"{values.shape[1]}x{values.shape[0]} (WxH)")
    if kind == "disparity":
        valid = valid_depth_mask(gt, *ALIGN_DEPTH_RANGE)
        if valid.sum() < 2:
            raise ValueError("ground truth has fewer than 2 valid pixels to align to")
        pred = aligned_depth(values, gt, valid, depth_range=ALIGN_DEPTH_RANGE)
    else:
        pred = values
    error_map = relative_error_map(pred, gt)
    scored = np.isfinite(error_map)
    if not scored.any():
        raise ValueError("ground truth has no valid pixel where the prediction is valid")
    abs_rel = depth_metrics(pred, gt, scored)["abs_rel"]
    return FrameError(error_map, abs_rel, int(scored.sum()), kind == "disparity")


@dataclass(frozen=True)
class Preview:
    image: np.ndarray  # BGR
    depth_range: tuple[float, float]
    error: FrameError | None = None


def depth_preview(
    rgb: np.ndarray,
    values: np.ndarray,
    *,
    kind: str = "depth",
    colormap: str = DEFAULT_COLORMAP,
    vmin: float | None = None,
    vmax: float | None = None,
    gt: np.ndarray | None = None,
    input_title: str = "input",
) -> Preview:
    """input | depth with scale bar [| abs rel error with scale bar], titled, BGR.

    ``values`` is depth in metres (``kind="depth"``) or relative disparity. With ``gt`` (metres,
    NaN invalid, same size) a third panel shows ``|d − gt| / gt`` and the frame's abs_rel.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    values = np.asarray(values)
    if rgb.shape[:2] != values.shape:
        raise ValueError(f"image is {rgb.shape[1]}x{rgb.shape[0]} but depth is "
                         f"{values.shape[1]}x{values.shape[0]} (WxH)")
    error = frame_error(values, gt, kind) if gt is not None else None
    factor = enlargement(values.shape[0])
    depth_range, empty = color_range_or_empty(values, vmin, vmax, kind)
    depth_bgr, _ = depth_picture(values, *depth_range, colormap, kind=kind, bar=False)
    image_bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
    depth_title = "depth (m)" if kind == "depth" else "relative disparity (no metres)"
    panels = [
        titled(enlarge(image_bgr, factor), input_title),
        titled(with_scale_bar(enlarge(depth_bgr, factor), *depth_range, colormap, kind, empty),
               depth_title),
    ]
    if error is not None:
        error_bgr = enlarge(colorize_error(error.error_map), factor)
        panels.append(titled(with_scale_bar(error_bgr, 0.0, ERROR_VMAX, kind="error"),
                             error.title))
    return Preview(side_by_side(panels), depth_range, error)
