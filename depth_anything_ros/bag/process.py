"""A bag in, a bag with depth, camera_info and organized point clouds out — deterministically.

`preflight` checks everything that needs no model (options, paths, topics); `process_bag` runs
the pipeline (`pipeline.py`) into an output staged beside OUT and moved there only when the
whole bag succeeded (`staging.py`). The input is only ever opened read-only.
"""
from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any, Callable

from depth_anything_ros.bag.camera_info import read_camera_infos
from depth_anything_ros.bag.errors import BagError, BagNoDepthError
from depth_anything_ros.bag.export import EXPORT_FOLDERS, FrameExporter
from depth_anything_ros.bag.metric_scale import BagScale, static_transforms
from depth_anything_ros.bag.options import BagJobOptions, BagSummary, SkippedFrame
from depth_anything_ros.bag.pipeline import BagPipeline
from depth_anything_ros.bag.reader import bag_storage, open_bag, topic_types
from depth_anything_ros.bag.staging import StagedOutput, check_not_inside, check_output_path
from depth_anything_ros.bag.topics import TopicPlan, plan_topics

__all__ = ["BagJobOptions", "BagSummary", "SkippedFrame", "preflight", "process_bag",
           "require_metric"]

log = logging.getLogger(__name__)


def preflight(input_path: Path, output_path: Path, options: BagJobOptions) -> TopicPlan:
    """Every check that needs no model: options, paths, topics. The CLI runs it before loading
    the model, so a typo fails in a second; `process_bag` runs it again."""
    input_path, output_path = Path(input_path), Path(output_path)
    options.validate()
    if not input_path.exists():
        raise BagError(f"input bag {input_path} does not exist")
    check_output_path(output_path, overwrite=options.overwrite, what="output bag",
                      replaceable=not_a_bag)
    check_not_inside(output_path, input_path, what="output bag", protected_what="input bag")
    if options.export_dir is not None:
        export_dir = Path(options.export_dir)
        check_output_path(export_dir, overwrite=options.overwrite, what="export folder",
                          replaceable=not_an_export)
        check_not_inside(export_dir, input_path, what="export folder", protected_what="input bag")
        check_not_inside(export_dir, output_path, what="export folder", protected_what="output bag")
    with open_bag(input_path) as reader:
        plan = plan_topics(topic_types(reader), options.image_topic, options.camera_info_topic,
                           options.copy_topics, bag_name=f"bag {input_path}",
                           sparse_depth_topic=options.sparse_depth_topic,
                           fallback_hfov_deg=options.fallback_hfov_deg,
                           imu_topic=options.imu_topic,
                           tf_static_topic=(options.tf_static_topic if options.ground_frame
                                            else None))
        if options.ground_frame is not None:  # a typo in the frame fails before the model loads
            static_transforms(reader, options.tf_static_topic, options.ground_frame)
    if options.scale_source == "ground_plane" and plan.camera_info_topic is None:
        given = "--camera-height" if options.camera_height is not None else "--ground-frame"
        raise BagError(f"{given}: the ground plane needs the camera's intrinsics, and bag "
                       f"{input_path} has no CameraInfo beside {options.image_topic} (pass "
                       "--camera-info-topic)")
    return plan


def require_metric(estimator: Any, options: BagJobOptions) -> None:
    """Bag jobs write metres: refuse a relative (disparity) model before any bag is opened
    (`options`: what could make a relative model metric)."""
    from depth_anything_ros.inference import DepthKind

    if estimator.kind != DepthKind.METRIC_DEPTH and options.scale_source == "none":
        raise BagError(
            "the model predicts relative disparity, not metres; bag processing writes metric "
            "depth and clouds only: pass metric weights (--weights) or a metric variant, or "
            "anchor it (--sparse-depth-topic, --camera-height or --ground-frame)"
        )


def process_bag(
    input_path: Path,
    output_path: Path,
    estimator: Any,
    options: BagJobOptions,
    *,
    progress: bool = False,
    on_frame: Callable[[int], None] | None = None,
) -> BagSummary:
    """Run one job. `on_frame(frames_written)` is called after each frame is written (progress
    hooks; tests use it to interrupt a run). Raises BagError (`BagNoDepthError` when no frame
    gave depth); writes nothing to `output_path` unless the whole bag succeeded."""
    from depth_anything_ros.inference import DepthKind

    input_path, output_path = Path(input_path), Path(output_path)
    require_metric(estimator, options)
    plan = preflight(input_path, output_path, options)
    for note in plan.notes:
        log.warning("%s", note)

    start = time.perf_counter()
    summary = BagSummary(output=output_path, scale_source=options.scale_source)
    with open_bag(input_path) as reader, BagScale.open(
            input_path, plan, options, estimator.kind != DepthKind.METRIC_DEPTH,
            summary) as scale:
        storage = options.storage or bag_storage(input_path)
        infos = read_camera_infos(reader, plan.camera_info_topic)
        if plan.camera_info_topic and not len(infos):
            log.warning("no readable CameraInfo on %s: %s", plan.camera_info_topic,
                        "intrinsics assumed from --fallback-hfov-deg"
                        if options.fallback_hfov_deg > 0 else "writing depth images only")
        with StagedOutput(output_path, overwrite=options.overwrite, what="output bag",
                          replaceable=not_a_bag) as staged, \
                _staged_export(options) as staged_export:
            exporter = None if staged_export is None else FrameExporter(staged_export.path)
            pipeline = BagPipeline(reader, plan, estimator, options, infos, summary, on_frame,
                                   exporter, scale)
            pipeline.run(staged.path, storage, progress)
            _check_some_depth(input_path, plan.image_topic, summary)
            staged.commit()
            if staged_export is not None:
                staged_export.commit()
    summary.seconds = time.perf_counter() - start
    return summary


def _check_some_depth(input_path: Path, image_topic: str, summary: BagSummary) -> None:
    """A bag in which no frame produced depth is a failure, not an empty success: raising here
    discards the staged output, so nothing appears at OUT."""
    if summary.frames_out:
        return
    if not summary.frames_in:
        raise BagNoDepthError(f"input bag {input_path}: no messages on {image_topic}; "
                              "nothing written", summary)
    reason = summary.skip_reasons()[0][0] if summary.skipped else "unknown"
    raise BagNoDepthError(
        f"input bag {input_path}: none of the {summary.frames_in} frames on {image_topic} "
        f"produced depth (e.g. {reason}); nothing written", summary)


def _staged_export(options: BagJobOptions) -> Any:
    if options.export_dir is None:
        return contextlib.nullcontext()
    staged = StagedOutput(Path(options.export_dir), overwrite=options.overwrite,
                          what="export folder", replaceable=not_an_export)
    staged.path.mkdir()
    return staged


def not_a_bag(path: Path) -> str | None:
    """Why `path` is no bag folder that --overwrite may replace (None: it is one, or empty)."""
    if path.is_dir() and ((path / "metadata.yaml").is_file() or not any(path.iterdir())):
        return None  # a bag, or an empty folder
    return "is not a bag folder (no metadata.yaml)"


def not_an_export(path: Path) -> str | None:
    """Why `path` is no earlier --export-dir that --overwrite may replace (None: it is one)."""
    if not path.is_dir():
        return "is not a folder"
    others = sorted(child.name for child in path.iterdir() if child.name not in EXPORT_FOLDERS)
    if others:
        return (f"holds {', '.join(others[:3])}{' ...' if len(others) > 3 else ''} besides an "
                f"export's {', '.join(EXPORT_FOLDERS)}")
    return None
