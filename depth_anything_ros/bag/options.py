"""What a bag job is asked to do (`BagJobOptions`) and what it did (`BagSummary`)."""
from __future__ import annotations

from collections import Counter
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


REASONS_SHOWN = 3  # distinct skip reasons a report lists before "... N frames for other reasons"


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
        if self.frames_without_points:
            out.append(f"{self.frames_without_points} frames had no usable CameraInfo: "
                       "no points for them")
        return out + self.problem_lines()
