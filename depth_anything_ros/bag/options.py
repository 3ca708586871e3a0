"""What a bag job is asked to do (`BagJobOptions`) and what it did (`BagSummary`)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from depth_anything_ros.bag.errors import BagError
from depth_anything_ros.bag.reader import STORAGES
from depth_anything_ros.bag.topics import parse_copy_topics
from depth_anything_ros.scale.corrector import ScaleSettings
from depth_anything_ros.scale.gravity import GravityConfig
from depth_anything_ros.scale.ground_plane import GroundConfig
from depth_anything_ros.scale.temporal import DEFAULT_TIME_CONSTANT_S

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
    intrinsics_source: str = "auto"  # as the node's parameter: auto, K (raw + D), P (rectified)
    workers: int | None = None  # decode/encode threads; None: min(4, CPUs)
    fallback_hfov_deg: float = 0.0  # as the node's: assumed pinhole for uncalibrated cameras
    mono16_bits: int = 16  # as the node's: significant bits of 16-bit camera pixels
    # metric scale (bag/metric_scale.py; the same ScaleCorrector as the node)
    sparse_depth_topic: str | None = None  # anchors: a registered 32FC1/16UC1 Image topic
    sparse_depth_tolerance: float = 0.05  # s between image and sparse depth stamps
    camera_height: float | None = None  # ground plane: optical centre above the floor (m)
    camera_pitch: float = 0.0  # deg below the horizon
    camera_roll: float = 0.0  # deg
    imu_topic: str | None = None  # ground plane: the floor's direction from this Imu topic
    imu_rpy: tuple[float, float, float] = (0.0, 0.0, 0.0)  # the IMU frame in the optical frame
    imu_smoothing: float = GravityConfig.time_constant_s  # s, the accelerometer's average
    imu_orientation: bool = False  # up from the Imu's orientation, not its accelerometer
    ground_frame: str | None = None  # ground plane: height and direction from the bag's tf
    tf_static_topic: str = "/tf_static"  # where the bag's static transforms are
    scale_smoothing: float = DEFAULT_TIME_CONSTANT_S  # s, time constant of the log-space average; 0 = per frame
    scale_model: str = "scale_shift"  # metric: scale·p + shift where that fits better; or "scale"
    ground_max_correction: float = GroundConfig.max_correction  # metric; 0 = no limit
    scale_gate: float = ScaleSettings.gate  # the node's scale_gate and the three below
    scale_reset_frames: int = ScaleSettings.reset_frames
    scale_max_age: float = ScaleSettings.max_age_s  # s
    scale_min_anchors: int = ScaleSettings.min_anchors

    @property
    def scale_source(self) -> str:
        if self.sparse_depth_topic is not None:
            return "sparse_depth"
        if self.camera_height is None and self.ground_frame is None:
            return "none"
        return "ground_plane"

    def scale_settings(self, camera_height: float | None = None):
        """The node's `ScaleSettings` for these options (one corrector for node and bag);
        `camera_height`: the mount's, read from the bag (`--ground-frame`)."""
        from depth_anything_ros.scale import ScaleSettings

        if camera_height is None:
            camera_height = self.camera_height or 0.0
        return ScaleSettings(
            source=self.scale_source, camera_height=camera_height,
            camera_pitch_deg=self.camera_pitch, camera_roll_deg=self.camera_roll,
            smoothing_time_s=self.scale_smoothing, scale_model=self.scale_model,
            ground_max_correction=self.ground_max_correction, gate=self.scale_gate,
            reset_frames=self.scale_reset_frames, max_age_s=self.scale_max_age,
            min_anchors=self.scale_min_anchors)

    def gravity_config(self):
        """The node's IMU average for these options (`ground_normal: imu`)."""
        return GravityConfig.from_options(self.imu_rpy, self.imu_smoothing, self.imu_orientation)

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
        if self.intrinsics_source not in ("auto", "K", "P"):
            raise BagError(f"--intrinsics-source {self.intrinsics_source!r}: use auto, K (raw images) or P (rectified)")
        if not 0.0 <= self.fallback_hfov_deg < 180.0:
            raise BagError(f"--fallback-hfov-deg {self.fallback_hfov_deg}: use 0 (off) or a field of view below 180")
        if not 1 <= self.mono16_bits <= 16:
            raise BagError(f"--mono16-bits {self.mono16_bits}: use 1..16")
        if self.workers is not None and self.workers < 1:
            raise BagError(f"workers must be >= 1, got {self.workers}")
        self._validate_scale()

    def _validate_scale(self) -> None:
        if self.sparse_depth_topic is not None and (self.camera_height is not None
                                                    or self.ground_frame is not None):
            given = "--camera-height" if self.camera_height is not None else "--ground-frame"
            raise BagError(f"--sparse-depth-topic and {given} are two scale sources: pass one")
        self._validate_ground_frame()
        if self.camera_height is not None and not self.camera_height > 0:
            raise BagError(f"--camera-height {self.camera_height}: must be > 0 (metres from the "
                           "floor up to the camera's optical centre)")
        if not -90 <= self.camera_pitch <= 90 or not -180 <= self.camera_roll <= 180:
            raise BagError(f"--camera-pitch {self.camera_pitch} / --camera-roll "
                           f"{self.camera_roll}: pitch must be within -90..90 degrees, roll "
                           "within -180..180")
        if not 0 <= self.sparse_depth_tolerance <= 10:
            raise BagError(f"--sparse-depth-tolerance {self.sparse_depth_tolerance}: must be "
                           "within 0..10 s")
        if self.imu_topic is not None and self.scale_source != "ground_plane":
            raise BagError(f"--imu-topic {self.imu_topic}: the IMU gives the ground plane's "
                           "direction; pass --camera-height (or --ground-frame) too")
        if self.imu_topic is not None and (self.camera_pitch or self.camera_roll):
            raise BagError("--camera-pitch/--camera-roll and --imu-topic are two sources of the "
                           "floor's direction: pass one")
        if self.imu_topic is None and (any(self.imu_rpy) or self.imu_orientation
                                       or self.imu_smoothing != GravityConfig.time_constant_s):
            raise BagError("--imu-rpy/--imu-smoothing/--imu-orientation describe the "
                           "--imu-topic, which was not given: pass it, or leave them out")
        problem = self.gravity_config().problem()
        if problem is not None:
            raise BagError(f"--imu-rpy / --imu-smoothing: {problem}")
        if not self.scale_smoothing >= 0:
            raise BagError(f"--scale-smoothing {self.scale_smoothing}: must be >= 0 s")
        if GroundConfig(max_correction=self.ground_max_correction).problem() is not None:
            raise BagError(f"--ground-max-correction {self.ground_max_correction}: use 0 (no "
                           "limit) or a factor >= 1")
        # the corrector's own rules (finite, ...); a --ground-frame's height comes from the bag
        problem = self.scale_settings(1.0 if self.ground_frame else None).problem()
        if problem is not None:
            raise BagError(f"metric scale options: {problem}")

    def _validate_ground_frame(self) -> None:
        if self.ground_frame is None:
            if self.tf_static_topic != "/tf_static":
                raise BagError("--tf-static-topic is read for --ground-frame, which was not "
                               "given: pass it, or leave the topic out")
            return
        if not self.ground_frame.lstrip("/").strip():
            raise BagError("--ground-frame: give a frame name (the frame on the floor, z up, "
                           "e.g. base_footprint)")
        if self.camera_height is not None:
            raise BagError("--camera-height and --ground-frame are two sources of the camera's "
                           "height (the bag's static transforms give it): pass one")
        if self.camera_pitch or self.camera_roll:
            raise BagError("--camera-pitch/--camera-roll and --ground-frame are two sources of "
                           "the floor's direction (the bag's static transforms give it): pass "
                           "one")
        if not self.tf_static_topic.startswith("/"):
            raise BagError(f"--tf-static-topic {self.tf_static_topic!r}: topic names must be "
                           "absolute (start with '/')")


