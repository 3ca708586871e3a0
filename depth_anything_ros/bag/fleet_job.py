"""A fleet run: rank 0 plans (which bags are left, who runs which), every rank runs its share
bag by bag with `process_bag` exactly as `bag` would, and each bag ends as a `BagRecord`.

Failures stay local: an error in one bag is recorded (status "failed", the one-line reason) and
the next bag starts; with `strict` the run stops at the first failure instead. An interrupted
run leaves no half outputs: each output appears by one atomic rename (`StagedOutput`), and the
next plan sweeps the hidden staging folders a killed run left behind.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from depth_anything_ros.bag.errors import BagError, BagNoDepthError
from depth_anything_ros.bag.fleet import (
    FleetBag,
    expected_frames,
    find_bags,
    output_frames,
    output_state,
    shard_by_size,
    sweep_staging,
)
from depth_anything_ros.bag.options import BagJobOptions
from depth_anything_ros.bag.ranks import Counters, Ranks
from depth_anything_ros.bag.staging import check_not_inside
from depth_anything_ros.bag.topics import output_topics

log = logging.getLogger(__name__)

# "done": written by this run; "already_done": its outputs existed, kept (--overwrite redoes);
# "failed": error says why, nothing written; "not_run": --strict stopped the run before it.
STATUSES = ("done", "already_done", "failed", "not_run")


@dataclass
class BagRecord:
    """What happened to one bag (a row of the final table and of summary.json)."""

    input: str  # relative to IN_DIR
    output: str  # relative to OUT_DIR (and to the export folder)
    status: str
    size_bytes: int = 0
    frames: int | None = None  # frames with depth
    frames_in: int | None = None  # frames on the camera topic
    frames_skipped: int = 0
    seconds: float = 0.0
    error: str | None = None
    problems: list[str] = field(default_factory=list)  # BagSummary.problem_lines()
    rank: int | None = None
    camera_mounts: list[str] = field(default_factory=list)  # --ground-frame: each bag's own


@dataclass(frozen=True)
class FleetItem:
    """A bag to run: `overwrite` also when only some of its outputs exist (a run stopped
    between its two renames); `frames` is its camera topic's message count."""

    bag: FleetBag
    overwrite: bool
    frames: int


@dataclass
class FleetPlan:
    shards: list[list[FleetItem]]  # per rank
    already_done: list[BagRecord]
    total_bags: int
    swept: int  # leftovers of a killed run removed

    @property
    def frames(self) -> int:
        return sum(item.frames for shard in self.shards for item in shard)


def plan_fleet(in_dir: Path, out_dir: Path, options: BagJobOptions, world_size: int) -> FleetPlan:
    """Rank 0's plan: find the bags, keep finished ones (unless `options.overwrite`), share the
    rest by size. Creates OUT_DIR and removes a killed run's staging leftovers, so it must run
    before any rank writes. Raises BagError for a problem with the folders themselves."""
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    options.validate()
    export_dir = None if options.export_dir is None else Path(options.export_dir)
    bags = find_bags(in_dir)
    if not bags:
        raise BagError(f"input folder {in_dir}: no bags found (folders with metadata.yaml, "
                       ".db3 or .mcap files)")
    check_not_inside(out_dir, in_dir, what="output folder", protected_what="input folder")
    if export_dir is not None:
        check_not_inside(export_dir, in_dir, what="export folder", protected_what="input folder")
        check_not_inside(export_dir, out_dir, what="export folder", protected_what="output folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if export_dir is not None:
            export_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BagError(f"output folder {out_dir}: cannot create it: {exc}") from exc
    swept = sweep_staging(out_dir) + (sweep_staging(export_dir) if export_dir else 0)
    depth_topic = output_topics(options.image_topic).image
    todo: list[FleetItem] = []
    already_done: list[BagRecord] = []
    for bag in bags:
        state = output_state(bag, out_dir, export_dir)
        if state == "complete" and not options.overwrite:
            frames = output_frames(out_dir / bag.relative, depth_topic)
            already_done.append(BagRecord(_input_name(bag, in_dir), bag.relative.as_posix(),
                                          "already_done", bag.size_bytes, frames=frames))
            continue
        if state == "partial":
            log.warning("bag %s: only some of its outputs exist (an interrupted run): redoing it",
                        bag.input)
        todo.append(FleetItem(bag, overwrite=state != "missing",
                              frames=expected_frames(bag, options.image_topic)))
    by_bag = {item.bag: item for item in todo}
    shards = [[by_bag[bag] for bag in shard]
              for shard in shard_by_size([item.bag for item in todo], world_size)]
    return FleetPlan(shards, already_done, len(bags), swept)


def _input_name(bag: FleetBag, in_dir: Path) -> str:
    if bag.input == in_dir:
        return bag.input.name
    return bag.input.relative_to(in_dir).as_posix()


def run_shard(
    items: list[FleetItem],
    in_dir: Path,
    out_dir: Path,
    estimator: Any,
    options: BagJobOptions,
    ranks: Ranks,
    counters: Counters,
) -> list[BagRecord]:
    """Run this rank's bags in order; a failure is recorded and the next bag starts (with
    `options.strict`, this and every other rank stop after their current bag)."""
    records = []
    for item in items:
        if ranks.stop_requested:
            records.append(BagRecord(_input_name(item.bag, Path(in_dir)),
                                     item.bag.relative.as_posix(), "not_run",
                                     item.bag.size_bytes, rank=ranks.rank))
            continue
        record = run_one(item, Path(in_dir), Path(out_dir), estimator, options, counters)
        record.rank = ranks.rank
        records.append(record)
        counters.bags_done += 1
        if record.status == "failed":
            counters.failed += 1
            log.warning("bag %s failed: %s", item.bag.input, record.error)
            if options.strict:
                counters.stop = ranks.stop_requested = True
    return records


def run_one(item: FleetItem, in_dir: Path, out_dir: Path, estimator: Any,
            options: BagJobOptions, counters: Counters) -> BagRecord:
    """One bag, exactly as `depth-anything-ros bag` would run it, into OUT_DIR/<relative>."""
    from depth_anything_ros.bag.process import process_bag

    bag = item.bag
    record = BagRecord(_input_name(bag, in_dir), bag.relative.as_posix(), "failed",
                       bag.size_bytes)
    output = out_dir / bag.relative
    export = None if options.export_dir is None else Path(options.export_dir) / bag.relative
    bag_options = replace(options, export_dir=export, overwrite=options.overwrite or item.overwrite)
    frames_before = counters.frames_done

    def on_frame(frames_written: int) -> None:
        counters.frames_done = frames_before + frames_written

    start = time.perf_counter()
    try:
        for path in (output, export):
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
        summary = process_bag(bag.input, output, estimator, bag_options, on_frame=on_frame)
    except BagNoDepthError as exc:
        record.error = _one_line(exc)
        _count(record, exc.summary)
    except (BagError, OSError) as exc:
        record.error = _one_line(exc)
    except Exception as exc:  # noqa: BLE001 - a bag that breaks a library must not stop the rest
        log.debug("bag %s", bag.input, exc_info=True)
        record.error = f"{type(exc).__name__}: {_one_line(exc)}"
    else:
        record.status = "done"
        _count(record, summary)
    record.seconds = time.perf_counter() - start
    counters.frames_done = frames_before + item.frames
    return record


def _count(record: BagRecord, summary: Any) -> None:
    record.frames, record.frames_in = summary.frames_out, summary.frames_in
    record.frames_skipped = len(summary.skipped)
    record.problems = summary.problem_lines()
    record.camera_mounts = list(summary.camera_mounts)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
