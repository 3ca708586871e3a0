"""What a fleet run did: `OUT_DIR/summary.json` (written atomically by rank 0) and the table
printed at the end."""
from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from depth_anything_ros.atomic_file import write_text_atomic
from depth_anything_ros.bag.fleet_job import STATUSES, BagRecord
from depth_anything_ros.bag.options import BagJobOptions

SUMMARY_VERSION = 1
SUMMARY_NAME = "summary.json"


def summary_dict(records: list[BagRecord], *, in_dir: Path, out_dir: Path,
                 options: BagJobOptions, world_size: int, seconds: float) -> dict[str, Any]:
    """summary.json's content: totals, the job options, and one entry per bag (by path)."""
    records = sorted(records, key=lambda r: r.input)
    counts = {status: sum(r.status == status for r in records) for status in STATUSES}
    frames = sum(r.frames or 0 for r in records if r.status == "done")
    return {
        "summary_version": SUMMARY_VERSION,
        "ok": counts["failed"] == 0 and counts["not_run"] == 0,
        "in_dir": str(in_dir),
        "out_dir": str(out_dir),
        "world_size": world_size,
        "seconds": round(seconds, 3),
        "bags": counts,
        "frames_written": frames,
        "frames_per_second": round(frames / seconds, 3) if seconds > 0 else 0.0,
        "options": {f.name: _jsonable(getattr(options, f.name)) for f in fields(options)},
        "records": [{key: _jsonable(value) for key, value in asdict(r).items()} for r in records],
    }


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def read_summary(out_dir: Path) -> dict[str, Any]:
    """The summary an earlier run left in OUT_DIR ({} when there is none or it is unreadable:
    it is only consulted, never trusted for what is done, which the outputs themselves say)."""
    try:
        summary = json.loads((Path(out_dir) / SUMMARY_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


def write_summary(out_dir: Path, summary: dict[str, Any]) -> Path:
    path = Path(out_dir) / SUMMARY_NAME
    write_text_atomic(path, json.dumps(summary, indent=2) + "\n")
    return path


def table_lines(records: list[BagRecord], seconds: float) -> list[str]:
    """The final table: a row per bag this run touched (failed ones with their error, and the
    reasons frames were skipped under each row), then the totals. Bags already done are only
    counted: a re-run of a thousand finished bags prints one line about them."""
    rows = sorted((r for r in records if r.status != "already_done"), key=lambda r: r.input)
    out = []
    if rows:
        header = ("bag", "status", "frames", "seconds", "frames/s", "rank")
        cells = [header] + [(r.input, r.status, _frames(r), f"{r.seconds:.1f}", _rate(r),
                             "" if r.rank is None else str(r.rank)) for r in rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
        for i, row in enumerate(cells):
            out.append("  ".join(c.ljust(w) if j == 0 else c.rjust(w)
                                 for j, (c, w) in enumerate(zip(row, widths))).rstrip())
            record = rows[i - 1] if i else None
            if record is not None and record.error:
                out.append(f"    error: {record.error}")
            if record is not None:
                out += [f"    {line}" for line in record.problems]
    counts = {s: sum(r.status == s for r in records) for s in STATUSES}
    frames = sum(r.frames or 0 for r in records if r.status == "done")
    rate = f", {frames / seconds:.2f} frames/s" if seconds > 0 else ""
    out.append(f"{_bags(counts['done'])} done, {counts['failed']} failed"
               + (f", {counts['not_run']} not run (--strict)" if counts["not_run"] else "")
               + f": {frames} frames with depth in {seconds:.1f} s{rate}")
    if counts["already_done"]:
        out.append(f"{_bags(counts['already_done'])} already done, skipped "
                   "(--overwrite redoes them)")
    failed = [r.input for r in records if r.status == "failed"]
    if failed:
        out.append("failed: " + ", ".join(sorted(failed)))
    return out


def _bags(count: int) -> str:
    return f"{count} bag{'' if count == 1 else 's'}"


def _frames(record: BagRecord) -> str:
    if record.frames is None:
        return "-"
    if record.frames_in is None:
        return str(record.frames)
    return f"{record.frames}/{record.frames_in}"


def _rate(record: BagRecord) -> str:
    if not record.frames or record.seconds <= 0:
        return "-"
    return f"{record.frames / record.seconds:.2f}"