@dataclass(frozen=True)
class SkippedFrame:
    index: int
    bag_time_ns: int
    reason: str


REASONS_SHOWN = 3  # distinct skip reasons a report lists before "... N frames for other reasons"


@dataclass
class BagSummary:
    """What a job did; `lines()` is the report printed at the end."""

    output: Path
    frames_in: int = 0
    frames_out: int = 0
    camera_problems: Counter[str] = field(default_factory=Counter)  # why no camera_info/points → frames
    frames_without_focal: int = 0  # a focal-correcting model got no focal length for them
    copied: int = 0
    seconds: float = 0.0
    skipped: list[SkippedFrame] = field(default_factory=list)
    scale_source: str = "none"
    scales: list[float] = field(default_factory=list)  # applied per frame, in bag order
    scale_states: dict[str, int] = field(default_factory=dict)  # "anchored" → frames, ...
    scale_reasons: dict[str, int] = field(default_factory=dict)  # why not anchored → frames
    camera_mounts: list[str] = field(default_factory=list)  # --ground-frame: each one read

    @property
    def scale_jitter(self) -> float:
        """Std of log(applied scale) over the frames that had one (issue #11's measure)."""
        from depth_anything_ros.metrics import scale_jitter

        return scale_jitter(self.scales)

    @property
    def frames_per_second(self) -> float:
        return self.frames_out / self.seconds if self.seconds > 0 else 0.0

    def skip_reasons(self) -> list[tuple[str, int, SkippedFrame]]:
        """`(reason, count, first frame)` per distinct reason, most frequent first: a bag of
        18,000 bad frames gives one entry, not 18,000."""
        first: dict[str, SkippedFrame] = {}
        counts: Counter[str] = Counter()
        for skip in self.skipped:
            first.setdefault(skip.reason, skip)
            counts[skip.reason] += 1
        return [(reason, count, first[reason]) for reason, count in counts.most_common()]

    def problem_lines(self) -> list[str]:
        """One line per distinct reason frames were skipped (at most REASONS_SHOWN, then one
        line for the rest). Per-frame detail is logged at DEBUG level (`--verbose`)."""
        reasons = self.skip_reasons()
        out = [f"{count} frame{'s' if count != 1 else ''} skipped: {reason} "
               f"(first: frame {first.index}, bag time {first.bag_time_ns} ns)"
               for reason, count, first in reasons[:REASONS_SHOWN]]
        rest = sum(count for _, count, _ in reasons[REASONS_SHOWN:])
        if rest:
            out.append(f"{rest} more frames skipped for {len(reasons) - REASONS_SHOWN} other "
                       "reasons (--verbose lists every frame)")
        return out

    def lines(self) -> list[str]:
        out = [
            f"wrote {self.output}: {self.frames_out} of {self.frames_in} frames with depth, "
            f"{len(self.skipped)} skipped, {self.copied} messages copied, "
            f"{self.seconds:.1f} s, {self.frames_per_second:.2f} frames/s"
        ]
        for reason, n in self.camera_problems.most_common(REASONS_SHOWN):
            out.append(f"{n} frame{'s' if n != 1 else ''} without camera_info and points: "
                       f"{reason}")
        if self.frames_without_focal:
            out.append(f"{self.frames_without_focal} frames without a usable focal length: their "
                       "depth is not focal-corrected (no f/f_c), so it may be off in scale")
        if self.scale_source != "none":
            out.extend(self._scale_lines())
        return out + self.problem_lines()

    def _scale_lines(self) -> list[str]:
        import math
        import statistics

        states = ", ".join(f"{n} {state}" for state, n in sorted(self.scale_states.items()))
        scaled = [s for s in self.scales if math.isfinite(s)]
        median = f"{statistics.median(scaled):.4g}" if scaled else "none"
        # the factor applied, median(depth / prediction): the node's /diagnostics scale_factor
        # (its `scale` is a line's slope where the fit is a line)
        out = [(f"metric scale from {self.scale_source}: {states or 'no frames'}; median "
                f"scale_factor {median}, scale_jitter {self.scale_jitter:.3f}")]
        out.extend(f"  camera mount from the static transforms: {mount}"
                   for mount in self.camera_mounts)
        for reason, n in sorted(self.scale_reasons.items(), key=lambda r: -r[1])[:5]:
            out.append(f"  {n} frames not anchored: {reason}")
        return out
