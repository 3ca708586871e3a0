"""Training: the seed paper's teacher-student pipeline, metric fine-tuning and evaluation (python -m training)."""
