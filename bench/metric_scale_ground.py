"""The ground-plane sections of `bench/metric_scale.py` (see its docstring): a known camera
height on held-out synthetic rooms (one view each, then drives through the node's corrector)
and on real TUM frames (height and floor normal from the motion capture).

Each section returns table rows (`ground_row`): mean abs_rel / δ1 of the raw prediction, the
median oracle and the ground-plane anchored depth (a refused fit is served unscaled, as the
node does), over all frames and over those whose view is at least `FLOOR_IN_VIEW` floor.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

# A room "shows the floor" when at least this share of its pixels is floor. Below it (a camera
# high up and level, furniture in front) the largest level surface in view can be a table top.
FLOOR_IN_VIEW = 0.05
DRIVE_FRAMES = 20
# One view per room for `rooms` rooms, drives through the first `drives` of them (a drive is 20
# predictions, so 24 drives take as long as ~500 views). The ground bar is a mean over
# rooms whose per-room gap is heavy-tailed (a few views with no floor, where the model's own
# scale is far off, weigh as much as dozens of good ones): 24 rooms (the bench's sample until
# 2026-11-30) left a standard error of ~0.017 on a bar of 0.03, 100 rooms (until 2026-12-01)
# ~0.009, and blocks of 100 rooms ranged 0.004–0.070 about a mean of 0.032 (the model shipped
# on the morning of 2026-12-01; 0.029 with run K, shipped since). 1000 rooms (~6 min on 2
# cores) leave ~0.004; the standard error is printed with the bar.
ROOMS = 1000
DRIVES = 24


def ground_section(estimator, quick: bool, rooms: int = ROOMS, first_room: int = 0,
                   drives: int = DRIVES, out=None, **_) -> list[dict]:
    """Ground-plane anchoring on held-out synthetic rooms rendered with a known camera height
    and pitch (test-split scene seeds; 256×192, hfov 50–90°, pitch 0–30° down): one view per
    room, then a drive through each of the first `drives` rooms as the node sees it. Rooms
    `first_room` on (the bench's own are 0–999; others are further held-out samples). With `out`
    (a folder), also ``metric_scale_ground.png``: each room's abs_rel per column against its
    share of floor, and each floor-share bin's part of the bar's gap."""
    from tqdm import tqdm

    from depth_anything_ros.metrics import depth_metrics, median_scale
    from depth_anything_ros.scale import GroundPlane, ScaleSettings, fit_ground_plane
    from depth_anything_ros.scale.ground_plane import ray_down

    rooms = max(4, rooms // (10 if quick else 1))
    drives = max(2, min(drives, rooms) // (4 if quick else 1))
    deployed = ScaleSettings(source="ground_plane").ground_config()
    one_scale = ScaleSettings(source="ground_plane", scale_model="scale").ground_config()
    unlimited = ScaleSettings(source="ground_plane", ground_max_correction=0).ground_config()
    per_room: list[dict] = []  # each room's metrics per column, and its share of floor pixels
    indices = range(first_room, first_room + rooms)
    for index in tqdm(indices, desc="rooms", unit="room"):
        room = _GroundRoom(index)
        rgb, gt = room.render()
        pred = estimator.predict(rgb, fx=room.k[0]).values
        mask = np.isfinite(gt) & (gt > 0)
        plane = GroundPlane.from_pitch_roll(room.height, room.pitch)
        fit = fit_ground_plane(pred, plane, relative=False, rays=room.rays, config=deployed)
        plain = fit_ground_plane(pred, plane, relative=False, rays=room.rays, config=one_scale)
        free = fit_ground_plane(pred, plane, relative=False, rays=room.rays, config=unlimited)
        # The true floor's pixels: their points lie camera_height below the camera (within 2 cm)
        floor = mask & (np.abs(gt * ray_down(room.rays, plane.up) - room.height) < 0.02)
        metrics = _scored(pred, gt, mask, fit.apply(pred) if fit.ok else None)
        metrics.update(floor_share=float(floor.mean()), line=fit.ok and fit.span is not None,
                       ground_scale=depth_metrics(plain.apply(pred) if plain.ok else pred, gt,
                                                  mask),
                       ground_unlimited=depth_metrics(free.apply(pred) if free.ok else pred, gt,
                                                      mask))
        if floor.sum() >= 100:  # the best any floor-based scale can do: median(gt/pred) there
            metrics["floor_oracle"] = depth_metrics(pred * median_scale(pred, gt, floor), gt,
                                                    mask)
        per_room.append(metrics)
    in_view = [r for r in per_room if r["floor_share"] >= FLOOR_IN_VIEW]
    frames = 5 if quick else DRIVE_FRAMES
    if out is not None:
        plot_rooms(per_room, out / "metric_scale_ground.png")
        print(f"wrote {out / 'metric_scale_ground.png'}")
    which = f"{rooms} rooms" + (f" ({first_room}–{first_room + rooms - 1})" if first_room else "")
    return [ground_row(f"ground plane, {which}", per_room),
            ground_row(f"  floor ≥ {FLOOR_IN_VIEW:.0%} of view, {len(in_view)}", in_view),
            ground_row(f"  {drives} drives × {frames} frames",
                       _drives(estimator, indices[:drives], frames))]


# Bins of the share of the view that is floor, for the plot's right panel
FLOOR_BINS = (0.0, FLOOR_IN_VIEW, 0.15, 0.3, 0.5, 1.0)


def plot_rooms(per_room: list[dict], path) -> None:
    """Left: each room's abs_rel against its share of floor, as deployed (refused rooms
    crossed), with no limit on the floor's correction, and the median oracle. Right: where the
    bar's gap comes from: each bin of floor share's sum of (as deployed − median oracle) over
    all rooms, so the bars add up to the bar's figure."""
    from depth_anything_ros.training.plots import plt, save_figure

    share = np.array([r["floor_share"] for r in per_room])
    column = {c: np.array([r[c]["abs_rel"] for r in per_room])
              for c in ("ground_unlimited", "ground", "median_oracle")}
    refused = np.array([r["refused"] for r in per_room])
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5),
                                      gridspec_kw={"width_ratios": [1.6, 1]})
    left.plot(share, column["ground_unlimited"], "v", color="tab:orange", markersize=3,
              alpha=0.5, label="ground plane, no limit")
    left.plot(share, column["median_oracle"], "_", color="tab:red", markersize=6,
              label="median oracle")
    left.plot(share, column["ground"], "s", color="tab:green", markersize=3, alpha=0.7,
              label="ground plane as deployed")
    left.plot(share[refused], column["ground"][refused], "kx", markersize=5,
              label="refused: served unscaled")
    left.axvline(FLOOR_IN_VIEW, color="grey", lw=0.8)
    left.set_xscale("symlog", linthresh=FLOOR_IN_VIEW)
    left.set(xlim=(0, 1), yscale="log", ylabel="abs_rel (log)",
             xlabel=f"share of the view that is floor (left of the line: < {FLOOR_IN_VIEW:.0%})",
             title=f"ground plane, one view in each of {len(per_room)} held-out rooms")
    left.legend(fontsize=8)
    edges = np.array(FLOOR_BINS)
    which = np.clip(np.searchsorted(edges, share, side="right") - 1, 0, len(edges) - 2)
    x = np.arange(len(edges) - 1)
    gap = column["ground"] - column["median_oracle"]
    parts = np.array([np.sum(gap[which == i]) / len(per_room) for i in x])
    right.bar(x, parts, color="tab:green")
    for i, part in zip(x, parts):
        right.annotate(f"{part:.3f}", (i, part), ha="center",
                       va="bottom" if part >= 0 else "top", fontsize=8)
    right.axhline(0.0, color="grey", lw=0.8)
    right.set_xticks(x, [f"{edges[i]:.0%}–{edges[i + 1]:.0%}\n{np.sum(which == i)} rooms"
                         for i in x], fontsize=8)
    right.set(ylabel="the bin's part of the mean gap", xlabel="floor share of the view",
              title=f"where the gap ({gap.mean():.3f}) to the median oracle comes from")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path)


