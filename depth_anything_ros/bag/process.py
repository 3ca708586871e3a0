"""A bag in, a bag with depth, camera_info and organized point clouds out — deterministically.

Pipeline (one job, one camera):

    read (bag order) → decode in a bounded thread pool → batches of same-size frames through
    `DepthEstimator.predict_batch` → build + serialize output messages in the pool → write in
    bag order at the original timestamps.

Every stage keeps input order, and each pool stage holds at most a bounded number of frames, so
memory stays flat on long bags. The output is staged beside OUT and moved there only when the
whole bag succeeded (`staging.py`); the input is only ever opened read-only.
"""
from __future__ import annotations

import bisect
import logging
import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple

import numpy as np

from depth_anything_ros.bag.errors import BagError, BagFrameError
from depth_anything_ros.bag.export import FrameExporter
from depth_anything_ros.bag.messages import MessageFactory, Stamp, decode_rgb, stamp_of
from depth_anything_ros.bag.reader import STORAGES, bag_storage, open_bag, topic_types
from depth_anything_ros.bag.staging import StagedOutput, check_not_inside, check_output_path
from depth_anything_ros.bag.topics import (
    CAMERA_INFO_TYPE,
    IMAGE_TYPE,
    POINTCLOUD_TYPE,
    TopicPlan,
    parse_copy_topics,
    plan_topics,
)

log = logging.getLogger(__name__)

DISTRO_BAG_VERSION = {"humble": 8, "jazzy": 9}  # v9 QoS metadata breaks Humble (REFERENCE §10)


@dataclass(frozen=True)
class BagJobOptions:
    """What `depth-anything-ros bag` does; defaults match the CLI's."""

    image_topic: str
    camera_info_topic: str | None = None
    batch_size: int = 4
    points: bool = True
    points_stride: int = 1
    depth_encoding: str = "32FC1"
    copy_topics: str = "all"
    storage: str | None = None  # None: the input's storage
    distro: str = "humble"
    export_dir: Path | None = None
    overwrite: bool = False
    strict: bool = False
    intrinsics_source: str = "K"  # as the node's parameter: K for raw images, P for rectified
    workers: int | None = None  # decode/encode threads; None: min(4, CPUs)

    def validate(self) -> None:
        from depth_anything_ros.conversions import DEPTH_ENCODINGS

        if self.batch_size < 1:
            raise BagError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.points_stride < 1:
            raise BagError(f"--points-stride must be >= 1, got {self.points_stride}")
        if self.depth_encoding not in DEPTH_ENCODINGS:
            raise BagError(f"--depth-encoding {self.depth_encoding!r}: use one of {', '.join(DEPTH_ENCODINGS)}")
        if self.storage is not None and self.storage not in STORAGES:
            raise BagError(f"--storage {self.storage!r}: use one of {', '.join(STORAGES)}")
        if self.distro not in DISTRO_BAG_VERSION:
            raise BagError(f"--distro {self.distro!r}: use one of {', '.join(DISTRO_BAG_VERSION)}")
        parse_copy_topics(self.copy_topics)
        if self.intrinsics_source not in ("K", "P"):
            raise BagError(f"--intrinsics-source {self.intrinsics_source!r}: use K (raw images) or P (rectified)")
        if self.workers is not None and self.workers < 1:
            raise BagError(f"workers must be >= 1, got {self.workers}")


@dataclass(frozen=True)
class SkippedFrame:
    index: int
    bag_time_ns: int
    reason: str


