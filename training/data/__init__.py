"""training.data — everything the stages read: synthetic scenes, folders, bags; transforms and
the student's perturbations. The contract is in docs/interfaces.md (section ``training.data``).

Heavy submodules (bags → rosbags) are imported lazily by :func:`open_dataset`.
"""
from training.data.domains import DOMAINS, make_scene
from training.data.perturbations import (
    CutMixResult,
    StrongPerturbation,
    colour_jitter,
    cutmix,
    gaussian_blur,
    mix_like,
)
from training.data.registry import DatasetSpec, DatasetSpecError, open_dataset, parse_spec
from training.data.samples import DepthDataset, Sample, make_sample
from training.data.scene import CameraPose, Scene, intrinsics_from_fov
from training.data.synthetic import (
    SPLITS,
    SyntheticDataset,
    SyntheticFrame,
    camera_trajectory,
    frame_seed,
    render_frame,
    sample_camera,
)
from training.data.transforms import (
    EvalTransform,
    TrainTransform,
    TransformedDataset,
    normalize_images,
    to_tensors,
)

__all__ = [
    "DOMAINS", "SPLITS", "CameraPose", "CutMixResult", "DatasetSpec", "DatasetSpecError",
    "DepthDataset", "EvalTransform", "Sample", "Scene", "StrongPerturbation", "SyntheticDataset",
    "SyntheticFrame", "TrainTransform", "TransformedDataset", "camera_trajectory", "colour_jitter",
    "cutmix", "frame_seed", "gaussian_blur", "intrinsics_from_fov", "make_sample", "make_scene",
    "mix_like", "normalize_images", "open_dataset", "parse_spec", "render_frame", "sample_camera",
    "to_tensors",
]
