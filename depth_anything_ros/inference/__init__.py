"""Inference: official pre/post-processing around the model (`DepthEstimator`); ROS-free."""
from .estimator import DepthEstimator, DepthKind, DepthResult, resolve_device
from .preprocess import network_size, prepare_batch, prepare_batch_cv2, prepare_batch_torch

__all__ = [
    "DepthEstimator",
    "DepthKind",
    "DepthResult",
    "network_size",
    "prepare_batch",
    "prepare_batch_cv2",
    "prepare_batch_torch",
    "resolve_device",
]
