"""Metric scale of a model on held-out data (issue 11): what the lens does to it, what the focal
correction, a sparse depth sensor, a known camera height and smoothing buy, and how much the
scale wobbles from frame to frame.

    python bench/metric_scale.py [--weights W] [--quick]
        [--sections fov,synthetic,ground,tum,tumground] [--rooms N --first-room I --drives N]
        [--via-bag] [--smoothing 0.3 1 3] [--out DIR] [--json]

Sections (one function each, returning table rows; ground and tumground live in
`metric_scale_ground.py`):

  fov        held-out synthetic rooms (synthetic:indoor:test, n=40, 256 px) through lenses of
             40°…110°, the same scenes and poses; writes ``metric_scale_fov.png`` into --out
  synthetic  the shipped model's synthetic bar: synthetic:indoor:test, 50 images, random FOV
  ground     held-out synthetic rooms rendered with a known camera height and pitch: raw, median
             oracle, floor oracle (median(gt/pred) over the true floor's pixels: the best any
             floor-based scale can do with this model) and ground-plane anchored
             (`scale.fit_ground_plane` as deployed, scale_model "scale_shift": a line through
             the floor's depths where it explains more of them; and with one scale); over all
             rooms (1000: test-split rooms 0-999), again over the rooms whose view is at least 5 %
             floor, and over drives: 20 frames in each of the first 24 rooms at 10 Hz through
             the node's ScaleCorrector (0.3 s smoothing); the bar's gap is printed with its
             standard error over the rooms
  tumground  the ground plane on real frames: TUM fr1_rpy, its tail and its first 80 % (which
             the shipped model was fine-tuned on: raw figures there flatter it; the comparison
             with the oracle on the same frames does not), with each frame's camera height and
             floor normal from the motion capture; all frames, and those whose view is ≥ 5 %
             floor; then again with the floor's normal from the Kinect's own accelerometer
             (`ground_normal: imu` as the node runs it), with its angle to the motion capture's
             (normal°: median, nrm°p90: 90th percentile)
  tum        the held-out last 20 % of TUM fr1_rpy (real Kinect frames, never trained on; CC BY
             4.0, Sturm et al., IROS 2012) through `train evaluate`, plus the temporal filter at
             each --smoothing time constant; with --via-bag also through
             `depth-anything-ros bag` on a bag of the tail frames with their CameraInfo (raw, and
             with --sparse-depth-topic at the default 0.3 s smoothing)

Columns (evaluate's, `training/stages/evaluate.py`): raw (the network's metres), focal (× f/f_c
from the camera's fx), median_oracle (each frame rescaled by median(gt/pred): a bound no per-frame
*scale* beats), anchored (the node's default robust fit per frame from a simulated sparse sensor,
3 scan lines of the depth, every 8th column: a scale, or depth = scale·p + shift where that line
explains more anchors, which can beat the median oracle). ``scale`` is the geometric mean of
median(gt/pred) (1 = right, > 1 = reads too near) and ``jitter`` the std of its log; ``applied
jitter`` the std of log of the factor the anchoring applied (median(anchored / prediction)).
The closing table checks issue 11's bars.
Figures are accuracy, not time, so machine load does not change them.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from metric_scale_ground import ROOMS, ground_section, tum_ground_section  # noqa: E402

FOV_SWEEP_DEG = (40, 45, 50, 60, 70, 80, 90, 100, 110)


def _row(name: str, metrics: dict, **extra) -> dict:
    """One table row from an `evaluate_estimator` result: abs_rel and δ1 per column (None where
    a column does not apply), the deployed scale and jitter, the anchoring's."""
    from depth_anything_ros.training.stages.evaluate import COLUMNS

    row = {"name": name, "n": metrics["n_images"], **extra}
    for column in COLUMNS:
        values = metrics.get(column) or {}
        row[f"{column}_abs_rel"] = values.get("abs_rel")
        row[f"{column}_delta1"] = values.get("delta1")
    deployed = metrics.get(metrics.get("deployed", "raw")) or metrics
    row["scale"], row["jitter"] = deployed.get("scale"), deployed.get("scale_jitter")
    anchored = metrics.get("anchored") or {}
    row["anchored_jitter"] = anchored.get("scale_jitter")
    row["applied_jitter"] = anchored.get("applied_scale_jitter")
    row["refused"] = anchored.get("n_refused")
    return row


