"""The ordered, bounded pipeline of one bag job.

    read (bag order) → decode in a thread pool → batches of same-size frames through
    `DepthEstimator.predict_batch` → build + serialize output messages in the pool → write in
    bag order at the original timestamps.

Stages are generators pulled by the writer loop. Each pool stage keeps at most a bounded number
of frames in flight (`ordered`), so decoding of the next batch and encoding of the previous one
run while the model works, and memory stays flat on long bags.
"""
from __future__ import annotations

import functools
import logging
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple

import numpy as np

from depth_anything_ros.bag.camera_info import CameraInfoTable
from depth_anything_ros.bag.errors import BagError, BagFrameError
from depth_anything_ros.bag.export import FrameExporter
from depth_anything_ros.bag.messages import MessageFactory, Stamp, decode_rgb, stamp_of
from depth_anything_ros.bag.metric_scale import BagScale
from depth_anything_ros.bag.options import DISTRO_BAG_VERSION, BagJobOptions, BagSummary, SkippedFrame
from depth_anything_ros.bag.topics import CAMERA_INFO_TYPE, IMAGE_TYPE, POINTCLOUD_TYPE, TopicPlan
from depth_anything_ros.bag.writer_thread import WriterThread
from depth_anything_ros.geometry.camera_model import (Calibration, CameraModel, CameraModelCache,
                                                      FrameCamera)
from depth_anything_ros.geometry.pointcloud import organized_cloud

log = logging.getLogger(__name__)


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
    camera: FrameCamera | None = None  # from its CameraInfo, once per frame (`_frame_camera`)


class _Copy(NamedTuple):
    """A message copied unchanged to the output."""

    conn: Any
    bag_time: int
    raw: bytes


