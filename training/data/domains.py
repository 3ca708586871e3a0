"""The two synthetic domains: random indoor rooms and random outdoor streets.

They are deliberately different in look and geometry, so "train on indoor, test zero-shot on
outdoor" is a real domain gap (issue 4, ablation): indoor has closed rooms (every pixel valid,
0.4–10 m, wood / tiles / wallpaper, warm lamps), outdoor has open ground with buildings and
trees up to 80 m, a sky that is invalid depth (NaN), sunlight and haze.
Everything is drawn from one ``numpy.random.Generator``, so a seed fully determines a scene.
"""

from __future__ import annotations

import numpy as np

from depth_anything_ros.training.data.primitives import Box, Cylinder, Primitive, Rect, Sphere
from depth_anything_ros.training.data.scene import DirectionalLight, PointLight, Scene, Sky
from depth_anything_ros.training.data.textures import Material

DOMAINS = ("indoor", "outdoor")


def _colour(
    rng: np.random.Generator, lo: float = 0.15, hi: float = 0.9
) -> tuple[float, float, float]:
    return tuple(float(c) for c in rng.uniform(lo, hi, 3))


def _tint(rng: np.random.Generator, base: tuple[float, float, float], spread: float) -> tuple:
    return tuple(float(np.clip(c + rng.uniform(-spread, spread), 0.02, 1.0)) for c in base)


def _material(
    rng: np.random.Generator, kinds: tuple[str, ...], base=None, spread=0.12, scale=(0.6, 1.6)
):
    kind = str(rng.choice(kinds))
    a = _tint(rng, base, spread) if base is not None else _colour(rng)
    b = _tint(rng, a, 0.35)
    return Material(kind, a, b, float(rng.uniform(*scale)), int(rng.integers(1 << 30)))


def _overlaps(x: float, y: float, radius: float, region: tuple[float, float, float, float]) -> bool:
    x0, x1, y0, y1 = region
    return x0 - radius < x < x1 + radius and y0 - radius < y < y1 + radius