def fov_section(estimator, quick: bool, **_) -> list[dict]:
    """Held-out synthetic rooms through each lens of the sweep."""
    from depth_anything_ros.training.stages.evaluate import evaluate_estimator

    fovs = (45, 75, 100) if quick else FOV_SWEEP_DEG
    n, size = (4, 96) if quick else (40, 256)
    return [_row(f"synthetic hfov {hfov}°", evaluate_estimator(
        estimator, f"synthetic:indoor:test?n={n}&size={size}&hfov={hfov}"), hfov=hfov)
        for hfov in fovs]


def synthetic_section(estimator, quick: bool, **_) -> list[dict]:
    """The synthetic bar: synthetic:indoor:test, 50 images, the generator's random lenses."""
    from depth_anything_ros.training.stages.evaluate import evaluate_estimator

    n = 8 if quick else 50
    return [_row(f"synthetic n={n}", evaluate_estimator(estimator,
                                                        f"synthetic:indoor:test?n={n}"))]


def tum_section(estimator, quick: bool, smoothing=(0.3, 1.0, 3.0), via_bag: bool = False,
                weights: Path | None = None, **_) -> list[dict]:
    """The TUM fr1_rpy held-out tail through evaluate, the temporal filter and the bag tool."""
    from depth_anything_ros.training.data.tum import TumDataset, default_tum_dir
    from depth_anything_ros.training.stages.evaluate import evaluate_estimator

    every = 4 if quick else 1
    frames: list[tuple[int, np.ndarray, np.ndarray]] = []

    def keep(index, prediction, sample, mask, **_):
        frames.append((index, prediction, np.where(mask, sample["depth"], np.nan)))

    result = evaluate_estimator(estimator, f"tum:default?split=test&every={every}",
                                on_frame=keep)
    rows = [_row("TUM tail, evaluate", result)]
    dataset = TumDataset(default_tum_dir(), split="test", every=every)
    rows += [_smoothed_row(frames, dataset.timestamps, tau) for tau in smoothing]
    if via_bag:
        rows += _bag_rows(dataset, estimator, weights)
    return rows


def _smoothed_row(frames, stamps, tau: float) -> dict:
    """Per-frame anchor fits through `ScaleCorrector` (the node's and bag's filter) at τ."""
    from depth_anything_ros.metrics import depth_metrics, mean_metrics, median_scale, scale_jitter
    from depth_anything_ros.scale import ScaleCorrector, ScaleSettings, scan_line_depth

    corrector = ScaleCorrector(ScaleSettings(source="sparse_depth", smoothing_time_s=tau),
                               relative=False)
    scored, residual, applied = [], [], []
    for index, prediction, gt in frames:
        out = corrector.correct(prediction, stamps[index], sparse_depth=scan_line_depth(gt))
        mask = np.isfinite(gt)
        scored.append(depth_metrics(out.depth, gt, mask))
        residual.append(median_scale(out.depth, gt, mask))
        applied.append(out.factor)
    mean = mean_metrics(scored)
    return {"name": f"TUM tail, anchored+{tau:g}s", "n": len(frames),
            "anchored_abs_rel": mean["abs_rel"], "anchored_delta1": mean["delta1"],
            "anchored_jitter": scale_jitter(residual), "applied_jitter": scale_jitter(applied)}


def _bag_rows(dataset, estimator, weights: Path | None) -> list[dict]:
    """`depth-anything-ros bag` on a bag of the tail: without and with --sparse-depth-topic."""
    from tum_bag import (GT_TOPIC, IMAGE_TOPIC, OUTPUT_TOPIC, SPARSE_TOPIC, read_depth_by_stamp,
                         score_depth, write_tum_bag)

    from depth_anything_ros.cli import main as cli
    from depth_anything_ros.metrics import scale_jitter

    deployed = "focal" if estimator.corrects_focal else "raw"
    rows = []
    with tempfile.TemporaryDirectory(prefix="tum_bag_") as tmp:
        src = Path(tmp) / "tail"
        write_tum_bag(dataset, src)
        truth = read_depth_by_stamp(src, GT_TOPIC)
        outputs = {}
        for name, extra in (("bag", []), ("bag + sparse depth", ["--sparse-depth-topic",
                                                                  SPARSE_TOPIC])):
            out = Path(tmp) / name.replace(" ", "_").replace("+", "and")
            args = ["bag", str(src), str(out), "--image-topic", IMAGE_TOPIC,
                    "--no-points", "--quiet", "--device", "cpu", "--copy-topics", "none",
                    "--focal-correction", estimator.focal_correction, *extra]
            if weights is not None:
                args += ["--weights", str(weights)]
            if cli(args) != 0:
                raise RuntimeError(f"depth-anything-ros {' '.join(args)} failed")
            outputs[name] = read_depth_by_stamp(out, OUTPUT_TOPIC)
            scored = score_depth(outputs[name], truth, source=str(out))
            column = deployed if not extra else "anchored"
            rows.append({"name": f"TUM tail, {name}", "n": scored["raw"]["n_images"],
                         f"{column}_abs_rel": scored["raw"]["abs_rel"],
                         f"{column}_delta1": scored["raw"]["delta1"],
                         "median_oracle_abs_rel": scored["median_oracle"]["abs_rel"],
                         "median_oracle_delta1": scored["median_oracle"]["delta1"],
                         "scale": scored["raw"]["scale"],
                         ("jitter" if not extra else "anchored_jitter"):
                             scored["raw"]["scale_jitter"]})
    # The factor the bag applied per frame: its anchored output over its raw output.
    applied = [float(np.nanmedian(outputs["bag + sparse depth"][s] / outputs["bag"][s]))
               for s in sorted(outputs["bag"])]
    rows[-1]["applied_jitter"] = scale_jitter(applied)
    return rows


