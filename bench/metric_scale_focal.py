"""Metric scale of a model on held-out data: what the lens does to it, what the focal correction
and a per-frame oracle rescale buy, and how much the scale wobbles from frame to frame.
(The focal half of issue 11's bench; the anchors half lives in bench/metric_scale.py.)

    python bench/metric_scale_focal.py [--weights W] [--quick] [--out DIR] [--sections fov,tum]

Sections (one function each, returning table rows, so more sections merge in by name):

  fov_sweep_section   synthetic:indoor:test rendered through lenses of 40°…110° (same scenes and
                      poses): raw, focal-corrected and median-oracle abs_rel, the scale
                      (geometric mean of median(gt/pred); 1 = right, > 1 = reads too near) and
                      scale_jitter (std of its log)
  tum_tail_section    the held-out last 20 % of TUM fr1_rpy (never trained on): through
                      `train evaluate` (each sample's intrinsics) and through
                      `depth-anything-ros bag` on a bag of the tail frames with their CameraInfo

Writes ``metric_scale_fov.png`` (abs_rel and scale against the field of view) into --out.
Figures are accuracy, not time, so machine load does not change them.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

FOV_SWEEP_DEG = (40, 50, 60, 70, 80, 90, 100, 110)
COLUMNS = ("raw", "focal", "median_oracle")


def _row(name: str, metrics: dict) -> dict:
    """One table row from an `evaluate_estimator` result (columns that do not apply: None)."""
    row = {"name": name, "n": metrics["n_images"]}
    for column in COLUMNS:
        values = metrics.get(column) or {}
        row[f"{column}_abs_rel"] = values.get("abs_rel")
        row[f"{column}_delta1"] = values.get("delta1")
    deployed = metrics.get(metrics.get("deployed", "raw")) or metrics
    row["scale"] = deployed.get("scale")
    row["scale_jitter"] = deployed.get("scale_jitter")
    return row


def fov_sweep_section(estimator, quick: bool) -> list[dict]:
    """Synthetic rooms through each lens of the sweep (held-out test scenes)."""
    from depth_anything_ros.training.stages.evaluate import evaluate_estimator

    fovs = (40, 75, 110) if quick else FOV_SWEEP_DEG
    n, size = (4, 96) if quick else (40, 256)
    rows = []
    for hfov in fovs:
        spec = f"synthetic:indoor:test?n={n}&size={size}&hfov={hfov}"
        rows.append({**_row(f"synthetic hfov {hfov}°", evaluate_estimator(estimator, spec)),
                     "hfov": hfov})
    return rows


def tum_tail_section(estimator, quick: bool, weights: Path | None = None) -> list[dict]:
    """The TUM fr1_rpy held-out tail, through evaluate and through the bag tool."""
    from tum_bag import score_depth_bag, write_tum_bag

    from depth_anything_ros.cli import main as cli
    from depth_anything_ros.training.data.tum import TumDataset, default_tum_dir
    from depth_anything_ros.training.stages.evaluate import evaluate_estimator

    every = 8 if quick else 1
    spec = f"tum:default?split=test&every={every}"
    rows = [_row("TUM tail, evaluate", evaluate_estimator(estimator, spec))]
    with tempfile.TemporaryDirectory(prefix="tum_bag_") as tmp:
        src, out = Path(tmp) / "tail", Path(tmp) / "tail_depth"
        write_tum_bag(TumDataset(default_tum_dir(), split="test", every=every), src)
        args = ["bag", str(src), str(out), "--image-topic", "/camera/rgb/image_color",
                "--no-points", "--quiet", "--device", "cpu", "--copy-topics", "none",
                "--focal-correction", estimator.focal_correction]
        if weights is not None:
            args += ["--weights", str(weights)]
        if cli(args) != 0:
            raise RuntimeError("depth-anything-ros bag failed on the TUM tail bag")
        scored = score_depth_bag(out, src)
    row = _row("TUM tail, bag", {"n_images": scored["raw"]["n_images"], "deployed": "raw",
                                 "raw": scored["raw"], "median_oracle": scored["median_oracle"]})
    if estimator.corrects_focal:  # the bag corrected by each frame's CameraInfo fx itself
        row["focal_abs_rel"], row["raw_abs_rel"] = row["raw_abs_rel"], None
        row["focal_delta1"], row["raw_delta1"] = row["raw_delta1"], None
    rows.append(row)
    return rows


SECTIONS = {"fov": fov_sweep_section, "tum": tum_tail_section}


HEADINGS = {"raw_abs_rel": "raw", "raw_delta1": "raw δ1", "focal_abs_rel": "focal",
            "focal_delta1": "focal δ1", "median_oracle_abs_rel": "oracle",
            "median_oracle_delta1": "oracle δ1", "scale": "scale", "scale_jitter": "jitter"}


def format_rows(rows: list[dict]) -> str:
    """abs_rel and δ1 per column (raw, focal-corrected, median-oracle), scale and its jitter."""
    lines = [f"{'':<22}" + "".join(f"{h:>10}" for h in HEADINGS.values()) + f"{'n':>5}"]
    for row in rows:
        cells = "".join(f"{row[k]:>10.3f}" if row.get(k) is not None else f"{'-':>10}"
                        for k in HEADINGS)
        lines.append(f"{row['name']:<22}" + cells + f"{row['n']:>5}")
    return "\n".join(lines)


def plot_fov(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from depth_anything_ros.atomic_file import atomic_path

    fovs = [r["hfov"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for column, style in (("raw", "o-"), ("focal", "s-"), ("median_oracle", "^--")):
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
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--quick", action="store_true", help="a few frames per section")
    parser.add_argument("--focal-correction", default="auto", choices=("auto", "on", "off"))
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated, of {', '.join(SECTIONS)}")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/metric_scale"))
    parser.add_argument("--json", action="store_true", help="also print the rows as JSON")
    args = parser.parse_args()

    from depth_anything_ros.inference import DepthEstimator

    estimator = DepthEstimator.from_weights(args.weights, device="cpu",
                                            focal_correction=args.focal_correction)
    config = estimator.config
    print(f"model: {args.weights or 'shipped default'} ({config.encoder}, canonical focal "
          f"{config.canonical_focal} {config.focal_origin or ''}, focal_correction "
          f"{args.focal_correction})")
    rows = []
    for name in args.sections.split(","):
        if name not in SECTIONS:
            parser.error(f"--sections: unknown section {name!r}; use {', '.join(SECTIONS)}")
        section = SECTIONS[name]
        extra = {"weights": args.weights} if name == "tum" else {}
        part = section(estimator, args.quick, **extra)
        if name == "fov":
            plot_fov(part, args.out / "metric_scale_fov.png")
        rows += part
    print(format_rows(rows))
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
