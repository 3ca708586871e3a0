"""The node's parameters: one table of names, defaults, descriptions, ranges and runtime safety.

Everything is declared up front (as depth_image_proc does) so `ros2 param describe` documents
it; `config/depth.yaml` lists the same names. `NodeSettings` is an immutable snapshot the worker
reads once per frame; a live change swaps in a new snapshot.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Mapping

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

from depth_anything_ros.conversions import DEPTH_ENCODINGS
from depth_anything_ros.scale.ground_plane import GroundConfig


class ParameterError(ValueError):
    """A parameter value is unusable; the message names the parameter and the reason."""


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: bool | int | float | str
    description: str
    choices: tuple[str, ...] = ()
    int_range: tuple[int, int, int] | None = None  # (from, to, step)
    float_range: tuple[float, float] | None = None
    runtime: bool = False  # may change while running (`ros2 param set`)


SPECS: tuple[ParamSpec, ...] = (
    # model (read once at start-up)
    ParamSpec("weights", "", "Checkpoint: official .pth, HF directory or our .safetensors, or "
              "an export (.onnx, OpenVINO .xml); empty = the shipped default model."),
    ParamSpec("version", "", "Override the checkpoint's Depth Anything version; empty = from "
              "metadata/filename.", choices=("", "v1", "v2")),
    ParamSpec("variant", "", "Override the checkpoint's variant; empty = from metadata/filename.",
              choices=("", "metric", "relative")),
    ParamSpec("max_depth", 0.0, "Metric head range in metres (20 indoor, 80 outdoor); 0 = from "
              "the checkpoint.", float_range=(0.0, 1000.0)),
    ParamSpec("input_size", 0, "Network input short side in pixels, a multiple of 14; 0 = the "
              "checkpoint's (518 for official weights).", int_range=(0, 4004, 14)),
    ParamSpec("backend", "auto", "What runs the network: auto (from 'weights': .onnx → "
              "onnxruntime, .xml → openvino; checkpoints: torchscript on the CPU in fp32, else "
              "torch), torch, compile "
              "(torch.compile), torchscript (a frozen trace per image size that runs without "
              "the GIL: keeps up beside ROS threads), onnxruntime, openvino (a checkpoint is "
              "exported on first use into 'cache_dir').",
              choices=("auto", "torch", "compile", "torchscript", "onnxruntime", "openvino")),
    ParamSpec("cache_dir", "", "Folder of the exports made on first use; empty = $DAR_CACHE_DIR, "
              "else ~/.cache/depth_anything_ros/exports."),
    ParamSpec("device", "auto", "Torch device: auto (CUDA if available), cpu, cuda, cuda:N."),
    ParamSpec("precision", "fp32", "Inference precision (torch: fp16 needs CUDA; openvino: the "
              "precision hint, bf16 where the CPU has it; onnxruntime: the exported graph's).",
              choices=("fp32", "fp16", "bf16")),
    ParamSpec("torch_threads", 0, "CPU threads for inference; 0 = the CPUs this process may use "
              "(affinity mask and cgroup quota) but one (at least 1), so the executor and DDS "
              "keep a core and a fast camera cannot back up.", int_range=(0, 256, 1)),
    ParamSpec("focal_correction", "auto", "Multiply metric depth by f/f_c, f = the camera_info's "
              "fx over the image's shorter side, f_c = the model's declared focal. auto: "
              "checkpoints trained in canonical-focal space (the shipped model); on: also "
              "official metric files with a known training camera; off: never.",
              choices=("auto", "on", "off")),
    ParamSpec("relative_scale", 0.0, "Relative (disparity) weights only: depth = 1/(shift + "
              "scale·disparity). A relative model is refused unless this is > 0 or a scale_source "
              "anchors it.",
              float_range=(0.0, 1.0e6)),
    ParamSpec("relative_shift", 0.0, "Relative weights only: the shift of that fit (least "
              "squares of 1/depth against metric depth on your camera's frames).",
              float_range=(-1.0e6, 1.0e6)),
    # topics and QoS (read at start-up)
    ParamSpec("image_transport", "raw", "raw: sensor_msgs/Image on 'image'; compressed: "
              "sensor_msgs/CompressedImage on '<image>/compressed'.",
              choices=("raw", "compressed")),
    ParamSpec("input_reliability", "auto", "QoS reliability of the image and camera_info "
              "subscriptions. auto: reliable when every publisher of the topic is reliable, "
              "otherwise best_effort (as rosbag2 does), and transient_local when every "
              "publisher is latched; re-checked as publishers come and go; "
              "a best-effort subscription to a reliable camera loses large frames in transport.",
              choices=("auto", "best_effort", "reliable")),
    ParamSpec("input_queue_size", 5, "QoS history depth of the input subscriptions.",
              int_range=(1, 100, 1)),
    ParamSpec("output_reliability", "reliable", "QoS reliability of all outputs (reliable: RViz "
              "and recorders see them).", choices=("reliable", "best_effort")),
    ParamSpec("output_queue_size", 5, "QoS history depth of the outputs.", int_range=(1, 100, 1)),
    ParamSpec("depth_encoding", "32FC1", "depth/image encoding: 32FC1 metres with NaN invalid "
              "(REP-118), or 16UC1 millimetres with 0 invalid.", choices=DEPTH_ENCODINGS),
    ParamSpec("diagnostics_period", 1.0, "Seconds between /diagnostics messages.",
              float_range=(0.1, 60.0)),
    # runtime-safe
    ParamSpec("publish_points", True, "Publish the organized PointCloud2 on depth/points.",
              runtime=True),
    ParamSpec("points_stride", 1, "Keep every N-th pixel (row and column) in depth/points.",
              int_range=(1, 64, 1), runtime=True),
    ParamSpec("min_range", 0.0, "Points with depth below this (m) are NaN.",
              float_range=(0.0, 10000.0), runtime=True),
    ParamSpec("max_range", 0.0, "Points with depth above this (m) are NaN; 0 = no limit.",
              float_range=(0.0, 10000.0), runtime=True),
    ParamSpec("publish_colored", False, "Publish colourised depth (bgr8) on depth/colored.",
              runtime=True),
    ParamSpec("colormap", "spectral_r", "Colormap of depth/colored, applied to nearness (near = "
              "its last colour; README § Pictures): spectral, turbo, inferno, magma, plasma, "
              "viridis, jet, bone, gray; '_r' reverses.", runtime=True),
    ParamSpec("colored_scale_bar", False, "depth/colored: append a scale bar in metres on the "
              "right (the image gets wider).", runtime=True),
    ParamSpec("colored_min", 0.0, "depth/colored: depth (m) drawn in the near colour; "
              "colored_min = colored_max = 0 → per-frame 2nd–98th percentile.", float_range=(0.0, 10000.0),
              runtime=True),
    ParamSpec("colored_max", 0.0, "depth/colored: depth (m) drawn in the far colour.",
              float_range=(0.0, 10000.0), runtime=True),
    ParamSpec("lazy", True, "Run inference only while some enabled output has a subscriber.",
              runtime=True),
    ParamSpec("require_camera_info", False, "Publish nothing (not even depth/image) until the "
              "image has a camera model: a usable camera_info for its frame_id, or the pinhole "
              "assumed from fallback_hfov_deg.", runtime=True),
    ParamSpec("require_exact_stamp", False, "Use only a camera_info whose stamp equals the "
              "image's; otherwise the latest for the frame_id.", runtime=True),
    ParamSpec("intrinsics_source", "auto", "Camera model of the input: K = raw image (K and the "
              "lens distortion D); P = rectified image (P, D ignored); auto = K with D when D is "
              "non-zero, otherwise P when valid, else K. A rectified image (image_rect) whose "
              "camera_info still carries D needs P.", choices=("auto", "K", "P"), runtime=True),
    ParamSpec("fallback_hfov_deg", 0.0, "Uncalibrated cameras: with no camera_info for the "
              "frame (or K all zero), assume a pinhole with this horizontal field of view "
              "(degrees) so depth/points and depth/camera_info still flow; 0 = off.",
              float_range=(0.0, 179.0), runtime=True),
    ParamSpec("mono16_bits", 16, "Significant bits of 16-bit camera pixels (mono16, bayer_*16, "
              "rgb16, 16-bit PNG): 12 for a 12-bit sensor whose values are 0-4095; 16 = the "
              "full range (cv_bridge's scaling).", int_range=(1, 16, 1), runtime=True),
    ParamSpec("max_image_pixels", 3840 * 2160, "Frames with more pixels are rejected (compressed "
              "ones from their JPEG/PNG header, before decoding; other compressed formats are "
              "refused).",
              int_range=(1, 1_000_000_000, 1), runtime=True),
    ParamSpec("error_log_period", 5.0, "Seconds between repeats of the same input error.",
              float_range=(0.0, 3600.0), runtime=True),
    # metric scale from anchors (ros/metric_scale.py; the maths is depth_anything_ros.scale)
    ParamSpec("scale_source", "none", "Where metric scale comes from: none (the model's own), "
              "sparse_depth (fit to the 'sparse_depth' Image: lidar/ToF/RGB-D registered to the "
              "camera) or ground_plane (a flat floor camera_height below the camera). With one "
              "of the two, relative (disparity) weights give metres too.",
              choices=("none", "sparse_depth", "ground_plane")),
    ParamSpec("sparse_depth_tolerance", 0.05, "Seconds between the image stamp and the nearest "
              "sparse_depth stamp for them to be paired.", float_range=(0.0, 10.0),
              runtime=True),
    ParamSpec("sparse_depth_wait", 0.2, "Seconds a frame waits for its sparse_depth when "
              "none within the tolerance has arrived yet (a lidar's projected scan often comes "
              "after the image); only while the sensor is publishing. 0 = never wait.",
              float_range=(0.0, 2.0), runtime=True),
    ParamSpec("camera_height", 0.0, "ground_plane: height of the optical centre above the "
              "floor (m); must be > 0.", runtime=True),
    ParamSpec("camera_pitch_deg", 0.0, "ground_plane: optical axis below the horizon (deg, "
              "positive looks down).", float_range=(-90.0, 90.0), runtime=True),
    ParamSpec("camera_roll_deg", 0.0, "ground_plane: rotation about the optical axis (deg, "
              "positive turns the image x axis towards the floor; 180 = mounted upside down).",
              float_range=(-180.0, 180.0), runtime=True),
    ParamSpec("ground_normal", "pitch_roll", "ground_plane: where the floor's direction comes "
              "from: pitch_roll = camera_pitch_deg/camera_roll_deg (a fixed mount); imu = "
              "gravity from the accelerometer of the 'imu' topic (sensor_msgs/Imu, REP-145), "
              "for a camera that tilts.", choices=("pitch_roll", "imu")),
    ParamSpec("imu_roll_deg", 0.0, "ground_normal imu: the IMU frame's roll in the camera's "
              "optical frame (deg, URDF roll/pitch/yaw; all 0 when the IMU reports in the "
              "optical frame's axes).", float_range=(-180.0, 180.0), runtime=True),
    ParamSpec("imu_pitch_deg", 0.0, "ground_normal imu: the IMU frame's pitch in the camera's "
              "optical frame (deg).", float_range=(-180.0, 180.0), runtime=True),
    ParamSpec("imu_yaw_deg", 0.0, "ground_normal imu: the IMU frame's yaw in the camera's "
              "optical frame (deg; 180 for a Kinect v1's accelerometer).",
              float_range=(-180.0, 180.0), runtime=True),
    ParamSpec("imu_smoothing", 0.05, "ground_normal imu: time constant (s) of the average of the "
              "accelerometer readings (readings more than 15 % from 1 g are skipped); 0 = the "
              "latest reading.", float_range=(0.0, 60.0), runtime=True),
    ParamSpec("imu_orientation", False, "ground_normal imu: take up from the messages' "
              "orientation (an IMU filter's or AHRS's estimate in a z-up world frame, REP-145) "
              "instead of their accelerometer, which leans while the camera accelerates; a "
              "message without one (orientation_covariance[0] = -1) is skipped, with the reason.",
              runtime=True),
    ParamSpec("scale_smoothing", 0.3, "Time constant (s) of the log-space average of the "
              "per-frame scale; 0 = use each frame's fit as is.", float_range=(0.0, 3600.0),
              runtime=True),
    ParamSpec("scale_gate", 0.25, "A per-frame scale farther than this from the smoothed one "
              "(|Δ log scale|; 0.25 ≈ ±28 %) is an outlier: its pull is clipped to this.",
              float_range=(0.01, 10.0), runtime=True),
    ParamSpec("scale_reset_frames", 5, "This many consecutive outliers that agree with each "
              "other are a real change: the smoothed scale jumps there.", int_range=(1, 1000, 1),
              runtime=True),
    ParamSpec("scale_max_age", 2.0, "Seconds the last scale is still applied to frames without "
              "a fit; after that depth falls back to the model's own scale.",
              float_range=(0.0, 3600.0), runtime=True),
    ParamSpec("scale_min_anchors", 20, "Fewest anchors (or floor pixels) a fit accepts.",
              int_range=(2, 1_000_000, 1), runtime=True),
    ParamSpec("scale_model", "scale_shift", "Metric weights: scale_shift fits depth = "
              "scale·prediction + shift to the anchors or the floor when they span depths and "
              "the line explains more of them than one scale (follows a model that squeezes or "
              "stretches the depth range; beyond the fitted depths the factor is held); scale "
              "fits one factor. Relative weights always get scale and shift in disparity.",
              choices=("scale_shift", "scale"), runtime=True),
    ParamSpec("ground_max_correction", GroundConfig.max_correction, "ground_plane, metric weights: refuse a floor fit "
              "that would scale the model's depth up by more than this factor (a desk top or "
              "the base of a wall taken for the floor: nothing in view lies below the floor, so "
              "a wrong floor only scales up); a floor seen from near to far (far ≥ 2.1× near) "
              f"may scale up to ×{GroundConfig.wide_max_correction:g} (or this, if larger). "
              "Then the last scale is held, then the model's own is used. 0 = no limit (a model "
              "whose metres are far off).",
              float_range=(0.0, 1000.0), runtime=True),
)
SPEC_BY_NAME = {spec.name: spec for spec in SPECS}


@dataclass(frozen=True)
class NodeSettings:
    """Immutable snapshot of all parameter values (names as in SPECS)."""

    weights: str
    version: str
    variant: str
    max_depth: float
    input_size: int
    backend: str
    cache_dir: str
    device: str
    precision: str
    torch_threads: int
    focal_correction: str
    relative_scale: float
    relative_shift: float
    image_transport: str
    input_reliability: str
    input_queue_size: int
    output_reliability: str
    output_queue_size: int
    depth_encoding: str
    diagnostics_period: float
    publish_points: bool
    points_stride: int
    min_range: float
    max_range: float
    publish_colored: bool
    colormap: str
    colored_scale_bar: bool
    colored_min: float
    colored_max: float
    lazy: bool
    require_camera_info: bool
    require_exact_stamp: bool
    intrinsics_source: str
    fallback_hfov_deg: float
    mono16_bits: int
    max_image_pixels: int
    error_log_period: float
    scale_source: str
    sparse_depth_tolerance: float
    sparse_depth_wait: float
    camera_height: float
    camera_pitch_deg: float
    camera_roll_deg: float
    ground_normal: str
    imu_roll_deg: float
    imu_pitch_deg: float
    imu_yaw_deg: float
    imu_smoothing: float
    imu_orientation: bool
    scale_smoothing: float
    scale_gate: float
    scale_reset_frames: int
    scale_max_age: float
    scale_min_anchors: int
    scale_model: str
    ground_max_correction: float

    @property
    def range_limit(self) -> float:
        """max_range as a bound (0 means none)."""
        return self.max_range if self.max_range > 0 else math.inf

    def with_changes(self, changes: Mapping[str, Any]) -> "NodeSettings":
        return replace(self, **dict(changes))


assert {f.name for f in fields(NodeSettings)} == set(SPEC_BY_NAME), "SPECS and NodeSettings differ"


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    """The ParameterDescriptor `ros2 param describe` shows (description, choices, range)."""
    text = spec.description
    if spec.choices:
        text += " One of: " + ", ".join(repr(c) for c in spec.choices) + "."
    text += " Changeable at runtime." if spec.runtime else " Read at start-up only."
    desc = ParameterDescriptor(description=text)
    if spec.choices:
        desc.additional_constraints = "one of " + ", ".join(repr(c) for c in spec.choices)
    if spec.int_range is not None:
        lo, hi, step = spec.int_range
        desc.integer_range = [IntegerRange(from_value=lo, to_value=hi, step=step)]
    if spec.float_range is not None:
        lo, hi = spec.float_range
        desc.floating_point_range = [FloatingPointRange(from_value=lo, to_value=hi, step=0.0)]
    return desc


def parameter_error_reason(exc: Exception, name: str) -> str:
    """rclpy's text for a refused parameter, without its trailing ": <name>". Jazzy's parameter
    exceptions carry one string ("<reason>: <name>"), Humble's the reason and the name as two
    arguments (whose str() is a tuple), so read the first argument."""
    text = str(exc.args[0]) if exc.args else str(exc)
    return text.removesuffix(f": {name}")


def check_value(name: str, value: Any) -> None:
    """Raise ParameterError if one value is unusable (NaN, not a choice, unknown colormap)."""
    spec = SPEC_BY_NAME[name]
    if isinstance(value, float) and math.isnan(value):
        raise ParameterError(f"parameter '{name}': NaN is not a usable value")
    if spec.choices and value not in spec.choices:
        raise ParameterError(
            f"parameter '{name}': {value!r} is not one of {', '.join(map(repr, spec.choices))}")
    if name == "colormap":
        from depth_anything_ros.visualize import check_colormap

        try:
            check_colormap(value)
        except ValueError as exc:
            raise ParameterError(f"parameter 'colormap': {exc}") from None
    if name == "input_size" and value % 14:
        raise ParameterError(f"parameter 'input_size': {value} is not a multiple of 14")


def check_settings(settings: NodeSettings) -> None:
    """Cross-parameter checks (every single value is assumed checked by `check_value`)."""
    if settings.max_range > 0 and settings.min_range >= settings.max_range:
        raise ParameterError(
            f"parameters 'min_range'/'max_range': {settings.min_range} ≥ {settings.max_range}")
    if settings.colored_max > 0 and settings.colored_min >= settings.colored_max:
        raise ParameterError(
            f"parameters 'colored_min'/'colored_max': {settings.colored_min} ≥ "
            f"{settings.colored_max}")


def check_startup(settings: NodeSettings) -> None:
    """All start-up checks, including that a given weights path exists."""
    for spec in SPECS:
        check_value(spec.name, getattr(settings, spec.name))
    check_settings(settings)
    if settings.weights and not Path(settings.weights).expanduser().exists():
        raise ParameterError(f"parameter 'weights': {settings.weights} does not exist")


def check_runtime_change(current: NodeSettings, changes: Mapping[str, Any]) -> NodeSettings:
    """The settings after a live change, or ParameterError with the reason it is refused."""
    for name, value in changes.items():
        spec = SPEC_BY_NAME[name]
        if not spec.runtime and value != getattr(current, name):
            raise ParameterError(
                f"parameter '{name}' is read at start-up only (changing it needs a restart of "
                "the node)")
        check_value(name, value)
    updated = current.with_changes(changes)
    check_settings(updated)
    return updated
