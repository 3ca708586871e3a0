"""What a bag job is asked to do (`BagJobOptions`) and what it did (`BagSummary`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from depth_anything_ros.bag.errors import BagError
from depth_anything_ros.bag.reader import STORAGES
from depth_anything_ros.bag.topics import parse_copy_topics

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
