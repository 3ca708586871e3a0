"""Opening an input bag read-only with rosbags, whatever its storage (sqlite3 or MCAP).

The reader never writes next to or inside the input: rosbags opens sqlite3 files immutable and
MCAP files read-only, so the input bag stays byte-identical.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import yaml

from depth_anything_ros.bag.errors import BagError

STORAGES = ("sqlite3", "mcap")
_SUFFIX_STORAGE = {".db3": "sqlite3", ".mcap": "mcap"}


def bag_storage(path: Path) -> str:
    """The storage plugin of a ROS 2 bag (a bag folder, or a bare `.db3`/`.mcap` file)."""
    if path.is_file():
        if path.suffix not in _SUFFIX_STORAGE:
            raise BagError(f"{path}: not a ROS 2 bag (expected a bag folder, .db3 or .mcap file)")
        return _SUFFIX_STORAGE[path.suffix]
    meta = path / "metadata.yaml"
    if not meta.is_file():
        raise BagError(f"{path}: not a ROS 2 bag folder (no metadata.yaml)")
    try:
        info = yaml.safe_load(meta.read_text())["rosbag2_bagfile_information"]
        storage = info["storage_identifier"]
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise BagError(f"{meta}: unreadable bag metadata ({exc})") from None
    if storage not in STORAGES:
        raise BagError(f"{path}: storage {storage!r} is not supported (only {', '.join(STORAGES)})")
    return storage


def open_reader(path: Path) -> "AnyReader":  # noqa: F821 - rosbags is imported lazily
    """An open `rosbags.highlevel.AnyReader` on a ROS 2 bag (the caller closes it); errors
    name the bag and the reason. Long-lived readers (training's bag datasets) use this."""
    from rosbags.highlevel import AnyReader, AnyReaderError
    from rosbags.typesys import Stores, get_typestore

    path = Path(path)
    if not path.exists():
        raise BagError(f"input bag {path} does not exist")
    if path.suffix == ".bag" and path.is_file():  # `ros2 bag record -o x.bag` makes a folder
        raise BagError(f"{path}: ROS 1 bags are not supported; convert it with `rosbags-convert`")
    bag_storage(path)
    try:
        source = _BagFolder(path) if path.is_dir() else path
        reader = AnyReader([source], default_typestore=get_typestore(Stores.ROS2_HUMBLE))
        reader.open()
    except (AnyReaderError, FileNotFoundError, OSError) as exc:
        hint = ""
        if "magic" in str(exc).lower() and _is_mcap(path):
            # a recorder killed mid-write leaves an MCAP without its footer
            hint = ("; an MCAP cut short (a recorder that was killed) can be repaired with the "
                    "mcap CLI's `mcap recover IN -o OUT`")
        raise BagError(f"{path}: cannot open bag: {exc}{hint}") from None
    return reader


@contextmanager
def open_bag(path: Path) -> Iterator["AnyReader"]:  # noqa: F821
    """`open_reader` as a context manager: the reader is closed on leaving."""
    reader = open_reader(path)
    try:
        yield reader
    finally:
        reader.close()


def topic_types(reader: "AnyReader") -> dict[str, str]:  # noqa: F821
    """`{topic: msgtype}` of an open reader."""
    return {topic: info.msgtype or "?" for topic, info in reader.topics.items()}


class _BagFolder(type(Path())):
    """A ROS 2 bag folder as rosbags' `AnyReader` should see it: it takes any path whose name
    ends in `.bag` for a ROS 1 bag file, and `ros2 bag record -o drive.bag` makes a folder so
    named. The folder has no suffix of its own."""

    @property
    def suffix(self) -> str:
        return ""


def _is_mcap(path: Path) -> bool:
    try:
        return bag_storage(path) == "mcap"
    except BagError:
        return False