def make_indoor_scene(seed: int) -> Scene:
    """A closed room (floor, ceiling, four walls) with furniture along the walls and lamps."""
    rng = np.random.default_rng([seed, 0])
    length, width, height = rng.uniform(3.5, 10.0), rng.uniform(3.0, 8.0), rng.uniform(2.4, 3.4)
    hx, hy = length / 2, width / 2
    floor = _material(
        rng, ("wood", "tiles", "fabric", "concrete"), base=(0.55, 0.4, 0.28), spread=0.25
    )
    wall = _material(
        rng, ("wallpaper", "plaster", "brick", "tiles"), base=(0.75, 0.72, 0.65), spread=0.2
    )
    accent = _material(rng, ("wallpaper", "brick", "wood", "plaster"))
    ceiling = Material(
        "plaster",
        _tint(rng, (0.9, 0.9, 0.88), 0.06),
        (0.8, 0.8, 0.78),
        1.0,
        int(rng.integers(1 << 30)),
    )
    pad = 0.01  # walls overlap slightly so no ray escapes through a corner
    prims: list[Primitive] = [
        Rect((0, 0, 0), (1, 0, 0), (0, 1, 0), hx + pad, hy + pad, floor),
        Rect((0, 0, height), (1, 0, 0), (0, 1, 0), hx + pad, hy + pad, ceiling),
    ]
    accent_wall = int(rng.integers(4))
    for index, (cx, cy, axis, half) in enumerate(
        [
            (hx, 0, (0, 1, 0), hy),
            (-hx, 0, (0, 1, 0), hy),
            (0, hy, (1, 0, 0), hx),
            (0, -hy, (1, 0, 0), hx),
        ]
    ):
        material = accent if index == accent_wall else wall
        prims.append(
            Rect((cx, cy, height / 2), axis, (0, 0, 1), half + pad, height / 2 + pad, material)
        )

    for _ in range(int(rng.integers(1, 5))):  # doors, windows, pictures: thin boxes on walls
        w, h = rng.uniform(0.4, 1.4), rng.uniform(0.4, 2.0)
        z = rng.uniform(h / 2, height - h / 2)
        if rng.random() < 0.5:
            pos, half = (
                (float(rng.choice([-hx, hx])), rng.uniform(-hy + w, hy - w) if hy > w else 0.0),
                (0.03, w / 2, h / 2),
            )
        else:
            pos, half = (
                (rng.uniform(-hx + w, hx - w) if hx > w else 0.0, float(rng.choice([-hy, hy]))),
                (w / 2, 0.03, h / 2),
            )
        prims.append(
            Box((pos[0], pos[1], z), half, 0.0, _material(rng, ("plain", "wood", "fabric")))
        )

    free = (-max(0.3, hx - 1.4), max(0.3, hx - 1.4), -max(0.3, hy - 1.4), max(0.3, hy - 1.4))
    for _ in range(int(rng.integers(3, 10))):
        kind = rng.choice(
            ["table", "cabinet", "sofa", "lamp", "bin", "ball"], p=[0.25, 0.25, 0.2, 0.1, 0.1, 0.1]
        )
        size = {"table": (0.5, 1.0, 0.7), "cabinet": (0.3, 0.7, 2.0), "sofa": (0.5, 1.1, 0.8)}.get(
            kind, (0.3, 0.3, 1.0)
        )
        sx, sy = rng.uniform(0.5, 1.0) * size[0], rng.uniform(0.5, 1.0) * size[1]
        radius = float(np.hypot(sx, sy))
        for _attempt in range(20):
            x, y = rng.uniform(-hx + 0.2, hx - 0.2), rng.uniform(-hy + 0.2, hy - 0.2)
            if not _overlaps(x, y, radius + 0.1, free):
                break
        else:
            continue
        colour_material = _material(rng, ("wood", "fabric", "plain", "plaster"))
        if kind in ("table", "cabinet", "sofa"):
            h = rng.uniform(0.6, 1.0) * size[2]
            prims.append(
                Box((x, y, h / 2), (sx, sy, h / 2), float(rng.uniform(0, np.pi)), colour_material)
            )
        elif kind == "lamp":
            h = rng.uniform(1.2, 1.8)
            prims.append(Cylinder((x, y, 0.0), 0.03, h, _material(rng, ("plain",))))
            prims.append(
                Sphere((x, y, h + 0.15), 0.2, Material("plain", (0.95, 0.9, 0.75), (1, 1, 0.9)))
            )
        elif kind == "bin":
            prims.append(
                Cylinder(
                    (x, y, 0.0), rng.uniform(0.15, 0.35), rng.uniform(0.3, 0.9), colour_material
                )
            )
        else:
            r = rng.uniform(0.1, 0.35)
            prims.append(Sphere((x, y, r), r, colour_material))

    lights: list = [
        PointLight(
            (rng.uniform(-hx, hx) * 0.6, rng.uniform(-hy, hy) * 0.6, height - 0.2),
            _tint(rng, (0.75, 0.65, 0.5), 0.1),
            float(rng.uniform(2.5, 5.0)),
        )
        for _ in range(int(rng.integers(1, 3)))
    ]
    if rng.random() < 0.5:  # daylight through a window
        lights.append(
            DirectionalLight(tuple(rng.normal(size=3)), _tint(rng, (0.3, 0.3, 0.32), 0.08))
        )
    return Scene(
        domain="indoor",
        seed=seed,
        primitives=prims,
        ambient=_tint(rng, (0.35, 0.33, 0.3), 0.08),
        lights=lights,
        max_depth=float("inf"),
        free_region=free,
        camera_height=(0.4, min(1.8, height - 0.4)),
    )