@dataclass
class BagSummary:
    """What a job did; `lines()` is the report printed at the end."""

    output: Path
    frames_in: int = 0
    frames_out: int = 0
    frames_without_points: int = 0
    copied: int = 0
    seconds: float = 0.0
    skipped: list[SkippedFrame] = field(default_factory=list)

    @property
    def frames_per_second(self) -> float:
        return self.frames_out / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        out = [
            f"wrote {self.output}: {self.frames_out} of {self.frames_in} frames with depth, "
            f"{len(self.skipped)} skipped, {self.copied} messages copied, "
            f"{self.seconds:.1f} s, {self.frames_per_second:.2f} frames/s"
        ]
        if self.frames_without_points:
            out.append(f"{self.frames_without_points} frames had no usable CameraInfo: no points for them")
        for skip in self.skipped[:10]:
            out.append(f"skipped frame {skip.index} (bag time {skip.bag_time_ns} ns): {skip.reason}")
        if len(self.skipped) > 10:
            out.append(f"... and {len(self.skipped) - 10} more skipped frames")
        return out


@dataclass
class _Frame:
    """One image message on its way through the pipeline."""

    index: int
    bag_time: int
    conn_id: int
    raw: bytes
    stamp: Stamp | None = None
    rgb: np.ndarray | None = None
    error: str | None = None
    depth: np.ndarray | None = None


class _Copy(NamedTuple):
    """A message copied unchanged to the output."""

    conn: Any
    bag_time: int
    raw: bytes


class CameraInfoTable:
    """All CameraInfo of a topic, read up front (they are small): exact header-stamp match
    first, else the latest one recorded at or before the frame, else the first one."""

    def __init__(self, entries: list[tuple[int, int, Any]]) -> None:
        entries = sorted(entries, key=lambda e: e[0])
        self._times = [bag_time for bag_time, _, _ in entries]
        self._infos = [info for _, _, info in entries]
        self._by_stamp = {stamp_ns: info for _, stamp_ns, info in entries}

    def __len__(self) -> int:
        return len(self._infos)

    def lookup(self, stamp_ns: int, bag_time: int) -> Any | None:
        if not self._infos:
            return None
        if stamp_ns in self._by_stamp:
            return self._by_stamp[stamp_ns]
        i = bisect.bisect_right(self._times, bag_time) - 1
        return self._infos[max(i, 0)]


