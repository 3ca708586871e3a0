"""Training: the seed paper's teacher-student pipeline, metric fine-tuning and evaluation.

Installed as ``depth_anything_ros.training`` (run it with ``depth-anything-ros train``); the
repository keeps it in the top-level ``training/`` folder.
"""
