"""Procedural textures evaluated at surface coordinates (metres), so no image assets are needed.

A texture is a pure function of a :class:`Material` and the (u, v) coordinates of hit points, so
the same surface point has the same colour from every camera pose (a moving camera sees a
consistent world). Patterns are built from hashed value noise; all maths is vectorised numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TEXTURE_KINDS = (
    "plain",
    "wood",
    "tiles",
    "wallpaper",
    "plaster",
    "fabric",
    "brick",
    "grass",
    "asphalt",
    "foliage",
    "bark",
    "concrete",
    "facade",
    "dirt",
)


@dataclass(frozen=True)
class Material:
    """What a surface looks like: a texture kind, two colours (RGB in 0..1), a pattern scale."""

    kind: str
    colour_a: tuple[float, float, float]
    colour_b: tuple[float, float, float]
    scale: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in TEXTURE_KINDS:
            raise ValueError(
                f"unknown texture kind {self.kind!r}; known: {', '.join(TEXTURE_KINDS)}"
            )


def _hash(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """A cheap integer hash of lattice coordinates → uniform floats in [0, 1)."""
    with np.errstate(over="ignore"):
        h = ix.astype(np.int64) * 374761393 + iy.astype(np.int64) * 668265263 + seed * 2246822519
        h = (h & 0xFFFFFFFF).astype(np.uint32)
        h = (h ^ (h >> np.uint32(13))) * np.uint32(1274126177)
        h = h ^ (h >> np.uint32(16))
    return h.astype(np.float32) * np.float32(1.0 / 4294967296.0)


def value_noise(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Smooth value noise in [0, 1): hashed lattice values, smoothstep-interpolated."""
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = (x - x0).astype(np.float32), (y - y0).astype(np.float32)
    fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
    ix, iy = x0.astype(np.int64), y0.astype(np.int64)
    v00, v10 = _hash(ix, iy, seed), _hash(ix + 1, iy, seed)
    v01, v11 = _hash(ix, iy + 1, seed), _hash(ix + 1, iy + 1, seed)
    top = v00 + (v10 - v00) * fx
    bottom = v01 + (v11 - v01) * fx
    return top + (bottom - top) * fy


def fbm(x: np.ndarray, y: np.ndarray, seed: int, octaves: int = 3) -> np.ndarray:
    """Fractal sum of value noise, normalised to [0, 1)."""
    total = np.zeros(np.shape(x), dtype=np.float32)
    amplitude, norm = 1.0, 0.0
    for octave in range(octaves):
        f = 2.0**octave
        total += amplitude * value_noise(x * f, y * f, seed + 101 * octave)
        norm += amplitude
        amplitude *= 0.5
    return total / norm


def _mix(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    return a[None, :] * (1.0 - w[:, None]) + b[None, :] * w[:, None]


def _grid_lines(x: np.ndarray, width: float) -> np.ndarray:
    """1 on thin lines at integer x (line width as a fraction of a cell), else 0."""
    frac = x - np.floor(x)
    return ((frac < width) | (frac > 1.0 - width)).astype(np.float32)


def albedo(material: Material, uv: np.ndarray) -> np.ndarray:
    """Surface colour (N, 3) float32 in [0, 1] of ``material`` at coordinates ``uv`` (N, 2)."""
    a = np.asarray(material.colour_a, dtype=np.float32)
    b = np.asarray(material.colour_b, dtype=np.float32)
    u = uv[:, 0] / material.scale
    v = uv[:, 1] / material.scale
    seed, kind = material.seed, material.kind
    if kind == "plain":
        w = 0.15 * fbm(u * 2, v * 2, seed, 2)
    elif kind == "wood":  # planks along u with wavy grain and per-plank tint
        plank = np.floor(v * 4.0)
        grain = np.sin(u * 25.0 + 6.0 * fbm(u * 0.7, v * 12.0 + plank * 7.3, seed, 2))
        plank_id = plank.astype(np.int64)
        w = 0.35 + 0.25 * grain + 0.3 * _hash(plank_id, plank_id, seed)
        w = np.maximum(w, 0.9 * _grid_lines(v * 4.0, 0.02))
    elif kind == "tiles":  # square tiles, grout lines, per-tile variation
        ti, tj = np.floor(u * 3.0), np.floor(v * 3.0)
        w = 0.25 * _hash(ti.astype(np.int64), tj.astype(np.int64), seed)
        checker = ((ti + tj) % 2).astype(np.float32)
        w = w + 0.4 * checker * (seed % 2)
        grout = np.maximum(_grid_lines(u * 3.0, 0.03), _grid_lines(v * 3.0, 0.03))
        w = np.where(grout > 0, 1.0, w)
    elif kind == "wallpaper":  # vertical stripes with a dot pattern
        stripes = (np.sin(u * 2 * np.pi * 3.0) > 0.3).astype(np.float32)
        dots = ((np.sin(u * 40.0) * np.sin(v * 40.0)) > 0.85).astype(np.float32)
        w = np.clip(0.7 * stripes + 0.5 * dots + 0.1 * fbm(u * 3, v * 3, seed, 2), 0, 1)
    elif kind == "plaster":
        w = 0.3 * fbm(u * 4, v * 4, seed, 3)
    elif kind == "fabric":
        weave = 0.5 + 0.25 * np.sin(u * 40.0) + 0.25 * np.sin(v * 40.0)
        w = 0.4 * weave + 0.3 * fbm(u * 3, v * 3, seed, 2)
    elif kind == "brick":  # running bond: every other row shifted by half a brick
        row = np.floor(v * 6.0)
        shifted = u * 3.0 + 0.5 * (row % 2)
        mortar = np.maximum(_grid_lines(v * 6.0, 0.06), _grid_lines(shifted, 0.03))
        w = 0.3 * _hash(np.floor(shifted).astype(np.int64), row.astype(np.int64), seed)
        w = np.where(mortar > 0, 1.0, w + 0.15 * fbm(u * 10, v * 10, seed, 2))
    elif kind in ("grass", "foliage", "dirt"):
        w = fbm(u * 6.0, v * 6.0, seed, 4)
        w = np.clip((w - 0.25) * 1.6, 0, 1)
    elif kind == "asphalt":
        w = 0.5 * fbm(u * 20.0, v * 20.0, seed, 2) + 0.5 * fbm(u * 0.5, v * 0.5, seed + 7, 2)
    elif kind == "bark":
        w = fbm(u * 8.0, v * 0.8, seed, 3)
    elif kind == "concrete":
        w = 0.6 * fbm(u * 2.0, v * 2.0, seed, 3) + 0.2 * _grid_lines(u * 0.5, 0.01)
    else:  # facade: a grid of windows (colour_b) on a wall (colour_a)
        fu, fv = u - np.floor(u), v - np.floor(v)
        window = ((fu > 0.25) & (fu < 0.75) & (fv > 0.3) & (fv < 0.8)).astype(np.float32)
        w = np.maximum(window, 0.2 * fbm(u * 4, v * 4, seed, 2))
    return np.clip(_mix(a, b, w.astype(np.float32)), 0.0, 1.0)
