"""Depth images for people: the one colour convention, scale-bar ticks, 16-bit millimetre PNGs.

**The convention** (README § Pictures; used by predict, bag export, the demo, ``depth/colored``,
training grids and evaluation figures — nothing else colourises depth):

* A colormap is applied to *nearness*, as the official Depth Anything scripts apply theirs to
  normalised disparity: the near end of the range gets the colormap's last colour. With the
  default ``spectral_r`` (DA2's ``Spectral_r``) near is dark red and far violet-blue;
  ``inferno`` gives DA1's look (near bright yellow), ``turbo`` near red, ``gray`` near white.
  A ``_r`` suffix flips a map, so ``spectral`` would draw near blue.
* Metric depth (near = small) and relative disparity (near = large) therefore look the same.
* Range: a given ``vmin``/``vmax`` (metres) is used as is; a missing end is the 2nd/98th
  percentile of the frame's valid values, so one outlier pixel does not wash out the picture.
  Values outside the range are clipped to the end colours.
* Invalid pixels (NaN, ±inf, and depth ≤ 0) are black.
* Error maps (``|pred − gt| / gt``) use ``ERROR_COLORMAP`` from 0 to a fixed ``vmax``.

Colours come from 256-entry lookup tables (cv2's maps, and ColorBrewer's Spectral, which is
matplotlib's), so the node needs no matplotlib. The scale bar drawn beside pictures lives in
``scale_bar.py``; its tick values come from :func:`scale_ticks` here.
"""
from __future__ import annotations

import itertools
import math
import os
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from depth_anything_ros.atomic_file import write_bytes_atomic
from depth_anything_ros.conversions.depth_codec import depth_to_millimetres

# The range rule: percentiles of the valid values that set a missing end of the range.
ROBUST_PERCENTILES = (2.0, 98.0)
RANGE_SAMPLES = 1 << 15  # at most this many pixels feed the percentiles
DEFAULT_COLORMAP = "spectral_r"
ERROR_COLORMAP = "viridis"
ERROR_VMAX = 1.0  # abs rel error at the top of the error colours (100 %)
KINDS = ("depth", "disparity")

# ColorBrewer "Spectral" (11 classes), the anchors matplotlib interpolates for its Spectral map.
_SPECTRAL_RGB = (
    "9e0142", "d53e4f", "f46d43", "fdae61", "fee08b", "ffffbf",
    "e6f598", "abdda4", "66c2a5", "3288bd", "5e4fa2",
)

COLORMAPS = {
    "spectral": "spectral",
    "turbo": cv2.COLORMAP_TURBO,
    "inferno": cv2.COLORMAP_INFERNO,
    "magma": cv2.COLORMAP_MAGMA,
    "plasma": cv2.COLORMAP_PLASMA,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "jet": cv2.COLORMAP_JET,
    "bone": cv2.COLORMAP_BONE,
    "gray": None,
}


def check_colormap(colormap: str) -> None:
    """Raise ValueError naming the choices if ``colormap`` is not a known name (``_r`` allowed)."""
    if colormap.removesuffix("_r") not in COLORMAPS:
        raise ValueError(
            f"unknown colormap {colormap!r}; choose one of {', '.join(sorted(COLORMAPS))} "
            "(add '_r' to reverse)"
        )


@cache
def colormap_lut(colormap: str) -> np.ndarray:
    """256×3 uint8 BGR table: row 255 is the colour of the nearest value (read-only)."""
    check_colormap(colormap)
    name = colormap.removesuffix("_r")
    source = COLORMAPS[name]
    ramp = np.arange(256, dtype=np.uint8)
    if source is None:
        lut = np.repeat(ramp[:, None], 3, axis=1)
    elif source == "spectral":
        anchors = np.array([[int(h[i:i + 2], 16) for i in (4, 2, 0)] for h in _SPECTRAL_RGB],
                           dtype=np.float64)  # BGR
        x = np.linspace(0.0, 1.0, len(anchors))
        t = np.linspace(0.0, 1.0, 256)
        lut = np.stack([np.interp(t, x, anchors[:, c]) for c in range(3)], axis=1)
        lut = np.round(lut).astype(np.uint8)
    else:
        lut = cv2.applyColorMap(ramp.reshape(-1, 1), source).reshape(256, 3)
    if colormap.endswith("_r"):
        lut = lut[::-1]
    lut = np.ascontiguousarray(lut)
    lut.flags.writeable = False
    return lut


def invalid_mask(values: np.ndarray, kind: str = "depth") -> np.ndarray:
    """Pixels drawn black: non-finite, and for depth also ≤ 0 (no depth is zero metres)."""
    values = np.asarray(values)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values)
        if kind == "depth":
            bad |= values <= 0
    return bad


