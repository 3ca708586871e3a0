"""summary.json and the few lines the demo prints: counts, rates, latency, error against truth.

Definitions (so the numbers can be trusted and compared):

- *published*: frames of the measured run (warm-up frames are counted apart);
- *depth_received*: depth images whose stamp equals a published frame's (the node keeps the
  input header, so a stamp is the frame's identity);
- *processed_by_node*: published frames whose depth image **or** point cloud came back (the node
  publishes both for each frame it processes); *not_processed* = published − processed: frames
  the node skipped while busy (newest wins) or whose image never reached it (best-effort QoS);
  *depth_lost_after_node* = processed − depth: depth images lost on the way to the recorder
  (their cloud arrived), which is transport, not the node;
- rates: events over the span between the first and the last event;
- latency: receipt time minus header stamp (the camera's clock; one machine, one clock);
- depth error: per frame over pixels with valid ground truth and a finite prediction, then
  averaged over frames (REFERENCE.md §6); ``valid_pixel_fraction`` says how many valid-GT
  pixels had a prediction at all.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from depth_anything_ros.atomic_file import write_text_atomic
from depth_anything_ros.metrics import METRIC_NAMES, mean_metrics

SUMMARY_VERSION = 2  # 2: dropped_by_node split into not_processed / depth_lost_after_node


def latency_stats(latencies_s: Sequence[float]) -> dict[str, float | None]:
    """p50 / p95 / mean / max of stamp→receipt latencies, in milliseconds (None when empty)."""
    if len(latencies_s) == 0:
        return {"p50_ms": None, "p95_ms": None, "mean_ms": None, "max_ms": None}
    ms = np.asarray(latencies_s, dtype=np.float64) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "mean_ms": round(float(ms.mean()), 2),
        "max_ms": round(float(ms.max()), 2),
    }


def rate_hz(times_s: Sequence[float]) -> float | None:
    """Average event rate over the span of ``times_s`` (None with fewer than two events)."""
    if len(times_s) < 2:
        return None
    span = float(max(times_s) - min(times_s))
    return round((len(times_s) - 1) / span, 3) if span > 0 else None


def frame_accounting(published: Iterable[int], depth_stamps: Iterable[int],
                     cloud_stamps: Iterable[int]) -> dict[str, int]:
    """Where the published frames went, told apart by what came back: a frame whose depth or
    cloud arrived was processed by the node, so a missing depth image next to its cloud was lost
    in transport, not skipped by the node."""
    published = set(published)
    depth = published & set(depth_stamps)
    processed = depth | (published & set(cloud_stamps))
    return {"processed_by_node": len(processed), "not_processed": len(published - processed),
            "depth_lost_after_node": len(processed - depth)}


def model_info(weights: Path) -> dict[str, Any]:
    """What the node was told to load: path, size, and for our .safetensors its config and
    provenance (read from the header only, so the demo process never needs torch)."""
    info: dict[str, Any] = {"weights": str(weights), "size_bytes": weights.stat().st_size
                            if weights.is_file() else None}
    if weights.suffix == ".safetensors" and weights.is_file():
        from safetensors import safe_open

        try:
            with safe_open(str(weights), framework="numpy") as handle:
                metadata = handle.metadata() or {}
        except Exception as exc:  # noqa: BLE001 - the node reports unusable weights itself
            info["metadata_error"] = " ".join(str(exc).split())
            return info
        for key in ("config", "provenance"):
            try:
                info[key] = json.loads(metadata[key]) if key in metadata else None
            except json.JSONDecodeError:
                info[key] = metadata[key]
    return info


def build_summary(run, model: dict[str, Any]) -> dict[str, Any]:
    """The summary.json content of a finished (or interrupted) :class:`DemoRun`."""
    opts, cam, rec = run.options, run.camera_stats, run.recorder_stats
    records = rec["depth_records"]
    depth_stamps = {r.stamp_ns for r in records}
    scored = [r.metrics for r in records if r.metrics is not None]
    error = mean_metrics(scored) if scored else {name: None for name in METRIC_NAMES} | {"n_images": 0}
    fractions = [r.valid_fraction for r in records if r.valid_fraction is not None]
    first = run.frames[0]
    return {
        "summary_version": SUMMARY_VERSION,
        "ok": run.failure is None and bool(records) and not run.interrupted,
        "interrupted": run.interrupted,
        "failure": run.failure,
        "camera": {
            "scene": f"synthetic:{opts.scene}:test#{opts.scene_index}",
            "hfov_deg": opts.hfov_deg,
            "width": first.width, "height": first.height,
            "fx": first.fx, "fy": first.fy, "cx": first.cx, "cy": first.cy,
            "rate_hz_requested": opts.rate_hz,
            "duration_s_requested": opts.duration_s,
        },
        "frames": {
            "published": len(cam["published_stamps"]),
            "depth_received": len(records),
            "depth_stamps_matched": len(depth_stamps),
            **frame_accounting(cam["published_stamps"], depth_stamps, rec["points_receipts"]),
            "camera_info_received": len(rec["info_receipts"]),
            "camera_info_stamps_matching_depth": len(depth_stamps & set(rec["info_receipts"])),
            "camera_info_intrinsics_ok": rec["info_intrinsics_ok"],
            "points_received": len(rec["points_receipts"]),
            "points_stamps_matching_depth": len(depth_stamps & set(rec["points_receipts"])),
            "output_frame_ids": rec["frame_ids"],
            "warmup_published": cam["warmup_published"],
            "warmup_outputs": rec["warmup_outputs"],
            "outputs_with_unknown_stamp": rec["unknown_stamps"],
        },
        "rates_hz": {
            "input": rate_hz(cam["publish_times_s"]),
            "output_depth": rate_hz([r.receipt_s for r in records]),
            "output_points": rate_hz(list(rec["points_receipts"].values())),
        },
        "latency_stamp_to_receipt": latency_stats(
            [r.receipt_s - r.stamp_ns * 1e-9 for r in records]),
        "depth_error": {**{k: _round(v) for k, v in error.items()},
                        "valid_pixel_fraction": _round(float(np.mean(fractions)) if fractions else None)},
        "model": model,
        "node": {
            "command": run.node_command,
            "exit_code": run.node_exit_code,
            "startup_s": _round(run.startup_s),
            "ros_domain_id": run.ros_domain_id,
        },
        "timings_s": {"render": _round(run.timings.get("render_s")), "run": _round(run.run_s)},
        "errors": rec["decode_errors"],
    }


def _round(value, digits: int = 4):
    return None if value is None else (round(value, digits) if isinstance(value, float) else value)


def summary_text(summary: dict[str, Any], out_dir: Path) -> str:
    """A few lines for people: what went in, what came out, how fast, how right."""
    frames, rates = summary["frames"], summary["rates_hz"]
    lat, err = summary["latency_stamp_to_receipt"], summary["depth_error"]

    def num(value, fmt):
        return "n/a" if value is None else format(value, fmt)

    lines = [
        f"camera: {frames['published']} frames of {summary['camera']['width']}x"
        f"{summary['camera']['height']} at {num(rates['input'], '.1f')} Hz "
        f"({summary['camera']['scene']})",
        f"depth_node: {frames['depth_received']} depth images at {num(rates['output_depth'], '.2f')} Hz, "
        f"{frames['points_received']} clouds; {frames['not_processed']} frames not processed (skipped "
        f"while busy or not received), {frames['depth_lost_after_node']} depth images lost after the node",
        f"latency stamp->depth: p50 {num(lat['p50_ms'], '.0f')} ms, p95 {num(lat['p95_ms'], '.0f')} ms",
        f"error vs ground truth ({err['n_images']} frames): abs_rel {num(err['abs_rel'], '.3f')}, "
        f"rmse {num(err['rmse'], '.3f')} m, delta1 {num(err['delta1'], '.3f')}",
        f"wrote {out_dir / 'summary.json'}"
        + (f" and {out_dir / 'preview.png'}" if summary.get("preview") else " (no depth image came back, so no preview)"),
    ]
    if summary["interrupted"]:
        lines.insert(0, "interrupted: the summary covers the frames collected until Ctrl-C")
    if summary["failure"]:
        lines.insert(0, f"FAILED: {summary['failure'].splitlines()[0]}")
    return "\n".join(lines)


def write_json_atomic(path: str | os.PathLike, obj: object) -> None:
    """JSON (indented; NaN refused, it is not JSON) via a temporary file and a rename."""
    write_text_atomic(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")
