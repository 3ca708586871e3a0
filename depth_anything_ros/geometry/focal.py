"""Focal length and metric scale: the canonical-camera rule (Metric3D; REFERENCE.md §14).

A metric network judges distance from apparent size, so a network whose depths belong to a
camera of normalised focal f_c, shown a camera of focal f, predicts d·f_c/f. Training on targets
d·f_c/f (canonical space) and multiplying predictions by f/f_c undoes that.

**Normalised focal** here is ``fx / min(width, height)``: the focal in units of the *shorter*
image side. The official preprocessing (REFERENCE.md §3) scales every frame so its shorter side
becomes ``input_size``, and training crops are squares of that side, so the network sees an
object at ``fx_net = f · input_size`` pixels of focal whatever the aspect ratio. ``fx / width``
(also resize-invariant) would call a 640×480 camera and the same sensor cropped to 480×480 two
different lenses although the network sees identical pixels; between square training crops and a
4:3 camera that is a 4/3 error in scale.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

FOCAL_CORRECTIONS = ("auto", "on", "off")

# Where a checkpoint's focal came from (ModelConfig.focal_origin).
CANONICAL = "canonical"  # trained on targets d·f_c/f: the correction is part of the model
TRAINING_CAMERA = "training_camera"  # trained on one camera of this focal, no canonicalisation


@dataclass(frozen=True)
class TrainingCamera:
    """The one camera a dataset was rendered with (pixels)."""

    width: int
    height: int
    fx: float

    @property
    def focal(self) -> float:
        return normalised_focal(self.fx, self.width, self.height)


# Training cameras of the official metric checkpoints (REFERENCE.md §4, §14).
OFFICIAL_TRAINING_CAMERAS = {
    "hypersim": TrainingCamera(1024, 768, 886.81),  # 60° hfov; fx/min side 1.155
    "vkitti": TrainingCamera(1242, 375, 725.0087),  # fx/min side 1.933
}


def normalised_focal(fx: float, width: int, height: int) -> float:
    """``fx / min(width, height)``: resize-, crop- and aspect-invariant (see module docstring)."""
    if not (math.isfinite(fx) and fx > 0):
        raise ValueError(f"fx must be a finite focal length > 0 pixels, got {fx}")
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height} (WxH)")
    return float(fx) / min(int(width), int(height))


def fx_from_hfov(hfov_deg: float, width: int) -> float:
    """Pinhole focal in pixels of an image ``width`` pixels wide seeing ``hfov_deg`` across."""
    if not (math.isfinite(hfov_deg) and 0.0 < hfov_deg < 180.0):
        raise ValueError(
            f"horizontal field of view must be within (0, 180) degrees, got {hfov_deg}")
    return 0.5 * width / math.tan(math.radians(hfov_deg) / 2.0)


def canonical_depth_factor(focal: float, canonical_focal: float) -> float:
    """Multiply true depth by this for a canonical-space training target (f_c / f)."""
    return float(canonical_focal) / float(focal)


def focal_scale(focal: float, canonical_focal: float) -> float:
    """Multiply a canonical-space prediction by this for metres on the camera (f / f_c)."""
    return float(focal) / float(canonical_focal)


def corrects_focal(policy: str, focal_origin: str | None) -> bool:
    """Whether ``policy`` applies the f/f_c correction to a checkpoint of ``focal_origin``.

    ``auto`` corrects our canonical-focal checkpoints and leaves single-camera checkpoints
    (official Hypersim/VKITTI2 files) alone: a model trained on one lens still reads about half
    of a lens change from the image itself, so the full factor over-corrects it (measured in
    docs/training.md, "Metric scale and the lens"). ``on`` corrects whenever a focal is
    declared; ``off`` never does.
    """
    if policy not in FOCAL_CORRECTIONS:
        raise ValueError(f"focal_correction must be one of {FOCAL_CORRECTIONS}, got {policy!r}")
    if policy == "off" or focal_origin is None:
        return False
    return policy == "on" or focal_origin == CANONICAL
