"""Atomic text writes for the demo's outputs (summary.json, depth_node.log), through the
library's one tmp+rename helper (``depth_anything_ros.atomic_file``).

A reader (or a second demo run) never sees half a file, and an interrupted write leaves the
previous file in place.
"""
from __future__ import annotations

import os

from depth_anything_ros.atomic_file import write_bytes_atomic


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))
