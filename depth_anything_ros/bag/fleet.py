"""Many bags under one folder: finding them, naming their outputs, telling finished ones, and
sharing them out between ranks by size.

A bag is a folder with `metadata.yaml` (as `ros2 bag record` writes it) or a lone `.db3` /
`.mcap` file. `IN_DIR/a/b` becomes `OUT_DIR/a/b`; a lone `IN_DIR/a/c.mcap` becomes the bag
folder `OUT_DIR/a/c` (every output is a bag folder, as `bag` writes). Hidden names (`.x`) are
never bags: staging folders of an interrupted run live there.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from depth_anything_ros.bag.errors import BagError

BAG_FILE_SUFFIXES = (".db3", ".mcap")


@dataclass(frozen=True)
class FleetBag:
    """One input bag of a fleet run: where it is, where its outputs go (relative to the output
    and export folders), and its size on disk (for sharding)."""

    input: Path
    relative: Path
    size_bytes: int


def find_bags(in_dir: Path) -> list[FleetBag]:
    """Every bag under `in_dir`, sorted by relative path. Two bags mapping to one output
    (`x.mcap` beside a folder `x`) are refused, naming both."""
    in_dir = Path(in_dir)
    if not in_dir.is_dir():
        raise BagError(f"input folder {in_dir} does not exist or is not a folder")
    if (in_dir / "metadata.yaml").is_file():  # IN_DIR is itself one bag
        return [FleetBag(in_dir, Path(in_dir.name), _size(in_dir))]
    bags: list[FleetBag] = []
    for root, dirs, files in os.walk(in_dir):
        folder = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if "metadata.yaml" in files and folder != in_dir:
            bags.append(FleetBag(folder, folder.relative_to(in_dir), _size(folder)))
            dirs[:] = []  # a bag's own files are not further bags
            continue
        for name in sorted(files):
            path = folder / name
            if not name.startswith(".") and path.suffix in BAG_FILE_SUFFIXES:
                bags.append(FleetBag(path, path.relative_to(in_dir).with_suffix(""), _size(path)))
    bags.sort(key=lambda bag: bag.relative.as_posix())
    seen: dict[Path, Path] = {}
    for bag in bags:
        if bag.relative in seen:
            raise BagError(f"bags {seen[bag.relative]} and {bag.input} would both be written to "
                           f"<out>/{bag.relative}; rename one of them")
        for parent in bag.relative.parents:  # `a.db3` beside a folder `a/` holding a bag `b`
            if parent in seen:
                raise BagError(f"bags {seen[parent]} and {bag.input} would be written to "
                               f"<out>/{parent} and <out>/{bag.relative}, one inside the other; "
                               "rename or move one of them")
        seen[bag.relative] = bag.input
    return bags


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def shard_by_size(bags: list[FleetBag], world_size: int) -> list[list[FleetBag]]:
    """Bags per rank, balanced by bytes: largest first, each to the rank with the fewest bytes
    so far (ties: lower rank), so ranks finish together. Deterministic for a given list."""
    shards: list[list[FleetBag]] = [[] for _ in range(world_size)]
    loads = [0] * world_size
    for bag in sorted(bags, key=lambda b: (-b.size_bytes, b.relative.as_posix())):
        rank = min(range(world_size), key=lambda r: (loads[r], r))
        shards[rank].append(bag)
        loads[rank] += bag.size_bytes
    for shard in shards:  # each rank works through its share in path order
        shard.sort(key=lambda b: b.relative.as_posix())
    return shards


def outputs_of(bag: FleetBag, out_dir: Path, export_dir: Path | None) -> list[Path]:
    """The final paths a bag's job writes: the output bag, and its export folder if asked."""
    paths = [Path(out_dir) / bag.relative]
    if export_dir is not None:
        paths.append(Path(export_dir) / bag.relative)
    return paths


def output_state(bag: FleetBag, out_dir: Path, export_dir: Path | None) -> str:
    """"complete" (every output exists: each appears by one atomic rename only after its bag
    succeeded), "partial" (some do: a run stopped between the two renames) or "missing"."""
    outputs = outputs_of(bag, out_dir, export_dir)
    present = [path.exists() for path in outputs]
    # the output bag counts only with its metadata.yaml (a bare folder is no finished bag)
    complete = [(outputs[0] / "metadata.yaml").is_file()] + present[1:]
    return "complete" if all(complete) else "partial" if any(present) else "missing"


def output_frames(out_bag: Path, depth_topic: str) -> int | None:
    """Depth images in a finished output bag, from its metadata (None if unreadable)."""
    try:
        meta = yaml.safe_load((out_bag / "metadata.yaml").read_text())
        info = meta["rosbag2_bagfile_information"]
        for topic in info["topics_with_message_count"]:
            if topic["topic_metadata"]["name"] == depth_topic:
                return int(topic["message_count"])
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError):
        return None
    return 0


def expected_frames(bag: FleetBag, image_topic: str) -> int:
    """Messages on the camera topic (for the progress bar's total); 0 for an unreadable bag,
    whose job will fail and name the reason."""
    from depth_anything_ros.bag.reader import open_bag

    try:
        with open_bag(bag.input) as reader:
            return sum(c.msgcount for c in reader.connections if c.topic == image_topic)
    except Exception:  # noqa: BLE001 - any reader failure: the job reports it properly
        return 0


def sweep_staging(root: Path) -> int:
    """Remove what a killed run left under `root`: hidden staging folders (`.NAME.*.partial`,
    from `StagedOutput`) and temporary files (`.NAME.*.tmp`, from `atomic_file`). Returns how
    many. Run it before any rank starts writing."""
    removed = 0
    if not Path(root).is_dir():
        return 0
    for folder, dirs, files in os.walk(root):
        for name in list(dirs):
            if name.startswith(".") and name.endswith(".partial"):
                shutil.rmtree(Path(folder) / name, ignore_errors=True)
                dirs.remove(name)
                removed += 1
        for name in files:
            if name.startswith(".") and name.endswith(".tmp"):
                (Path(folder) / name).unlink(missing_ok=True)
                removed += 1
    return removed