EMPTY_RANGE = (0.0, 1.0)  # color_range of a picture with no valid value


def color_range(
    values: np.ndarray, vmin: float | None = None, vmax: float | None = None,
    kind: str = "depth",
) -> tuple[float, float]:
    """The range rule: given ends kept, missing ones the 2nd/98th percentile of valid values.

    Images over ``RANGE_SAMPLES`` pixels are sampled on a regular grid (every k-th row and
    column) first: the percentiles barely move and a 640×480 frame costs a quarter as much.

    A flat or empty image gets a tiny positive span (everything then has one colour).
    """
    return color_range_or_empty(values, vmin, vmax, kind)[0]


def color_range_or_empty(
    values: np.ndarray, vmin: float | None = None, vmax: float | None = None,
    kind: str = "depth",
) -> tuple[tuple[float, float], bool]:
    """color_range, and whether it had nothing to take a missing end from: no valid value in
    the picture, so the range is EMPTY_RANGE, made up (a scale bar says "no depth" instead)."""
    empty = False
    if vmin is None or vmax is None:
        full = values = np.asarray(values, dtype=np.float32)
        if values.ndim == 2 and values.size > RANGE_SAMPLES:  # a regular grid is plenty
            stride = math.ceil(math.sqrt(values.size / RANGE_SAMPLES))
            values = values[::stride, ::stride]
        finite = values[~invalid_mask(values, kind)]
        if finite.size:
            lo, hi = np.percentile(finite, ROBUST_PERCENTILES)
        else:  # the grid missed every valid pixel, or there is none
            lo, hi = EMPTY_RANGE
            empty = values is full or bool(invalid_mask(full, kind).all())
        vmin = float(lo) if vmin is None else float(vmin)
        vmax = float(hi) if vmax is None else float(vmax)
    vmin, vmax = float(vmin), float(vmax)
    if not vmax > vmin:
        vmax = vmin + _flat_span(vmin)
    return (vmin, vmax), empty


def _flat_span(value: float) -> float:
    """The span color_range gives a flat image (everything then has one colour)."""
    return max(abs(value), 1.0) * 1e-6


def is_flat_range(vmin: float, vmax: float) -> bool:
    """Whether ``[vmin, vmax]`` is color_range's widening of one value: nothing to tick there."""
    return math.isclose(vmax - vmin, _flat_span(vmin), rel_tol=1e-3)


def _lut_colours(lut: np.ndarray, fraction: np.ndarray, invalid: np.ndarray) -> np.ndarray:
    fraction = np.nan_to_num(fraction, nan=0.0, posinf=1.0, neginf=0.0)
    index = np.clip(fraction * 255.0, 0.0, 255.0).round().astype(np.uint8)
    # cv2's table lookup is ~5x faster than numpy fancy indexing on a camera frame.
    bgr = cv2.applyColorMap(index.reshape(index.shape[0], -1) if index.ndim else index.reshape(1, 1),
                            lut.reshape(256, 1, 3)).reshape(*index.shape, 3)
    bgr[invalid] = 0
    return bgr


def colorize(
    depth: np.ndarray,
    vmin: float | None = None,
    vmax: float | None = None,
    colormap: str = DEFAULT_COLORMAP,
    *,
    kind: str = "depth",
) -> np.ndarray:
    """float H×W depth in metres (or ``kind="disparity"``) → H×W×3 uint8 BGR, the convention.

    Near gets the colormap's last colour whichever the kind; ``vmin``/``vmax`` follow
    :func:`color_range`; invalid pixels are black. The input is not modified.
    """
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f"depth must be a 2-D H×W array, got shape {depth.shape}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    lut = colormap_lut(colormap)
    values = depth.astype(np.float32, copy=False)
    lo, hi = color_range(values, vmin, vmax, kind)
    with np.errstate(invalid="ignore"):
        fraction = (values - lo) / np.float32(hi - lo)
        nearness = 1.0 - fraction if kind == "depth" else fraction
    return _lut_colours(lut, nearness, invalid_mask(values, kind))


def colorize_error(rel_error: np.ndarray, vmax: float = ERROR_VMAX) -> np.ndarray:
    """H×W relative error (|pred − gt| / gt) → BGR with ``ERROR_COLORMAP``: 0 dark, ``vmax`` bright.

    Non-finite pixels (no ground truth) are black; errors above ``vmax`` are clipped.
    """
    rel_error = np.asarray(rel_error, dtype=np.float32)
    if rel_error.ndim != 2:
        raise ValueError(f"error map must be a 2-D H×W array, got shape {rel_error.shape}")
    if not vmax > 0:
        raise ValueError(f"error vmax must be positive, got {vmax}")
    with np.errstate(invalid="ignore"):
        fraction = rel_error / np.float32(vmax)
    return _lut_colours(colormap_lut(ERROR_COLORMAP), fraction, ~np.isfinite(rel_error))


