"""Depth Anything model core (ROS-free): DINOv2 encoder + DPT head, configs, safe checkpoints."""

from .checkpoints import (
    default_weights_path,
    inspect_checkpoint,
    load_dinov2_backbone,
    load_model,
    model_from_state,
    read_provenance,
    save_model,
)
from .depth_anything import ENCODER_PRESETS, DepthAnything, EncoderPreset, ModelConfig
from .state_dicts import CheckpointError, file_sha256

__all__ = [
    "CheckpointError",
    "DepthAnything",
    "ENCODER_PRESETS",
    "EncoderPreset",
    "ModelConfig",
    "default_weights_path",
    "file_sha256",
    "inspect_checkpoint",
    "load_dinov2_backbone",
    "load_model",
    "model_from_state",
    "read_provenance",
    "save_model",
]
