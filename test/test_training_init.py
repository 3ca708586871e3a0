"""A fresh relative model must be trainable from step 0, whatever the seed."""
import torch

from depth_anything_ros.training.config import load_config
from depth_anything_ros.training.stages.common import build_model


def test_fresh_relative_model_outputs_positive_disparity_so_its_relu_passes_gradients():
    config = load_config(None, ["model.encoder=vitpico", "data.crop=56"])
    x = torch.randn(2, 3, 56, 56)
    for seed in range(6):
        torch.manual_seed(seed)
        model = build_model(config)
        out = model(x)
        assert (out > 0).float().mean() > 0.99, f"seed {seed}: dead ReLU output at init"
        out.mean().backward()
        grad = model.depth_head.scratch.output_conv2[2].weight.grad
        assert grad is not None and grad.abs().sum() > 0, f"seed {seed}: no gradient"