class BagPipeline:
    """One run: output connections, the thread pool, the stages and the writer loop."""

    def __init__(self, reader: Any, plan: TopicPlan, estimator: Any, options: BagJobOptions,
                 infos: CameraInfoTable, summary: BagSummary,
                 on_frame: Callable[[int], None] | None, exporter: FrameExporter | None,
                 scale: BagScale | None = None) -> None:
        self.reader = reader
        self.plan = plan
        self.estimator = estimator
        self.options = options
        self.infos = infos
        self.summary = summary
        self.on_frame = on_frame
        self.exporter = exporter
        self.scale = scale  # metric scale; None: the model's own metres
        self.workers = options.workers or default_workers()
        self.cameras = CameraModelCache()  # the node's camera models: rays once per CameraInfo
        self.write_info = len(infos) > 0 or options.fallback_hfov_deg > 0
        self.write_points = self.write_info and options.points
        self.corrects_focal = bool(getattr(estimator, "corrects_focal", False))
        self._warned_focal = False
        self.factory = MessageFactory(_typestore(options.distro))
        self.copy_conns: dict[int, Any] = {}  # input connection id → output connection
        self.out_conns: dict[str, Any] = {}  # "image" | "info" | "points" → output connection

    # -- setup (in the writer thread) --------------------------------------------------------
    def _open_writer(self, path: Path, storage: str) -> Any:
        """Open the output bag and add its connections: copies first, then the outputs."""
        from rosbags.rosbag2 import StoragePlugin, Writer

        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        writer = Writer(path, version=DISTRO_BAG_VERSION[self.options.distro], storage_plugin=plugin)
        writer.open()
        try:
            _fast_sqlite(writer)
            for conn in self.reader.connections:
                if conn.topic in self.plan.copy_topics:
                    self.copy_conns[conn.id] = _copy_connection(writer, conn, self.reader.typestore)
            outputs, typestore = self.plan.outputs, self.factory.typestore
            self.out_conns["image"] = writer.add_connection(outputs.image, IMAGE_TYPE, typestore=typestore)
            if self.write_info:
                self.out_conns["info"] = writer.add_connection(
                    outputs.camera_info, CAMERA_INFO_TYPE, typestore=typestore)
            if self.write_points:
                self.out_conns["points"] = writer.add_connection(
                    outputs.points, POINTCLOUD_TYPE, typestore=typestore)
        except BaseException:
            writer.abort()
            raise
        return writer

    # -- run (producer: the calling thread) -----------------------------------------------------
    def run(self, out_path: Path, storage: str, progress: bool) -> None:
        from tqdm import tqdm

        image_conns = [c for c in self.reader.connections if c.topic == self.plan.image_topic]
        self.image_ids = {c.id for c in image_conns}
        wanted = image_conns + [c for c in self.reader.connections
                                if c.topic in self.plan.copy_topics and c.id not in self.image_ids]
        total = sum(c.msgcount for c in image_conns)
        self.bar = tqdm(total=total, unit="frame", disable=not progress, dynamic_ncols=True)
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="bag")
        writer = WriterThread(lambda: self._open_writer(out_path, storage), self._write,
                              max_heavy=self._lookahead()).start()
        try:
            entries = self._read(wanted)
            for item in self._built(self._inferred(self._decoded(entries, pool)), pool):
                writer.put(item, heavy=not isinstance(item, _Copy))
            writer.finish()
        except BaseException:
            writer.cancel()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self.bar.close()

    def _read(self, connections: list[Any]) -> Iterator[tuple[Any, int, bytes]]:
        """The input's messages in bag order; a storage error becomes a BagError naming the bag."""
        try:
            yield from self.reader.messages(connections=connections)
        except Exception as exc:  # noqa: BLE001 - sqlite3/MCAP/rosbags errors differ by storage
            raise BagError(f"input bag {self.reader.paths[0]}: cannot read messages: {exc}") from exc

    def _lookahead(self) -> int:
        """Frames a stage may hold beyond the batch in hand: one more batch plus one per worker."""
        return self.options.batch_size + max(self.options.batch_size, self.workers)

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

        return ordered(items(), self._lookahead())

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
            frame.rgb = decode_rgb(msg, msgtype, self.options.mono16_bits)
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
        fx = [self._frame_fx(f) for f in batch] if self.corrects_focal else None
        result = self.estimator.predict_batch(rgbs, fx=fx)
        units = np.broadcast_to(np.asarray(result.focal_scale, dtype=np.float64), (len(batch),))
        for frame, depth, unit in zip(batch, result.values, units):
            frame.depth = depth
            if self.scale is not None:  # here, in bag order: the filter's state needs it
                frame.depth, frame.error = self.scale.to_metres(
                    depth, frame.stamp, self._frame_camera(frame).model, float(unit),
                    frame.bag_time)

    def _frame_fx(self, frame: _Frame) -> float | None:
        """fx in pixels of the frame's image, by the node's rules (None: no usable focal
        length; the depth then stays uncorrected for focal, and the job says so)."""
        camera = self._frame_camera(frame)
        if camera.fx is None and not self._warned_focal:
            self._warned_focal = True
            why = camera.problem or "no CameraInfo for it"
            log.warning("frame %d: no usable focal length (%s): its depth is not focal-corrected "
                        "(the model's f/f_c factor), and so may be off in scale; the summary "
                        "counts such frames", frame.index, why)
        return camera.fx

    def _built(self, stream: Iterable[Any], pool: ThreadPoolExecutor) -> Iterator[Any]:
        """Frames with depth → futures of their serialized outputs, in order (the writer
        thread's frame slots bound how many are in flight)."""
        def items() -> Iterator[Any]:
            for item in stream:
                if isinstance(item, _Frame) and item.depth is not None:
                    name = self.exporter.unique_name(item.stamp.name) if self.exporter else ""
                    yield pool.submit(self._build, item, name)
                else:
                    yield item

        return items()  # futures go to the writer thread, whose bounded queue limits them

    def _camera(self, frame: _Frame) -> CameraModel | None:
        """The camera model for the frame's camera_info/points (None when not written)."""
        return self._frame_camera(frame).model if self.write_info else None

    def _frame_camera(self, frame: _Frame) -> FrameCamera:
        """The frame's camera by the node's rules (`CameraModelCache.frame_camera`), computed
        once: the model stage and the build stage both ask."""
        if frame.camera is None:
            assert frame.rgb is not None and frame.stamp is not None
            height, width = frame.rgb.shape[:2]
            info = self.infos.lookup(frame.stamp.ns, frame.bag_time, frame.stamp.frame_id)
            calibration = None if info is None else Calibration.from_message(info)
            frame.camera = self.cameras.frame_camera(calibration, width, height,
                                                     self.options.intrinsics_source,
                                                     self.options.fallback_hfov_deg)
            if frame.camera.problem is not None:
                log.debug("frame %d: no camera_info/points: %s", frame.index, frame.camera.problem)
        return frame.camera

    def _build(self, frame: _Frame, export_name: str) -> tuple[_Frame, list[tuple[str, Any]]]:
        assert frame.depth is not None and frame.stamp is not None and frame.rgb is not None
        depth, stamp = frame.depth, frame.stamp
        factory = self.factory
        out = [("image", factory.serialize(factory.depth_image(stamp, depth, self.options.depth_encoding)))]
        camera = self._camera(frame)
        if camera is not None:
            out.append(("info", factory.serialize(factory.camera_info(stamp, camera.info_fields()))))
            if self.write_points:
                cloud = organized_cloud(depth, frame.rgb, camera, stride=self.options.points_stride)
                out.append(("points", factory.serialize(factory.pointcloud(stamp, cloud))))
        if self.exporter is not None:
            self.exporter.write(export_name, frame.rgb, depth, camera, stamp.frame_id)
        return frame, out

    # -- writing (in the writer thread, in bag order) ----------------------------------------
    def _write(self, writer: Any, item: Any) -> None:
        summary = self.summary
        if isinstance(item, _Copy):
            writer.write(self.copy_conns[item.conn.id], item.bag_time, item.raw)
            summary.copied += 1
            return
        if isinstance(item, Future):
            item = item.result()
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
            # one line per frame only at DEBUG (--verbose): the summary aggregates by reason
            log.debug("bag %s: skipping %s message %d (bag time %d ns): %s", self.reader.paths[0],
                      self.plan.image_topic, item.index, item.bag_time, item.error)
            summary.skipped.append(SkippedFrame(item.index, item.bag_time, item.error))
            self.bar.update(1)
            return
        frame, outputs = item
        for key, data in outputs:
            writer.write(self.out_conns[key], frame.bag_time, data)
        summary.frames_out += 1
        if self.write_info or self.corrects_focal:  # known by now (_predict or _build asked)
            camera = self._frame_camera(frame)
            if self.write_info and camera.model is None:
                summary.camera_problems[camera.problem or "no CameraInfo for it"] += 1
            if self.corrects_focal and camera.fx is None:
                summary.frames_without_focal += 1
        self.bar.update(1)
        if self.on_frame is not None:
            self.on_frame(summary.frames_out)