def colour_ramp(colormap: str = DEFAULT_COLORMAP, kind: str = "depth", n: int = 256) -> np.ndarray:
    """n×3 uint8 BGR colours from the low to the high end of any range (for colour bars).

    ``kind`` is "depth" (low = near), "disparity" (low = far) or "error" (ERROR_COLORMAP);
    the colours do not depend on the range, only on where in it a value sits.
    """
    t = np.linspace(0.0, 1.0, n)
    if kind == "error":
        lut, fraction = colormap_lut(ERROR_COLORMAP), t
    elif kind in KINDS:
        lut, fraction = colormap_lut(colormap), (1.0 - t if kind == "depth" else t)
    else:
        raise ValueError(f"kind must be one of {KINDS + ('error',)}, got {kind!r}")
    return _lut_colours(lut, fraction, np.zeros(n, dtype=bool))


# ---- ticks ---------------------------------------------------------------------------------
_NICE_MANTISSAS = (1.0, 2.0, 2.5, 5.0)


def _multiple_range(lo: float, hi: float, step: float) -> range:
    """The integers i with i·step inside [lo, hi] (1e-9 tolerance)."""
    return range(math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9) + 1)


def _multiples(lo: float, hi: float, step: float) -> list[float]:
    return [float(f"{i * step:.12g}") for i in _multiple_range(lo, hi, step)]


def scale_ticks(vmin: float, vmax: float, min_ticks: int = 3) -> list[float]:
    """3–5 round values (1, 2, 2.5 or 5 × 10^k apart) inside ``[vmin, vmax]`` for a scale bar.

    The largest round step that still gives ``min_ticks`` wins. It never gives more than 5: six
    consecutive multiples of a step hold at least three of the next larger one. A degenerate
    range, or a flat image's (``is_flat_range``), gives ``[vmin]``.
    """
    span = vmax - vmin
    # a flat image's widened range: its ticks would read "5.000000 m, 5.000002 m, ..."
    if not (math.isfinite(vmin) and math.isfinite(vmax)) or is_flat_range(vmin, vmax) or (
            span <= 1e-9 * max(abs(vmin), abs(vmax), 1e-3)):
        return [float(vmin)]
    top = math.floor(math.log10(span))
    steps = sorted(m * 10.0**k for k in range(top - 2, top + 2) for m in _NICE_MANTISSAS)
    # counted before any tick is formatted: the small steps hold hundreds of multiples, and the
    # node draws a bar for every coloured frame
    best = next((step for step in reversed(steps)
                 if len(_multiple_range(vmin, vmax, step)) >= min_ticks), steps[0])
    return _multiples(vmin, vmax, best)


def tick_labels(ticks: list[float], unit: str = "") -> list[str]:
    """Labels with as many decimals as the spacing needs (0.5 m, 1.0 m, 1.5 m), plus ``unit``."""
    suffix = f" {unit}" if unit else ""
    if len(ticks) == 1:  # a flat image's one value (float32 noise beyond mm left out)
        return [f"{ticks[0]:.3f}".rstrip("0").rstrip(".") + suffix]
    step = min(abs(b - a) for a, b in itertools.pairwise(ticks)) if ticks else 1.0
    decimals = 0
    while decimals < 6 and abs(round(step, decimals) - step) > 1e-9 * max(step, 1e-12):
        decimals += 1
    return [f"{value:.{decimals}f}{suffix}" for value in ticks]


# ---- files ---------------------------------------------------------------------------------
def write_image_atomic(path: str | os.PathLike, image: np.ndarray) -> None:
    """Encode an image with cv2 (format from the suffix) and write it atomically."""
    path = Path(path)
    suffix = path.suffix or ".png"
    ok, encoded = cv2.imencode(suffix, image)
    if not ok:
        raise OSError(
            f"{path}: cv2 could not encode a {image.dtype} {image.shape} image as {suffix}"
        )
    write_bytes_atomic(path, encoded.tobytes())


def write_depth_png_mm(path: str | os.PathLike, depth: np.ndarray) -> None:
    """Save metric depth (metres, H×W) as a 16-bit PNG in millimetres, 0 = invalid; atomic."""
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f"{path}: depth must be a 2-D H×W array, got shape {depth.shape}")
    write_image_atomic(path, depth_to_millimetres(depth))