class _GroundRoom:
    """A held-out room and a camera in it at a known height and pitch; `step` drives it on."""

    def __init__(self, index: int) -> None:
        from depth_anything_ros.geometry.camera import CameraIntrinsics
        from depth_anything_ros.scale import pixel_rays
        from depth_anything_ros.training.data.domains import make_scene
        from depth_anything_ros.training.data.scene import intrinsics_from_fov
        from depth_anything_ros.training.data.synthetic import frame_seed

        self.scene = make_scene("indoor", frame_seed("test", index))
        self.rng = np.random.default_rng(index)
        x0, x1, y0, y1 = self.scene.free_region
        self.height = self.rng.uniform(*self.scene.camera_height)
        self.pitch = self.rng.uniform(0.0, 30.0)
        self.position = np.array([self.rng.uniform(x0, x1), self.rng.uniform(y0, y1)])
        self.yaw = self.rng.uniform(-np.pi, np.pi)
        self.k = intrinsics_from_fov(256, 192, self.rng.uniform(50.0, 90.0))
        self.rays = pixel_rays(CameraIntrinsics(*self.k, 256, 192), 192, 256)

    def render(self) -> tuple[np.ndarray, np.ndarray]:
        from depth_anything_ros.training.data.scene import CameraPose

        pose = CameraPose.from_yaw_pitch((*self.position, self.height), self.yaw,
                                         np.radians(-self.pitch))
        return self.scene.render(pose, self.k, 256, 192)

    def step(self, metres: float) -> None:
        """Drive `metres` on, turning a little; turn back at the free region's edge."""
        x0, x1, y0, y1 = self.scene.free_region
        self.yaw += self.rng.normal(0.0, 0.12)
        ahead = self.position + metres * np.array([np.cos(self.yaw), np.sin(self.yaw)])
        if x0 <= ahead[0] <= x1 and y0 <= ahead[1] <= y1:
            self.position = ahead
        else:
            self.yaw += np.pi * self.rng.uniform(0.6, 1.0) * self.rng.choice([-1, 1])


