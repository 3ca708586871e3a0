"""Moved to `depth_anything_ros.scale.disparity` (one home for every scale fit); kept importable."""
from depth_anything_ros.scale.disparity import disparity_to_depth, fit_disparity_scale_shift

__all__ = ["disparity_to_depth", "fit_disparity_scale_shift"]