SECTIONS = {"fov": fov_section, "synthetic": synthetic_section, "ground": ground_section,
            "tum": tum_section, "tumground": tum_ground_section}

CELLS = (("raw_abs_rel", "raw"), ("raw_delta1", "raw δ1"), ("focal_abs_rel", "focal"),
         ("focal_delta1", "focal δ1"), ("median_oracle_abs_rel", "oracle"),
         ("anchored_abs_rel", "anchored"), ("anchored_delta1", "anch δ1"),
         ("floor_oracle_abs_rel", "floor or"), ("ground_abs_rel", "ground"),
         ("ground_scale_abs_rel", "gr 1scal"), ("ground_unlimited_abs_rel", "gr nolim"),
         ("normal_error_median", "normal°"), ("normal_error_p90", "nrm°p90"),
         ("scale", "scale"),
         ("jitter", "jitter"),
         ("anchored_jitter", "anch jit"), ("applied_jitter", "appl jit"))


def format_rows(rows: list[dict]) -> str:
    """abs_rel (and δ1) per column, scale, the jitters; only the cells some row has."""
    cells = [(key, head) for key, head in CELLS if any(r.get(key) is not None for r in rows)]
    lines = [f"{'':<30}" + "".join(f"{h:>9}" for _, h in cells) + f"{'n':>5}{'refused':>8}"]
    for row in rows:
        text = "".join(f"{row[k]:>9.3f}" if row.get(k) is not None else f"{'-':>9}"
                       for k, _ in cells)
        refused = row.get("refused")
        lines.append(f"{row['name']:<30}" + text + f"{row['n']:>5}"
                     + (f"{refused:>8}" if refused is not None else f"{'-':>8}"))
    return "\n".join(lines)


def bars(rows: list[dict], deployed: str) -> list[tuple[str, float, str, bool]]:
    """Issue 11's bars that these rows measure: (what, measured, bar, met)."""
    by_name = {r["name"]: r for r in rows}
    out = []

    def check(what: str, value, bar: str, met) -> None:
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            out.append((what, float(value), bar, bool(met(value))))

    bag = by_name.get("TUM tail, bag", {})
    anchored_bag = by_name.get("TUM tail, bag + sparse depth", {})
    check("TUM tail via bag: abs_rel", bag.get(f"{deployed}_abs_rel"), "≤ 0.35",
          lambda v: v <= 0.35)
    check("TUM tail via bag + sparse depth: abs_rel", anchored_bag.get("anchored_abs_rel"),
          "≤ 0.20", lambda v: v <= 0.20)
    check("TUM tail via bag + sparse depth: applied scale jitter",
          anchored_bag.get("applied_jitter"), "≤ 0.05", lambda v: v <= 0.05)
    check("TUM tail via bag + sparse depth: residual scale jitter",
          anchored_bag.get("anchored_jitter"), "≤ 0.05", lambda v: v <= 0.05)
    lenses = {r.get("hfov"): r.get(f"{deployed}_abs_rel") or r.get("raw_abs_rel")
              for r in rows if r.get("hfov") in (45, 100)}
    for hfov, value in sorted(lenses.items()):
        check(f"synthetic {hfov}° lens: abs_rel", value, "≤ 0.30", lambda v: v <= 0.30)
    if len(lenses) == 2:
        check("45° vs 100° lens: |difference|", abs(lenses[45] - lenses[100]), "≤ 0.05",
              lambda v: v <= 0.05)
    ground = next((r for r in rows if r["name"].startswith("ground plane")), None)
    if ground:
        se = ground.get("gap_se")
        check(f"ground plane − median oracle: abs_rel ({ground['n']} rooms"
              + (f", ± {se:.3f} s.e.)" if se is not None else ")"),
              ground["ground_abs_rel"] - ground["median_oracle_abs_rel"], "≤ 0.03",
              lambda v: v <= 0.03)
    synthetic = next((r for r in rows if r["name"].startswith("synthetic n=")), None)
    if synthetic:  # as deployed (the camera's focal applied), no anchors, no oracle
        check("synthetic, as deployed: abs_rel", synthetic[f"{deployed}_abs_rel"], "≤ 0.20",
              lambda v: v <= 0.20)
        check("synthetic, as deployed: δ1", synthetic[f"{deployed}_delta1"], "≥ 0.70",
              lambda v: v >= 0.70)
    return out


