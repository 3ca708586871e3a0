"""`depth_node`: camera images in; metric depth, CameraInfo, organized cloud (and colour) out.

Data flow (DESIGN.md § Data flow): the image callback only drops the message into a one-slot
mailbox (newest wins); a worker thread decodes, runs `DepthEstimator.predict`, and publishes
everything under the input header. The executor never blocks on inference.

Publishing (the organized cloud, message conversion and DDS serialisation: about 15 % of a
frame with the shipped model on a 640×480 camera) runs in its own thread, overlapped with the
next frame's inference; a one-slot hand-over keeps the order and bounds the backlog to one frame.

Relative (disparity) weights are refused at start-up unless `scale_source` anchors them
(ros/metric_scale.py) or `relative_scale` (and optionally `relative_shift`) convert them:
depth = 1/(shift + scale·disparity) (REFERENCE.md §4). The node never publishes disparity as if
it were metres.
"""
from __future__ import annotations

import os
import queue
import sys
import threading
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import (
    InvalidParameterTypeException,
    InvalidParameterValueException,
    ParameterException,
)
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from depth_anything_ros.conversions import ImageDecodeError, ImageTooLargeError
from depth_anything_ros.geometry.camera_model import CameraModel
from depth_anything_ros.ros import messages
from depth_anything_ros.ros.camera_geometry import FrameCameras
from depth_anything_ros.ros.diagnostics import NodeStats, diagnostic_status
from depth_anything_ros.ros.input_qos import MatchedSubscription, qos_profile
from depth_anything_ros.ros.log_bridge import forward_library_logs, stop_forwarding
from depth_anything_ros.ros.mailbox import LatestMailbox
from depth_anything_ros.ros.metric_scale import MetricScale
from depth_anything_ros.ros.params import (
    SPEC_BY_NAME,
    SPECS,
    NodeSettings,
    ParameterError,
    check_runtime_change,
    check_startup,
    descriptor,
    parameter_error_reason,
)
from depth_anything_ros.ros.throttled_log import ThrottledLog
from depth_anything_ros.ros.work_items import Frame, Output
from depth_anything_ros.scale_bar import depth_picture

NODE_NAME = "depth_node"
# How long shutdown waits for a frame mid-inference: under `ros2 launch`'s default sigterm_timeout
# (5 s from SIGINT to SIGTERM, then SIGKILL), so the node ends on its own, not killed.
STOP_TIMEOUT_S = 3.0
GIL_SWITCH_INTERVAL_S = 0.0005


class StartupError(RuntimeError):
    """The node cannot start; the message is the one line the user sees."""


