"""How the network runs: plain eager PyTorch, or `torch.compile` (fused kernels, same numbers).

`torch.compile` traces the forward once per input shape (a camera has one), then runs
generated kernels that fuse LayerNorm, GELU, LayerScale and residual adds; the first call
pays the compile time (about a minute for ViT-S on 2 CPU cores), which is what
`DepthEstimator(warmup=...)` is for. On the CPU we also turn on inductor's *freezing*: the
weights become constants, so oneDNN gets them pre-packed for its convolution and matmul
kernels instead of re-laying them out on every call (measured in bench/model_cpu.py). Freezing
assumes the weights no longer change: build a new estimator after editing the model.
"""
from __future__ import annotations

import logging
from typing import Callable, Literal

import torch
from torch import nn

log = logging.getLogger(__name__)

Backend = Literal["eager", "compile"]
BACKENDS = ("eager", "compile")


def build_forward(model: nn.Module, backend: str, device: torch.device | str = "cpu"
                  ) -> Callable[[torch.Tensor], torch.Tensor]:
    """The callable that maps a normalised (B, 3, H, W) batch to (B, H, W) depth."""
    if backend == "eager":
        return model
    if backend == "compile":
        log.info("compiling the model with torch.compile (the first frame of each size is slow)")
        options = {"freezing": True} if torch.device(device).type == "cpu" else None
        return torch.compile(model, dynamic=False, options=options)
    raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