def plot_fov(rows: list[dict], path: Path) -> None:
    """abs_rel per column and the deployed scale against the lens's horizontal FOV."""
    from depth_anything_ros.training.plots import plt, save_figure

    fovs = [r["hfov"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for column, style in (("raw", "o-"), ("focal", "s-"), ("median_oracle", "^--"),
                          ("anchored", "d:")):
        values = [r[f"{column}_abs_rel"] for r in rows]
        if all(v is not None for v in values):
            left.plot(fovs, values, style, label=column)
    left.set(xlabel="horizontal field of view (°)", ylabel="abs_rel", title="error vs lens")
    left.legend()
    right.plot(fovs, [r["scale"] for r in rows], "o-")
    right.axhline(1.0, color="grey", lw=0.8)
    right.set(xlabel="horizontal field of view (°)", ylabel="median(gt / pred)",
              title="scale as deployed (1 = right)")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--quick", action="store_true", help="a few frames per section")
    parser.add_argument("--focal-correction", default="auto", choices=("auto", "on", "off"))
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated, of {', '.join(SECTIONS)} (default: all)")
    parser.add_argument("--via-bag", action="store_true",
                        help="tum: also through `depth-anything-ros bag` (raw and anchored)")
    parser.add_argument("--smoothing", type=float, nargs="+", default=[0.3, 1.0, 3.0],
                        help="tum: temporal filter time constants (s) to compare")
    parser.add_argument("--rooms", type=int, default=ROOMS, help="ground: rooms, one view each")
    parser.add_argument("--first-room", type=int, default=0,
                        help="ground: index of the first test-split room (the bench's are 0-999)")
    parser.add_argument("--drives", type=int, default=24,
                        help="ground: drives, through the first of those rooms")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/metric_scale"))
    parser.add_argument("--json", action="store_true", help="also print the rows as JSON")
    args = parser.parse_args()
    names = args.sections.split(",")
    for name in names:
        if name not in SECTIONS:
            parser.error(f"--sections: unknown section {name!r}; use {', '.join(SECTIONS)}")

    from depth_anything_ros.inference import DepthEstimator

    estimator = DepthEstimator.from_weights(args.weights, device="cpu",
                                            focal_correction=args.focal_correction)
    config = estimator.config
    print(f"model: {args.weights or 'shipped default'} ({config.encoder}, canonical focal "
          f"{config.canonical_focal} {config.focal_origin or ''}, focal_correction "
          f"{args.focal_correction})")
    rows = []
    for name in names:
        part = SECTIONS[name](estimator, args.quick, smoothing=args.smoothing,
                              via_bag=args.via_bag, weights=args.weights, rooms=args.rooms,
                              first_room=args.first_room, drives=args.drives, out=args.out)
        if name == "fov":
            plot_fov(part, args.out / "metric_scale_fov.png")
            print(f"wrote {args.out / 'metric_scale_fov.png'}")
        rows += part
    print(format_rows(rows))
    checks = bars(rows, "focal" if estimator.corrects_focal else "raw")
    if checks:
        print("\nissue 11 bars" + (" (--quick: indicative only)" if args.quick else ""))
        for what, value, bar, met in checks:
            print(f"  {what:<66} {value:7.3f}  {bar:<7} {'met' if met else 'MISSED'}")
    if args.json:
        print(json.dumps({"rows": rows, "bars": [
            {"what": w, "value": v, "bar": b, "met": m} for w, v, b, m in checks]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