class DepthNode(Node):
    """The node. `estimator` may be injected (tests, benchmarks); otherwise `weights` is loaded."""

    def __init__(self, *, estimator=None, **node_kwargs) -> None:
        super().__init__(NODE_NAME, **node_kwargs)
        # The worker's model forward (hundreds of Python-level ops) and the executor's callbacks
        # share the GIL. At the default 5 ms switch interval a 60 Hz camera backed up in the
        # executor and outputs aged by ~1 s; 0.5 ms keeps callbacks flowing (process-wide).
        sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL_S))
        self._log_handler = forward_library_logs(self.get_logger())  # model loading → /rosout
        try:
            self._settings = self._declare_parameters()
            self._estimator = estimator if estimator is not None else self._load_estimator()
            self._relative = self._estimator.kind.name.startswith("RELATIVE")
            self._check_model_kind()
        except StartupError:
            stop_forwarding(self._log_handler)
            raise
        s = self._settings

        out_qos = qos_profile(s.output_reliability, s.output_queue_size)
        self._pub_depth = self.create_publisher(Image, "depth/image", out_qos)
        self._pub_info = self.create_publisher(CameraInfo, "depth/camera_info", out_qos)
        self._pub_points = self.create_publisher(PointCloud2, "depth/points", out_qos)
        self._pub_colored = self.create_publisher(Image, "depth/colored", out_qos)
        self._pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)

        self._mailbox: LatestMailbox[Frame] = LatestMailbox()
        self.stats = NodeStats()
        self._throttled = ThrottledLog(self.get_logger(), lambda: self._settings.error_log_period)
        self.info_topic = self.resolve_topic_name("camera_info")
        self._cameras = FrameCameras(self.get_logger(), self._throttled, self.info_topic)
        self.uncorrected_focal = False  # the last frame's depth lacked its focal correction
        compressed = s.image_transport == "compressed"
        self.image_topic = self.resolve_topic_name("image") + ("/compressed" if compressed else "")
        self.image_input = MatchedSubscription(
            self, CompressedImage if compressed else Image, self.image_topic,
            lambda m: self._on_image(m, compressed), s.input_queue_size, s.input_reliability)
        self.info_input = MatchedSubscription(
            self, CameraInfo, "camera_info", self._cameras.put, s.input_queue_size,
            s.input_reliability)
        self._scale = MetricScale(self, s, self._relative, self._throttled)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.create_timer(s.diagnostics_period, self._publish_diagnostics)

        self._stop = threading.Event()
        self._outbox: queue.Queue[Output] = queue.Queue(maxsize=1)
        self._worker = threading.Thread(target=self._worker_loop, name="depth_worker", daemon=True)
        self._publisher = threading.Thread(target=self._publish_loop, name="depth_publisher",
                                           daemon=True)
        self._worker.start()
        self._publisher.start()
        self.get_logger().info(
            f"depth from {self.image_topic} ({s.image_transport}, "
            f"{self.image_input.describe()}) with {self._model_label()} on "
            f"{self._estimator.device}; outputs {self.resolve_topic_name('depth/image')} etc.")

    # ---- start-up -------------------------------------------------------------------------
    def _declare_parameters(self) -> NodeSettings:
        values = {}
        for spec in SPECS:
            try:
                param = self.declare_parameter(spec.name, spec.default, descriptor(spec))
            except (InvalidParameterTypeException, InvalidParameterValueException,
                    ParameterException) as exc:
                reason = parameter_error_reason(exc, spec.name)
                if isinstance(spec.default, float) and "'INTEGER'" in reason:
                    reason += " (write it with a decimal point, e.g. 3.0)"
                raise StartupError(f"parameter '{spec.name}': {reason}") from None
            values[spec.name] = param.value
        settings = NodeSettings(**values)
        try:
            check_startup(settings)
        except ParameterError as exc:
            raise StartupError(str(exc)) from None
        return settings

    def _load_estimator(self):
        import torch

        from depth_anything_ros.inference.cpus import default_torch_threads
        from depth_anything_ros.inference.estimator import DepthEstimator

        s = self._settings
        torch.set_num_threads(s.torch_threads or default_torch_threads())
        try:
            return DepthEstimator.from_weights(
                os.path.expanduser(s.weights) if s.weights else None,  # `weights:=~/x` as checked
                version=s.version or None, variant=s.variant or None,
                max_depth=s.max_depth or None, input_size=s.input_size or None,
                device=s.device, precision=s.precision, backend=s.backend,
                cache_dir=s.cache_dir or None, focal_correction=s.focal_correction,
                streaming=True)
        except (ValueError, OSError, RuntimeError, KeyError, ImportError) as exc:
            raise StartupError(f"cannot load the model (parameter 'weights' = "
                               f"{s.weights or 'shipped default'!r}): {exc}") from None

    def _check_model_kind(self) -> None:
        s = self._settings
        if self._relative and s.relative_scale <= 0 and s.scale_source == "none":
            raise StartupError(
                "the weights are a relative (disparity) model, whose output is not metres; use "
                "metric weights, set 'scale_source' (sparse_depth or ground_plane), or set "
                "'relative_scale' (and 'relative_shift') from a fit, "
                "depth = 1/(shift + scale·disparity)")

    def _model_label(self) -> str:
        cfg = self._estimator.config
        return (f"{cfg.encoder} {cfg.version} {cfg.variant} (input {self._estimator.input_size}, "
                f"{getattr(self._estimator, 'backend', 'torch')})")

    # ---- executor callbacks (O(1), never block) --------------------------------------------
    def _on_image(self, msg, compressed: bool) -> None:
        self.stats.frame_in()
        self._mailbox.put(Frame(msg, compressed))

    def _on_set_parameters(self, params) -> SetParametersResult:
        changes = {p.name: p.value for p in params if p.name in SPEC_BY_NAME}
        try:
            self._settings = check_runtime_change(self._settings, changes)
        except ParameterError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self._scale.update_settings(self._settings)
        return SetParametersResult(successful=True)

    def _publish_diagnostics(self) -> None:
        status = diagnostic_status(
            f"{self.get_fully_qualified_name()}: depth", str(self._estimator.device),
            self.stats.summary(), self._mailbox.dropped, self._mailbox.received,
            {"device": str(self._estimator.device), "model": self._model_label(),
             "image_topic": self.image_topic, "image_qos": self.image_input.describe(),
             "intrinsics": self._cameras.status},
            idle=self._settings.lazy and not self._wanted_outputs(self._settings),
            assumed_intrinsics=self._cameras.assumed,
            uncorrected_focal=self.uncorrected_focal)
        msg = DiagnosticArray(status=[status] + self._scale.diagnostics())
        msg.header.stamp = self.get_clock().now().to_msg()
        self._pub_diag.publish(msg)

    # ---- worker ----------------------------------------------------------------------------
    def _worker_loop(self) -> None:
        while not self._stop.is_set():
            frame = self._mailbox.take(timeout=0.1)
            if frame is None or self._stop.is_set():
                continue
            try:
                self._process(frame)
            except Exception as exc:  # noqa: BLE001 — one bad frame must never stop the node
                self.stats.frame_rejected()
                self._throttled("error", f"worker:{type(exc).__name__}",
                                f"{self.image_topic}: frame failed: {type(exc).__name__}: {exc}")

    def _wanted_outputs(self, s: NodeSettings) -> set:
        """The output publishers to fill for this frame: the enabled ones, and with `lazy` only
        those with a subscriber (one look-up each per frame; a switched-off output's subscriber
        does not keep the model running)."""
        enabled = [self._pub_depth, self._pub_info]
        if s.publish_points:
            enabled.append(self._pub_points)
        if s.publish_colored:
            enabled.append(self._pub_colored)
        return {p for p in enabled if not s.lazy or p.get_subscription_count() > 0}

    def _reject(self, key: str, text: str) -> None:
        self.stats.frame_rejected()
        self._throttled("error", key, text)

    def _decode(self, frame: Frame, s: NodeSettings) -> np.ndarray | None:
        msg = frame.msg
        if not frame.compressed and msg.width * msg.height > s.max_image_pixels:
            self._reject("too_large", f"{self.image_topic}: width×height = {msg.width}×"
                         f"{msg.height} exceeds max_image_pixels = {s.max_image_pixels}; skipped")
            return None
        try:
            rgb = (messages.compressed_to_rgb(msg, s.max_image_pixels, s.mono16_bits)
                   if frame.compressed else messages.image_to_rgb(msg, s.mono16_bits))
        except ImageTooLargeError as exc:
            self._reject("too_large", f"{self.image_topic}: {exc} (max_image_pixels)")
            return None
        except ImageDecodeError as exc:
            field = str(exc).split(":", 1)[0]
            self._reject(f"decode:{field}", f"{self.image_topic}: {exc}; frame skipped")
            return None
        if rgb.shape[0] * rgb.shape[1] > s.max_image_pixels:
            self._reject("too_large", f"{self.image_topic}: decoded {rgb.shape[1]}×{rgb.shape[0]} "
                         f"exceeds max_image_pixels = {s.max_image_pixels}; skipped")
            return None
        return rgb


    def _process(self, frame: Frame) -> None:
        s = self._settings
        wanted = self._wanted_outputs(s)
        if not wanted:
            self.stats.frame_skipped_lazy()
            return
        rgb = self._decode(frame, s)
        if rgb is None:
            return
        header = frame.msg.header
        height, width = rgb.shape[:2]
        first_info_awaited = not self._cameras.infos  # none has arrived yet, for any frame_id
        frame_camera = self._cameras.model_for(header, width, height, s)
        camera = frame_camera.model
        if camera is None and s.require_camera_info:
            return
        result = self._estimator.predict(np.ascontiguousarray(rgb), fx=frame_camera.fx)
        if first_info_awaited and camera is None and self._cameras.infos:
            # the first camera_info arrived while the model ran (a driver sends it beside the
            # frame; the bag pairs it by stamp, so the first frame should get it too). Checked
            # only then: a camera without camera_info costs no second look-up per frame
            late = self._cameras.model_for(header, width, height, s)
            if late.model is not None:
                frame_camera, camera = late, late.model
                factor = self._estimator.focal_scale(late.fx, width, height)
                result.values *= np.float32(factor)
                result.focal_scale = float(result.focal_scale) * factor
        # the camera's fx in pixels of this image: the focal correction of canonical-focal models
        self._check_focal(frame_camera, header)
        depth = self._scale.to_metres(result.values, header, camera, s,
                                      units=float(result.focal_scale))
        if depth is None:  # a relative model without any scale: never publish disparity
            self.stats.frame_rejected()
            return
        output = Output(header, rgb, depth, camera, s, wanted, result.model_time_s)
        while not self._stop.is_set():  # waits while the publisher is a frame behind
            try:
                self._outbox.put(output, timeout=0.1)
                return
            except queue.Full:
                continue

    def _check_focal(self, camera, header) -> None:
        """A model that needs the camera's focal length (canonical focal) gets none: its depth
        is for its canonical camera, off by f/f_c on this one. It is still published (depth
        flows without camera_info, as documented), but said in a throttled line and in
        /diagnostics (WARN), so nobody mistakes it for calibrated metres."""
        missing = camera.fx is None and self._estimator.corrects_focal
        self.uncorrected_focal = missing
        if missing:
            why = camera.problem or self._cameras.status
            self._throttled("warn", "no_focal",
                            f"{self.image_topic}: depth is not focal-corrected ({why}): the model "
                            "gives depth for its canonical camera, off in scale by f/f_c on this "
                            f"one; publish a camera_info for frame_id '{header.frame_id}' or set "
                            "fallback_hfov_deg")

    def _publish_loop(self) -> None:
        while not self._stop.is_set():
            try:
                out = self._outbox.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                self._publish(out.header, out.rgb, out.depth, out.camera, out.settings,
                              out.wanted)
            except Exception as exc:  # noqa: BLE001 — one bad frame must never stop the node
                self.stats.frame_rejected()
                self._throttled("error", f"publish:{type(exc).__name__}",
                                f"{self.image_topic}: publishing failed: "
                                f"{type(exc).__name__}: {exc}")
                continue
            self.stats.frame_out(self._latency_s(out.header.stamp), out.model_time_s)

    def _latency_s(self, stamp) -> float | None:
        """Stamp → now, or None when the stamp says nothing: zero (a driver that does not
        stamp) or negative (legal in the message, refused by rclpy's Time, which used to end
        the publisher thread)."""
        ns = messages.stamp_ns(stamp)
        if ns <= 0:
            return None
        return (self.get_clock().now().nanoseconds - ns) * 1e-9

    def _publish(self, header, rgb: np.ndarray, depth: np.ndarray, camera: CameraModel | None,
                 s: NodeSettings, wanted: set) -> None:
        if self._pub_depth in wanted:
            self._pub_depth.publish(messages.depth_to_msg(depth, header, s.depth_encoding))
        if camera is not None and self._pub_info in wanted:
            self._pub_info.publish(messages.camera_info_msg(camera.info_fields(), header))
        if camera is not None and self._pub_points in wanted:
            self._pub_points.publish(messages.depth_to_cloud_msg(
                depth, rgb, camera, header, s.points_stride, s.min_range, s.range_limit))
        if self._pub_colored in wanted:
            ranged = s.colored_max > 0
            bgr, _ = depth_picture(depth, s.colored_min if ranged else None,
                                   s.colored_max if ranged else None, s.colormap,
                                   bar=s.colored_scale_bar)
            self._pub_colored.publish(messages.bgr_to_msg(bgr, header))

    # ---- shutdown --------------------------------------------------------------------------
    def stop_worker(self, timeout_s: float = 10.0) -> bool:
        """Stop and join the worker; True if it ended within `timeout_s`."""
        self._stop.set()
        self._mailbox.close()
        deadline = time.monotonic() + timeout_s
        for thread in (self._worker, self._publisher):
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        return not (self._worker.is_alive() or self._publisher.is_alive())

    @property
    def worker_alive(self) -> bool:
        return self._worker.is_alive() and self._publisher.is_alive()

    @property
    def dropped_frames(self) -> int:
        return self._mailbox.dropped

    def destroy_node(self) -> None:
        # never destroys publishers under a live worker (it would publish on freed handles);
        # `main` does not call this while a frame is still in the model, it exits instead
        self.stop_worker()
        stop_forwarding(self._log_handler)
        super().destroy_node()
