"""What the node's threads hand each other: a received frame (callback → worker) and an inferred
one (worker → publisher thread)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sensor_msgs.msg import CompressedImage, Image

from depth_anything_ros.geometry.camera_model import CameraModel
from depth_anything_ros.ros.params import NodeSettings


@dataclass
class Frame:
    """One received camera message, decoded later on the worker thread."""

    msg: Image | CompressedImage
    compressed: bool


@dataclass
class Output:
    """One inferred frame on its way from the worker to the publisher thread."""

    header: object
    rgb: np.ndarray
    depth: np.ndarray
    camera: CameraModel | None
    settings: NodeSettings
    wanted: set
    model_time_s: float