def _drives(estimator, rooms: range, frames: int) -> list[dict]:
    """Each room driven through at 1 m/s, 10 frames/s, the camera at its fixed mount, through
    the node's `ScaleCorrector` with its default settings (0.3 s smoothing; a frame with no
    floor holds the scale, then falls back to the model's): per-frame metrics; and again with
    no limit on the floor's correction (`ground_unlimited`)."""
    from tqdm import tqdm

    from depth_anything_ros.metrics import depth_metrics
    from depth_anything_ros.scale import ScaleCorrector, ScaleSettings

    out = []
    for index in tqdm(rooms, desc="drives", unit="room"):
        room = _GroundRoom(index)
        settings = ScaleSettings(source="ground_plane", camera_height=room.height,
                                 camera_pitch_deg=room.pitch)
        corrector = ScaleCorrector(settings, relative=False)
        free = ScaleCorrector(replace(settings, ground_max_correction=0), relative=False)
        for frame in range(frames):
            rgb, gt = room.render()
            pred = estimator.predict(rgb, fx=room.k[0]).values
            served = corrector.correct(pred, 0.1 * frame, rays=room.rays)
            mask = np.isfinite(gt) & (gt > 0)
            metrics = _scored(pred, gt, mask, served.depth)
            metrics["refused"] = served.state != "anchored"
            metrics["ground_unlimited"] = depth_metrics(
                free.correct(pred, 0.1 * frame, rays=room.rays).depth, gt, mask)
            out.append(metrics)
            room.step(0.1)
    return out