def ordered(items: Iterable[Any], limit: int) -> Iterator[Any]:
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


def default_workers() -> int:
    """Decode/encode threads: enough to keep up with a GPU, not more than the usable CPUs."""
    from depth_anything_ros.inference.cpus import usable_cpus

    return max(2, min(8, usable_cpus()))


SQLITE_PAGE_SIZE = 65536  # bytes; SQLite's largest page (its default is 4096)


def _fast_sqlite(writer: Any) -> None:
    """Cheaper writing for the staged sqlite3 file, on the one writer thread every frame passes:

    - 64 KiB pages: a VGA frame's messages (~3.4 MB with `--points-stride 2`, ~7 MB without)
      are stored as chains of overflow pages, and 16× fewer pages cut the writer's CPU time per
      frame by ~35 % here (4.6 → 2.9 ms for 3.4 MB). Any SQLite reads any page size. The file
      holds only rosbags' schema yet, so VACUUM applies the new size at once.
    - no rollback journal and no fsync, like rosbag2's own performance-first write defaults: a
      failed job discards the whole staged bag anyway, so a journal protects nothing, and the
      fsync at close cost ~4 ms per VGA frame here.
    """
    conn = getattr(writer.storage, "conn", None)  # rosbags' Sqlite3Writer connection
    if conn is None or not hasattr(conn, "execute"):
        return
    conn.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
    conn.execute("VACUUM")
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")


@functools.lru_cache(maxsize=None)
def _typestore(distro: str) -> Any:
    """One typestore per distro and process: its (de)serializers are generated on first use
    (~40 ms a message type), so a fleet of short bags compiles them once, not once a bag."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_HUMBLE if distro == "humble" else Stores.ROS2_JAZZY)


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
