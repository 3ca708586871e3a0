"""bench/backends.py's FLOP count, which the README's "beyond this CPU" arithmetic rests on:
attention must be counted (torch's FlopCounterMode has no formula for the CPU flash-attention
kernel and counts it as 0)."""
import pytest
import torch
from bench_helpers import load_bench
from torch.utils.flop_counter import FlopCounterMode

from depth_anything_ros.inference.preprocess import network_size
from depth_anything_ros.model import DepthAnything, ModelConfig


def test_network_gflop_counts_attention_on_top_of_what_torch_counts():
    torch.manual_seed(0)
    config = ModelConfig.preset("vitpico", variant="metric", input_size=70, max_depth=20.0)
    model = DepthAnything(config).eval()
    height, width = network_size(480, 640, config.input_size)
    x = torch.zeros(1, 3, height, width)
    with torch.inference_mode(), FlopCounterMode(display=False) as plain:
        model(x)
    tokens = (height // 14) * (width // 14) + 1  # patches + class token
    dim, layers = 64, 4  # vitpico
    attention = 4 * tokens ** 2 * dim * layers  # q·kᵀ and weights·v, 2 FLOP per multiply-add
    counted = load_bench("backends").network_gflop(model, 480, 640) * 1e9
    assert counted == pytest.approx(attention + plain.get_total_flops(), rel=1e-9)
    assert attention > 0.01 * counted  # a real share, so leaving it out would show
