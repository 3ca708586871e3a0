"""The camera model of each frame the node processes, and what it says about it.

Keeps the latest CameraInfo per frame_id (`CameraInfoCache`), turns it into an image_geometry
camera model for the frame's size through the ROS-free `geometry.camera_model` (cached per
distinct CameraInfo, so rays are computed once), falls back to an assumed pinhole for
uncalibrated cameras (`fallback_hfov_deg`), and logs each problem once or throttled. The node
only asks `model_for(header, width, height, settings)`: the frame's model and focal length.
"""
from __future__ import annotations

from depth_anything_ros.geometry.camera_model import Calibration, CameraModelCache, FrameCamera
from depth_anything_ros.ros.camera_info_cache import CameraInfoCache


class FrameCameras:
    """CameraInfo in, a FrameCamera (model and focal length, problems logged) per frame out."""

    def __init__(self, logger, throttled, info_topic: str) -> None:
        self.infos = CameraInfoCache()
        self._models = CameraModelCache()
        self._logger = logger
        self._throttled = throttled  # ThrottledLog: (level, key, text)
        self._info_topic = info_topic
        self._warned_assumed = False
        self._warned_no_info = False
        self.status = "no camera_info yet"  # for /diagnostics
        self.assumed = False  # the last model was a guess (fallback_hfov_deg)

    def put(self, msg) -> None:
        self.infos.put(msg)

    def model_for(self, header, width: int, height: int, settings) -> FrameCamera:
        """The camera of this `width`×`height` frame: its model (None: depth only, no
        points/info) and its focal length (None: the depth cannot be focal-corrected)."""
        self.assumed = False  # until this frame's model says so
        info = self.infos.lookup(header.frame_id, header.stamp, settings.require_exact_stamp)
        if info is None and settings.require_exact_stamp and self.infos:
            self._throttled("warn", "no_exact_info",
                            f"{self._info_topic}: no camera_info with the stamp of the image "
                            f"(frame_id '{header.frame_id}'); depth/points skipped")
            return FrameCamera(None, None, "no camera_info with the stamp of the image")
        calibration = None if info is None else Calibration.from_message(info)
        camera = self._models.frame_camera(calibration, width, height,
                                           settings.intrinsics_source, settings.fallback_hfov_deg)
        if camera.problem is not None:
            self.status = f"camera_info unusable: {camera.problem}"
            kept = ("; the focal correction uses its K" if camera.fx is not None else "")
            self._throttled("error", f"info:{camera.problem.split(':', 1)[0]}",
                            f"{self._info_topic}: {camera.problem}; depth/points skipped{kept}")
            return camera
        model = camera.model
        if model is None:
            self._warn_no_info(header.frame_id)
            return camera
        self.assumed = model.source == "hfov"
        self.status = model.describe() if self.assumed else f"camera_info: {model.describe()}"
        if self.assumed and not self._warned_assumed:
            self._warned_assumed = True
            self._logger.warn(f"{self._info_topic}: frame_id '{header.frame_id}': intrinsics "
                              f"{model.note}; depth/points and depth/camera_info use them until "
                              "a calibrated camera_info arrives")
        return camera

    def _warn_no_info(self, frame_id: str) -> None:
        """No camera_info for the image's frame_id: said in /diagnostics (`status`), and in a
        line: once while no camera_info arrived at all, throttled while camera_info arrives for
        other frame_ids only (a misconfigured driver), naming them."""
        known = self.infos.frame_ids()
        self.status = (f"no camera_info for frame_id '{frame_id}'"
                       + (f" (received for {known})" if known else " yet"))
        if self._warned_no_info and not known:  # none at all: said once (depth-only is a choice)
            return
        self._warned_no_info = True
        self._throttled("warn", "no_info",
                        f"{self._info_topic}: {self.status}; depth/image is published, "
                        "depth/points and depth/camera_info wait (set fallback_hfov_deg for an "
                        "uncalibrated camera)")
