"""Per-frame files for training and people, named by the frame's header stamp.

Layout of an export folder (the format training's folder datasets read; see docs/interfaces.md):

    rgb/<stamp>.png         the camera frame as decoded (8-bit colour PNG)
    depth/<stamp>.png       predicted depth, uint16 millimetres, 0 = invalid (scale 1000)
    depth/<stamp>.npy       predicted depth, float32 metres, NaN = invalid
    preview/<stamp>.png     for people: the frame | its depth with a scale bar in metres (the
                            README § Pictures convention; black = invalid)
    intrinsics/<stamp>.json {"fx","fy","cx","cy","width","height","frame_id","stamp"} when the
                            frame had a camera model (intrinsics of the depth image; plus
                            "distortion_model" and "d" for a distorted lens, "assumed" when
                            they came from --fallback-hfov-deg)

`<stamp>` is `<sec>_<nanosec>` with nanoseconds zero-padded to 9 digits, so names sort by time;
a repeated stamp gets `-1`, `-2`, ... appended.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from depth_anything_ros.atomic_file import save_npy_atomic, write_bytes_atomic
from depth_anything_ros.previews import depth_preview
from depth_anything_ros.visualize import write_depth_png_mm, write_image_atomic

if TYPE_CHECKING:
    from depth_anything_ros.geometry.camera import CameraIntrinsics
    from depth_anything_ros.geometry.camera_model import CameraModel

EXPORT_FOLDERS = ("rgb", "depth", "preview", "intrinsics")


class FrameExporter:
    """Writes the files of one frame; safe to call from several threads for different names."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        for folder in EXPORT_FOLDERS:
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        self._seen: dict[str, int] = {}

    def unique_name(self, stamp_name: str) -> str:
        """The file stem for a stamp; call in frame order (not thread-safe) before `write`."""
        count = self._seen.get(stamp_name, 0)
        self._seen[stamp_name] = count + 1
        return stamp_name if count == 0 else f"{stamp_name}-{count}"

    def write(
        self,
        name: str,
        rgb: np.ndarray,
        depth: np.ndarray,
        camera: "CameraModel | CameraIntrinsics | None" = None,
        frame_id: str = "",
    ) -> None:
        """One frame's files; `camera` (a CameraModel, or bare CameraIntrinsics) gives its
        intrinsics JSON."""
        write_image_atomic(self.root / "rgb" / f"{name}.png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
        write_depth_png_mm(self.root / "depth" / f"{name}.png", depth)
        save_npy_atomic(self.root / "depth" / f"{name}.npy", depth.astype(np.float32, copy=False))
        write_image_atomic(self.root / "preview" / f"{name}.png", depth_preview(rgb, depth).image)
        if camera is not None:
            intrinsics = getattr(camera, "intrinsics", camera)
            record = {
                "fx": float(intrinsics.fx), "fy": float(intrinsics.fy),
                "cx": float(intrinsics.cx), "cy": float(intrinsics.cy),
                "width": int(intrinsics.width), "height": int(intrinsics.height),
                "frame_id": frame_id, "stamp": name,
            }
            if getattr(camera, "distorted", False):  # raw RGB: its lens model goes along
                record.update(distortion_model=camera.distortion_model, d=list(camera.d))
            if getattr(camera, "source", "") == "hfov":
                record["assumed"] = camera.note
            write_bytes_atomic(self.root / "intrinsics" / f"{name}.json",
                               json.dumps(record, indent=1).encode())