def tum_ground_section(estimator, quick: bool, **_) -> list[dict]:
    """The ground plane on real frames: TUM fr1_rpy with each frame's camera height and floor
    normal from the motion capture (`TumFloor`), the lens's own rays (K + D, as the node gets
    them from CameraInfo), the deployed fit. A handheld camera 1.5 m up over a desk: most views
    show the desk top and little floor, the case a known camera height handles worst."""
    from depth_anything_ros.geometry.camera import CameraIntrinsics
    from depth_anything_ros.geometry.camera_model import Calibration, resolve_camera
    from depth_anything_ros.metrics import depth_metrics
    from depth_anything_ros.scale import (GroundPlane, ScaleSettings, camera_geometry,
                                          fit_ground_plane, pixel_rays)
    from depth_anything_ros.scale.ground_plane import angle_deg, ray_down
    from depth_anything_ros.training.data.tum import (TUM_DEPTH_REGISTRATION_INTRINSICS,
                                                      TUM_FR1_DISTORTION, TUM_FR1_INTRINSICS,
                                                      TumAccelerometer, TumDataset, TumFloor,
                                                      default_tum_dir)
    from depth_anything_ros.training.stages.evaluate import evaluate_estimator

    fx, fy, cx, cy = TUM_FR1_INTRINSICS
    lens = resolve_camera(Calibration(640, 480, "plumb_bob", TUM_FR1_DISTORTION,
                                      (fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0),
                                      p=(fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0)),
                          640, 480)
    intrinsics, rays = camera_geometry(lens)
    depth_rays = pixel_rays(CameraIntrinsics(*TUM_DEPTH_REGISTRATION_INTRINSICS, 640, 480),
                            480, 640)
    config = ScaleSettings(source="ground_plane").ground_config()
    unlimited = replace(config, max_correction=0)
    floors = TumFloor(default_tum_dir())
    rows = []
    for split, name in (("test", "TUM tail"), ("train", "TUM first 80 %")):
        every = 4 if quick else 1
        stamps = TumDataset(default_tum_dir(), split=split, every=every).timestamps
        imu_up = TumAccelerometer(default_tum_dir()).floor_normals([float(t) for t in stamps])
        if None in imu_up:
            raise RuntimeError(f"{name}: a frame with no usable accelerometer reading")
        frames: list[dict] = []
        imu_frames: list[dict] = []  # the same frames, the floor's normal from the accelerometer

        def score(index, prediction, sample, mask, **_):
            pose = floors.at(float(stamps[index]))
            if pose is None:  # a gap in the motion capture: no floor to check against
                return
            height, up = pose
            depth = np.where(mask, sample["depth"], np.nan)
            below = depth * ray_down(depth_rays, up)
            floor_share = float(np.mean(mask & (np.abs(below - height) < 0.05)))
            for normal, into in ((up, frames), (imu_up[index], imu_frames)):
                fit, free = (fit_ground_plane(prediction, GroundPlane(height, normal),
                                              relative=False, intrinsics=intrinsics, rays=rays,
                                              config=c) for c in (config, unlimited))
                metrics = _scored(prediction, depth, mask,
                                  fit.apply(prediction) if fit.ok else None)
                metrics["ground_unlimited"] = depth_metrics(
                    free.apply(prediction) if free.ok else prediction, depth, mask)
                metrics.update(line=fit.ok and fit.span is not None, floor_share=floor_share)
                into.append(metrics)
            imu_frames[-1]["normal_error"] = angle_deg(imu_up[index], up)

        evaluate_estimator(estimator, f"tum:default?split={split}&every={every}", on_frame=score)
        for label, chosen in (("ground plane", frames), ("IMU normal", imu_frames)):
            in_view = [f for f in chosen if f["floor_share"] >= FLOOR_IN_VIEW]
            rows += [ground_row(f"{name}, {label}", chosen),
                     ground_row(f"  floor ≥ {FLOOR_IN_VIEW:.0%} of view, {len(in_view)}",
                                in_view)]
    return rows


def _scored(prediction: np.ndarray, gt: np.ndarray, mask: np.ndarray,
            anchored: np.ndarray | None) -> dict:
    """One frame's raw, median-oracle and ground-plane metrics; `anchored` None = the fit was
    refused and the frame is served unscaled (as the node does)."""
    from depth_anything_ros.metrics import depth_metrics, median_scale

    return {"refused": anchored is None,
            "raw": depth_metrics(prediction, gt, mask),
            "median_oracle": depth_metrics(prediction * median_scale(prediction, gt, mask), gt,
                                           mask),
            "ground": depth_metrics(prediction if anchored is None else anchored, gt, mask)}


def ground_row(name: str, frames: list[dict]) -> dict:
    """Mean abs_rel / δ1 per column over `frames` (a column over the frames that have it), and
    the standard error of the mean gap between the ground plane and the median oracle
    (`gap_se`: the frames' gaps differ a lot, so a mean over few of them is a rough one)."""
    from depth_anything_ros.metrics import mean_metrics

    row = {"name": name, "n": len(frames), "refused": sum(f["refused"] for f in frames),
           "floor_oracle_rooms": sum("floor_oracle" in f for f in frames),
           "line_rooms": sum(f.get("line", False) for f in frames)}
    for column in ("raw", "median_oracle", "floor_oracle", "ground", "ground_scale",
                   "ground_unlimited"):
        per_image = [f[column] for f in frames if column in f]
        mean = mean_metrics(per_image) if per_image else {"abs_rel": None, "delta1": None}
        row[f"{column}_abs_rel"], row[f"{column}_delta1"] = mean["abs_rel"], mean["delta1"]
    errors = [f["normal_error"] for f in frames if "normal_error" in f]
    if errors:  # the floor's normal measured, not given: how far off
        row["normal_error_median"] = float(np.median(errors))
        row["normal_error_p90"] = float(np.percentile(errors, 90))
    gaps = [f["ground"]["abs_rel"] - f["median_oracle"]["abs_rel"] for f in frames]
    row["gap_se"] = float(np.std(gaps, ddof=1) / np.sqrt(len(gaps))) if len(gaps) > 1 else None
    return row