def preflight(input_path: Path, output_path: Path, options: BagJobOptions) -> TopicPlan:
    """Every check that needs no model: options, paths, topics. The CLI runs it before loading
    the model, so a typo fails in a second; `process_bag` runs it again."""
    input_path, output_path = Path(input_path), Path(output_path)
    options.validate()
    if not input_path.exists():
        raise BagError(f"input bag {input_path} does not exist")
    check_output_path(output_path, overwrite=options.overwrite, what="output bag")
    check_not_inside(output_path, input_path, what="output bag", protected_what="input bag")
    if options.export_dir is not None:
        export_dir = Path(options.export_dir)
        check_output_path(export_dir, overwrite=options.overwrite, what="export folder")
        check_not_inside(export_dir, input_path, what="export folder", protected_what="input bag")
        check_not_inside(export_dir, output_path, what="export folder", protected_what="output bag")
    with open_bag(input_path) as reader:
        return plan_topics(topic_types(reader), options.image_topic, options.camera_info_topic,
                           options.copy_topics, bag_name=f"bag {input_path}")


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
    hooks; tests use it to interrupt a run). Raises BagError; writes nothing to `output_path`
    unless the whole bag succeeded."""
    from depth_anything_ros.inference import DepthKind

    input_path, output_path = Path(input_path), Path(output_path)
    if estimator.kind != DepthKind.METRIC_DEPTH:
        raise BagError(
            "the model predicts relative disparity, not metres; bag processing writes metric "
            "depth and clouds only: pass metric weights (--weights) or a metric variant"
        )
    plan = preflight(input_path, output_path, options)
    for note in plan.notes:
        log.warning("%s", note)

    start = time.perf_counter()
    summary = BagSummary(output=output_path)
    with open_bag(input_path) as reader:
        storage = options.storage or bag_storage(input_path)
        infos = _read_camera_infos(reader, plan.camera_info_topic)
        if plan.camera_info_topic and not len(infos):
            log.warning("no readable CameraInfo on %s: writing depth images only",
                        plan.camera_info_topic)
        with StagedOutput(output_path, overwrite=options.overwrite, what="output bag") as staged, \
                _staged_export(options) as staged_export:
            job = _Job(reader, plan, estimator, options, infos, summary, on_frame,
                       None if staged_export is None else FrameExporter(staged_export.path))
            job.run(staged.path, storage, progress)
            staged.commit()
            if staged_export is not None:
                staged_export.commit()
    summary.seconds = time.perf_counter() - start
    return summary


class _NullStage:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _staged_export(options: BagJobOptions) -> Any:
    if options.export_dir is None:
        return _NullStage()
    staged = StagedOutput(Path(options.export_dir), overwrite=options.overwrite, what="export folder")
    staged.path.mkdir()
    return staged


def _read_camera_infos(reader: Any, topic: str | None) -> CameraInfoTable:
    if topic is None:
        return CameraInfoTable([])
    conns = [c for c in reader.connections if c.topic == topic]
    entries = []
    for conn, bag_time, raw in reader.messages(connections=conns):
        try:
            info = reader.deserialize(raw, conn.msgtype)
        except Exception as exc:  # noqa: BLE001 - a malformed message is skipped, not fatal
            log.warning("skipping unreadable CameraInfo on %s at bag time %d: %s", topic, bag_time, exc)
            continue
        entries.append((bag_time, stamp_of(info).ns, info))
    return CameraInfoTable(entries)


class _Job:
    """The state of one run: connections, pool, counters."""

    def __init__(self, reader: Any, plan: TopicPlan, estimator: Any, options: BagJobOptions,
                 infos: CameraInfoTable, summary: BagSummary,
                 on_frame: Callable[[int], None] | None, exporter: FrameExporter | None) -> None:
        self.reader = reader
        self.plan = plan
        self.estimator = estimator
        self.options = options
        self.infos = infos
        self.summary = summary
        self.on_frame = on_frame
        self.exporter = exporter
        self.workers = options.workers or max(1, min(4, os.cpu_count() or 1))
        self.use_rectified = options.intrinsics_source == "P"

    # -- setup ---------------------------------------------------------------------------
    def _open_writer(self, path: Path, storage: str) -> Any:
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.typesys import Stores, get_typestore

        version = DISTRO_BAG_VERSION[self.options.distro]
        store = Stores.ROS2_HUMBLE if self.options.distro == "humble" else Stores.ROS2_JAZZY
        self.factory = MessageFactory(get_typestore(store))
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        writer = Writer(path, version=version, storage_plugin=plugin)
        writer.open()
        return writer

    def _add_connections(self, writer: Any) -> None:
        typestore = self.factory.typestore
        self.copy_conns: dict[int, Any] = {}
        for conn in self.reader.connections:
            if conn.topic not in self.plan.copy_topics:
                continue
            self.copy_conns[conn.id] = _copy_connection(writer, conn, self.reader.typestore)
        outputs = self.plan.outputs
        self.out_image = writer.add_connection(outputs.image, IMAGE_TYPE, typestore=typestore)
        self.out_info = self.out_points = None
        if len(self.infos):
            self.out_info = writer.add_connection(outputs.camera_info, CAMERA_INFO_TYPE, typestore=typestore)
            if self.options.points:
                self.out_points = writer.add_connection(outputs.points, POINTCLOUD_TYPE, typestore=typestore)

    # -- run -----------------------------------------------------------------------------
    def run(self, out_path: Path, storage: str, progress: bool) -> None:
        from tqdm import tqdm

        image_conns = [c for c in self.reader.connections if c.topic == self.plan.image_topic]
        self.image_ids = {c.id for c in image_conns}
        wanted = image_conns + [c for c in self.reader.connections
                                if c.topic in self.plan.copy_topics and c.id not in self.image_ids]
        total = sum(c.msgcount for c in image_conns)
        writer = self._open_writer(out_path, storage)
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="bag")
        bar = tqdm(total=total, unit="frame", disable=not progress, dynamic_ncols=True)
        try:
            self._add_connections(writer)
            entries = self.reader.messages(connections=wanted)
            decoded = self._decoded(entries, pool)
            inferred = self._inferred(decoded)
            built = self._built(inferred, pool)
            for item in built:
                self._write(writer, item, bar)
            writer.close()
        except BaseException:
            writer.abort()
            raise
        finally:
            bar.close()
            pool.shutdown(wait=True, cancel_futures=True)

    def _lookahead(self) -> int:
        return max(2 * self.options.batch_size, self.options.batch_size + 2 * self.workers)

    def _decoded(self, entries: Iterable[tuple[Any, int, bytes]], pool: ThreadPoolExecutor) -> Iterator[Any]:
        """Image messages → decode futures (bounded), other messages pass through, in order."""
        index = 0

        def items() -> Iterator[Any]:
            nonlocal index
            for conn, bag_time, raw in entries:
                if conn.id in self.image_ids:
                    yield pool.submit(self._decode, conn, raw, index, bag_time)
                    index += 1
                else:
                    yield _Copy(conn, bag_time, raw)

        return _ordered(items(), self._lookahead())

    def _decode(self, conn: Any, raw: bytes, index: int, bag_time: int) -> _Frame:
        msgtype = conn.msgtype
        frame = _Frame(index, bag_time, conn.id, raw)
        try:
            msg = self.reader.deserialize(raw, msgtype)
            frame.stamp = stamp_of(msg)
        except Exception as exc:  # noqa: BLE001 - a malformed message is skipped (or strict)
            frame.error = f"cannot deserialize {msgtype}: {exc}"
            return frame
        try:
            frame.rgb = decode_rgb(msg, msgtype)
        except ValueError as exc:  # ImageDecodeError is a ValueError
            frame.error = f"cannot decode image: {exc}"
        return frame

    def _inferred(self, stream: Iterable[Any]) -> Iterator[Any]:
        """Groups consecutive same-size frames into batches; everything leaves in order."""
        window: list[Any] = []
        batch: list[_Frame] = []
        for item in stream:
            frame = item if isinstance(item, _Frame) else None
            if frame is not None and frame.rgb is not None:
                if batch and frame.rgb.shape != batch[0].rgb.shape:
                    self._predict(batch)
                    yield from window
                    window, batch = [], []
                batch.append(frame)
            if not batch:
                yield item  # nothing waits for inference: pass straight on
                continue
            window.append(item)
            if len(batch) >= self.options.batch_size:
                self._predict(batch)
                yield from window
                window, batch = [], []
        if batch:
            self._predict(batch)
        yield from window

    def _predict(self, batch: list[_Frame]) -> None:
        rgbs = np.stack([f.rgb for f in batch])
        depths = self.estimator.predict_batch(rgbs).values
        for frame, depth in zip(batch, depths):
            frame.depth = depth

    def _built(self, stream: Iterable[Any], pool: ThreadPoolExecutor) -> Iterator[Any]:
        """Frames with depth → futures of their serialized outputs (bounded), in order."""
        def items() -> Iterator[Any]:
            for item in stream:
                if isinstance(item, _Frame) and item.depth is not None:
                    name = self.exporter.unique_name(item.stamp.name) if self.exporter else ""
                    yield pool.submit(self._build, item, name)
                else:
                    yield item

        return _ordered(items(), self._lookahead())

    def _build(self, frame: _Frame, export_name: str) -> tuple[_Frame, list[tuple[Any, bytes]]]:
        from depth_anything_ros.geometry.camera import intrinsics_from_matrices
        from depth_anything_ros.geometry.pointcloud import organized_cloud

        assert frame.depth is not None and frame.stamp is not None and frame.rgb is not None
        depth, stamp = frame.depth, frame.stamp
        height, width = depth.shape
        factory = self.factory
        out = [(self.out_image, factory.serialize(factory.depth_image(stamp, depth, self.options.depth_encoding)))]
        intrinsics = None
        info = self.infos.lookup(stamp.ns, frame.bag_time) if self.out_info is not None else None
        if info is not None:
            depth_info = factory.camera_info(stamp, info, width, height)
            out.append((self.out_info, factory.serialize(depth_info)))
            try:
                intrinsics = intrinsics_from_matrices(depth_info.k, depth_info.p, width, height,
                                                      self.use_rectified)
                intrinsics.validate()
            except ValueError as exc:
                log.debug("frame %d: no cloud: %s", frame.index, exc)
                intrinsics = None
            if self.out_points is not None and intrinsics is not None:
                cloud = organized_cloud(depth, frame.rgb, intrinsics, stride=self.options.points_stride)
                out.append((self.out_points, factory.serialize(factory.pointcloud(stamp, cloud))))
        if self.exporter is not None:
            self.exporter.write(export_name, frame.rgb, depth, intrinsics, stamp.frame_id)
        return frame, out

    def _write(self, writer: Any, item: Any, bar: Any) -> None:
        summary = self.summary
        if isinstance(item, _Copy):
            writer.write(self.copy_conns[item.conn.id], item.bag_time, item.raw)
            summary.copied += 1
            return
        frame = item if isinstance(item, _Frame) else item[0]
        summary.frames_in += 1
        if frame.conn_id in self.copy_conns:  # the camera topic itself is copied too
            writer.write(self.copy_conns[frame.conn_id], frame.bag_time, frame.raw)
            summary.copied += 1
        if isinstance(item, _Frame):  # a frame that could not be used
            assert item.error is not None
            if self.options.strict:
                raise BagFrameError(
                    f"{self.plan.image_topic} message {item.index} (bag time {item.bag_time} ns): "
                    f"{item.error} (--strict)"
                )
            log.warning("skipping %s message %d (bag time %d ns): %s",
                        self.plan.image_topic, item.index, item.bag_time, item.error)
            summary.skipped.append(SkippedFrame(item.index, item.bag_time, item.error))
            bar.update(1)
            return
        frame, outputs = item
        for conn, data in outputs:
            writer.write(conn, frame.bag_time, data)
        summary.frames_out += 1
        if self.out_points is not None and len(outputs) < 3:
            summary.frames_without_points += 1
        bar.update(1)
        if self.on_frame is not None:
            self.on_frame(summary.frames_out)


def _ordered(items: Iterable[Any], limit: int) -> Iterator[Any]:
    """Yield items in order, resolving futures; at most `limit` futures are pending at once
    (the prefetch bound). Non-future items wait in line behind earlier futures."""
    pending: deque[Any] = deque()
    in_flight = 0
    for item in items:
        pending.append(item)
        if isinstance(item, Future):
            in_flight += 1
        while pending and (in_flight > limit or not isinstance(pending[0], Future)
                           or pending[0].done()):
            head = pending.popleft()
            if isinstance(head, Future):
                in_flight -= 1
                head = head.result()
            yield head
    while pending:
        head = pending.popleft()
        yield head.result() if isinstance(head, Future) else head


def _copy_connection(writer: Any, conn: Any, reader_typestore: Any) -> Any:
    """An output connection equal to an input one (definition, hash, QoS), for raw copies."""
    from rosbags.interfaces import MessageDefinitionFormat

    ext = conn.ext
    qos = getattr(ext, "offered_qos_profiles", ()) or ()
    fmt = getattr(ext, "serialization_format", "cdr")
    if conn.msgdef.format != MessageDefinitionFormat.NONE and conn.msgdef.data and conn.digest:
        return writer.add_connection(conn.topic, conn.msgtype, msgdef=conn.msgdef.data,
                                     rihs01=conn.digest, serialization_format=fmt,
                                     offered_qos_profiles=qos)
    return writer.add_connection(conn.topic, conn.msgtype, typestore=reader_typestore,
                                 serialization_format=fmt, offered_qos_profiles=qos)