def make_outdoor_scene(seed: int) -> Scene:
    """Open ground with a road, buildings, trees and rocks; sky and anything past 80 m is NaN."""
    rng = np.random.default_rng([seed, 1])
    ground = _material(
        rng, ("grass", "dirt", "concrete"), base=(0.35, 0.45, 0.2), spread=0.15, scale=(1.0, 4.0)
    )
    road_half = rng.uniform(2.0, 5.0)
    road = Material(
        "asphalt",
        _tint(rng, (0.33, 0.33, 0.35), 0.08),
        _tint(rng, (0.2, 0.2, 0.22), 0.05),
        1.0,
        int(rng.integers(1 << 30)),
    )
    prims: list[Primitive] = [
        Rect((0, 0, 0), (1, 0, 0), (0, 1, 0), np.inf, np.inf, ground),
        Rect((0, 0, 0.005), (1, 0, 0), (0, 1, 0), np.inf, road_half, road),
    ]
    free = (-80.0, 80.0, -road_half - 1.0, road_half + 1.0)

    def place(radius: float, y_max: float) -> tuple[float, float]:
        side = rng.choice([-1.0, 1.0])
        y = side * rng.uniform(free[3] + radius + 0.5, max(free[3] + radius + 1.0, y_max))
        return float(rng.uniform(-75, 75)), float(y)

    for _ in range(int(rng.integers(6, 20))):  # buildings
        sx, sy, h = rng.uniform(3, 12), rng.uniform(3, 12), rng.uniform(4, 30)
        x, y = place(float(np.hypot(sx, sy)), 60.0)
        facade = Material(
            "facade",
            _colour(rng, 0.3, 0.85),
            _tint(rng, (0.15, 0.2, 0.3), 0.1),
            float(rng.uniform(2.5, 4.0)),
            int(rng.integers(1 << 30)),
        )
        prims.append(Box((x, y, h / 2), (sx, sy, h / 2), float(rng.uniform(0, np.pi)), facade))
    for _ in range(int(rng.integers(10, 40))):  # trees
        r_canopy, trunk_h = rng.uniform(1.2, 3.5), rng.uniform(1.5, 5.0)
        x, y = place(r_canopy, 40.0)
        prims.append(
            Cylinder(
                (x, y, 0.0),
                rng.uniform(0.12, 0.4),
                trunk_h,
                _material(rng, ("bark",), base=(0.35, 0.25, 0.15), scale=(0.5, 1.0)),
            )
        )
        prims.append(
            Sphere(
                (x, y, trunk_h + 0.8 * r_canopy),
                r_canopy,
                _material(rng, ("foliage",), base=(0.2, 0.4, 0.15), spread=0.1, scale=(0.3, 1.0)),
            )
        )
    for _ in range(int(rng.integers(0, 8))):  # rocks, half buried
        r = rng.uniform(0.3, 1.5)
        x, y = place(r, 30.0)
        prims.append(
            Sphere(
                (x, y, -0.3 * r), r, _material(rng, ("concrete", "dirt"), base=(0.5, 0.48, 0.45))
            )
        )
    for _ in range(int(rng.integers(0, 6))):  # poles and parked cars beside the road
        x, y = place(0.3, free[3] + 2.5)
        if rng.random() < 0.5:
            prims.append(
                Cylinder(
                    (x, y, 0.0), 0.08, rng.uniform(3, 8), _material(rng, ("plain", "concrete"))
                )
            )
        else:
            prims.append(
                Box((x, y, 0.75), (2.2, 0.9, 0.75), 0.0, _material(rng, ("plain",), scale=(1, 2)))
            )

    overcast = rng.random() < 0.3
    zenith = _tint(rng, (0.6, 0.62, 0.65), 0.05) if overcast else _tint(rng, (0.3, 0.5, 0.9), 0.1)
    horizon = _tint(rng, (0.8, 0.82, 0.85), 0.05)
    elevation, azimuth = rng.uniform(0.25, 1.2), rng.uniform(0, 2 * np.pi)
    sun = (
        np.cos(elevation) * np.cos(azimuth),
        np.cos(elevation) * np.sin(azimuth),
        np.sin(elevation),
    )
    sun_strength = 0.35 if overcast else rng.uniform(0.7, 1.0)
    return Scene(
        domain="outdoor",
        seed=seed,
        primitives=prims,
        ambient=_tint(rng, (0.35, 0.38, 0.45), 0.06),
        lights=[
            DirectionalLight(
                tuple(float(c) for c in sun), tuple(sun_strength * c for c in (1.0, 0.95, 0.85))
            )
        ],
        sky=Sky(zenith, horizon, float(rng.uniform(0.0, 0.6)), int(rng.integers(1 << 30))),
        fog_colour=horizon,
        fog_distance=float(rng.uniform(80, 400)),
        max_depth=80.0,
        free_region=free,
        camera_height=(1.0, 3.0),
    )


def make_scene(domain: str, seed: int) -> Scene:
    """The scene with this ``seed`` in ``domain`` ("indoor" or "outdoor"); deterministic."""
    if domain == "indoor":
        return make_indoor_scene(int(seed))
    if domain == "outdoor":
        return make_outdoor_scene(int(seed))
    raise ValueError(f"unknown synthetic domain {domain!r}; use one of {', '.join(DOMAINS)}")
