"""The scale bar beside a depth picture: the colour ramp with 3–5 ticks labelled in metres.

A vertical strip as tall as the picture: low values at the bottom (for depth: near, warm), high
at the top. Depth and error bars carry :func:`visualize.scale_ticks` labels; a relative
(disparity) picture has no metres, so its bar says "near" and "far". Drawn with cv2 only and
cached per (height, range, colormap, kind), so the node can afford one per frame.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from depth_anything_ros.visualize import (
    DEFAULT_COLORMAP,
    color_range_or_empty,
    colorize,
    colour_ramp,
    scale_ticks,
    tick_labels,
)

FONT = cv2.FONT_HERSHEY_SIMPLEX
BACKGROUND_BGR = (32, 32, 32)
TEXT_BGR = (235, 235, 235)
BAR_KINDS = ("depth", "disparity", "error")


def text_scale(height: int) -> float:
    """cv2 font scale for a picture ``height`` pixels tall (0.6 at 480 px, 0.4 at least)."""
    return float(np.clip(height / 800.0, 0.4, 1.6))


def text_thickness(scale: float) -> int:
    return 1 if scale < 1.0 else 2


def ramp_extent(height: int) -> tuple[int, int]:
    """(top, bottom) rows of the ramp in a bar ``height`` tall; the margins fit the end labels."""
    scale = text_scale(height)
    (_, text_h), _ = cv2.getTextSize("0", FONT, scale, text_thickness(scale))
    margin = min(text_h, max(height // 6, 1))
    return margin, height - 1 - margin


NO_VALUES_LABEL = {"depth": "no depth", "disparity": "no depth", "error": "no data"}


def bar_ticks(
    height: int, vmin: float, vmax: float, kind: str = "depth", empty: bool = False
) -> list[tuple[int, str]]:
    """(row, label) of every tick of a bar ``height`` tall over ``[vmin, vmax]``; ``empty``: the
    picture has no valid value, so the bar says so instead of showing a made-up range."""
    if kind not in BAR_KINDS:
        raise ValueError(f"scale bar kind must be one of {BAR_KINDS}, got {kind!r}")
    top, bottom = ramp_extent(height)
    if empty:
        return [((top + bottom) // 2, NO_VALUES_LABEL[kind])]
    if kind == "disparity":
        return [(bottom, "near"), (top, "far")]
    values = scale_ticks(vmin, vmax)
    labels = tick_labels(values, "m" if kind == "depth" else "")
    span = vmax - vmin
    rows = [round(bottom - (v - vmin) / span * (bottom - top)) if span > 0 else bottom
            for v in values]
    return list(zip(rows, labels))


@lru_cache(maxsize=64)
def _scale_bar(height: int, vmin: float, vmax: float, colormap: str, kind: str,
               empty: bool) -> np.ndarray:
    scale = text_scale(height)
    thickness = text_thickness(scale)
    ticks = bar_ticks(height, vmin, vmax, kind, empty)
    (_, text_h), _ = cv2.getTextSize("0", FONT, scale, thickness)
    pad = max(3, text_h // 2)
    ramp_w = max(6, round(height * 0.035))
    tick_len = max(3, ramp_w // 3)
    label_x = pad + ramp_w + tick_len + pad
    label_w = max(cv2.getTextSize(label, FONT, scale, thickness)[0][0] for _, label in ticks)
    bar = np.empty((height, label_x + label_w + pad, 3), np.uint8)
    bar[:] = BACKGROUND_BGR
    top, bottom = ramp_extent(height)
    # Near at the bottom for every kind: a disparity bar reads like a depth bar.
    ramp = colour_ramp(colormap, "depth" if kind == "disparity" else kind)
    rows = np.arange(top, bottom + 1)
    position = (bottom - rows) / max(bottom - top, 1)  # 0 at the bottom, 1 at the top
    bar[top:bottom + 1, pad:pad + ramp_w] = ramp[np.round(position * 255).astype(int)][:, None]
    for row, label in ticks:
        cv2.line(bar, (pad + ramp_w, row), (pad + ramp_w + tick_len - 1, row), TEXT_BGR, 1)
        baseline_y = int(np.clip(row + text_h // 2, text_h, height - 1))
        cv2.putText(bar, label, (label_x, baseline_y), FONT, scale, TEXT_BGR, thickness,
                    cv2.LINE_AA)
    bar.flags.writeable = False
    return bar


def scale_bar(
    height: int, vmin: float, vmax: float, colormap: str = DEFAULT_COLORMAP, kind: str = "depth",
    empty: bool = False,
) -> np.ndarray:
    """A read-only H×w×3 BGR strip: the ramp of ``colormap`` over ``[vmin, vmax]`` with ticks.

    ``kind``: "depth" (metres), "disparity" (near/far) or "error" (unitless, ERROR_COLORMAP).
    ``empty``: one label, "no depth" ("no data"), for a picture without a valid value.
    """
    return _scale_bar(int(height), float(vmin), float(vmax), colormap, kind, bool(empty))


def with_scale_bar(
    picture: np.ndarray, vmin: float, vmax: float, colormap: str = DEFAULT_COLORMAP,
    kind: str = "depth", empty: bool = False,
) -> np.ndarray:
    """``picture`` with its scale bar appended on the right (a new array)."""
    return np.hstack([picture, scale_bar(picture.shape[0], vmin, vmax, colormap, kind, empty)])


def depth_picture(
    depth: np.ndarray, vmin: float | None = None, vmax: float | None = None,
    colormap: str = DEFAULT_COLORMAP, *, kind: str = "depth", bar: bool = True,
) -> tuple[np.ndarray, tuple[float, float]]:
    """Colourised depth (the convention), with its scale bar if ``bar``; and the range used."""
    (lo, hi), empty = color_range_or_empty(depth, vmin, vmax, kind)
    picture = colorize(depth, lo, hi, colormap, kind=kind)
    return (with_scale_bar(picture, lo, hi, colormap, kind, empty) if bar else picture), (lo, hi)
