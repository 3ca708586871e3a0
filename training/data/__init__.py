"""depth_anything_ros.training.data — everything the stages read: synthetic scenes, folders, bags; transforms and
the student's perturbations. The contract is in docs/interfaces.md (section ``depth_anything_ros.training.data``).

Names are imported lazily on first use, so ``import depth_anything_ros.training.data.synthetic`` in a generator
process does not pay for torch, and bag support does not import rosbags until used.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "depth_anything_ros.training.data.domains": ("DOMAINS", "make_scene"),
    "depth_anything_ros.training.data.perturbations": (
        "CutMixResult",
        "StrongPerturbation",
        "colour_jitter",
        "cutmix",
        "gaussian_blur",
        "mix_like",
    ),
    "depth_anything_ros.training.data.registry": ("DatasetSpec", "DatasetSpecError", "open_dataset", "parse_spec"),
    "depth_anything_ros.training.data.samples": ("DepthDataset", "Sample", "make_sample"),
    "depth_anything_ros.training.data.scene": ("CameraPose", "Scene", "intrinsics_from_fov"),
    "depth_anything_ros.training.data.synthetic": (
        "SPLITS",
        "SyntheticFrame",
        "camera_trajectory",
        "frame_seed",
        "render_frame",
        "sample_camera",
    ),
    "depth_anything_ros.training.data.synthetic_dataset": ("SyntheticDataset",),
    "depth_anything_ros.training.data.folders": ("FolderDataset", "FolderDatasetError"),
    "depth_anything_ros.training.data.bags": ("BagDataset", "BagDatasetError"),
    "depth_anything_ros.training.data.tum": ("TumDataset", "TumDatasetError", "default_tum_dir"),
    "depth_anything_ros.training.data.transforms": (
        "EvalTransform",
        "TrainTransform",
        "TransformedDataset",
        "normalize_images",
        "to_tensors",
    ),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'depth_anything_ros.training.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
