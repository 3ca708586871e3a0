"""The PyTorch network traced and frozen once per input shape: backend "torchscript".

Why: eager PyTorch returns to Python between its ~2000 operator calls per frame and needs the
GIL for each. In the node every other Python thread (rclpy's executor, the publisher thread,
whose `publish` of a depth image and a 5 MB cloud holds the GIL for milliseconds) then stalls
inference: measured with one busy Python thread beside it, an eager frame of the shipped model
took 1061 ms instead of 64. A traced TorchScript graph runs every operator in C++ and releases
the GIL for the whole call (86 ms beside the same thread, on one shared core), as ONNX Runtime
does; `torch.compile` does not (583 ms). Same operators and weights, so the output matches
eager (max relative difference 0 on the shipped model).

`torch.jit` is deprecated upstream in favour of `torch.compile`/`torch.export`, which do not
release the GIL; it still works in every PyTorch 2 release this package supports. Tracing
records one input shape, so each new (batch, height, width) is traced on first use (about a
second for the shipped model, longer for ViT-L; `DepthEstimator(warmup=...)` pays it up
front; a bag's shorter last batch is one more shape; after `MAX_TRACED_SHAPES` shapes, new
ones run eager) and checked against eager on that input:
a trace that disagrees (or fails) is not used, and that shape runs eager, with one warning.
Checked on the CPU; on CUDA the check covers the first run only (TorchScript may fuse later
runs differently), so compare once against `torch` on your GPU. Weights are frozen into the graph: build a new
estimator after changing them. fp32 only (autocast does not go through a frozen trace).
"""
from __future__ import annotations

import logging
import warnings

import torch
from torch import nn

from .export import max_relative_difference

log = logging.getLogger(__name__)

# A trace is used only if it reproduces eager this closely on its first input (max |diff| over
# max |eager|, as `export` checks its files).
TRACE_TOLERANCE = 1e-4
# Shapes traced at most; later new shapes run eager. Each frozen graph costs memory (a random
# ViT-S: resident memory +345, +172, +62 MB for its first three shapes, measured) and seconds
# to make: a camera needs one shape, a bag two (its shorter last batch); a folder of photos of
# many sizes must not grow it without bound.
MAX_TRACED_SHAPES = 4


class TracedForward:
    """Callable like the model: (B, 3, H, W) → (B, H, W), one frozen trace per input shape."""

    def __init__(self, model: nn.Module, tolerance: float = TRACE_TOLERANCE,
                 max_shapes: int = MAX_TRACED_SHAPES) -> None:
        self.model = model
        self.tolerance = tolerance
        self.max_shapes = max_shapes
        # input shape, dtype, device, layout → frozen graph (or the eager model, where none)
        self.graphs: dict[tuple, nn.Module] = {}
        self.traced = 0  # shapes traced (a trace that failed or disagreed counts: it cost too)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        key = (tuple(x.shape), x.dtype, str(x.device),
               x.is_contiguous(memory_format=torch.channels_last))
        graph = self.graphs.get(key)
        if graph is None:
            if self.traced < self.max_shapes:
                self.traced += 1
                graph = self._trace(x)
            else:
                log.warning("backend torchscript: input %s is a new shape after %d traced ones; "
                            "it runs eager (each trace costs memory)",
                            tuple(x.shape), self.max_shapes)
                graph = self.model
            self.graphs[key] = graph
        return graph(x)

    def _trace(self, x: torch.Tensor) -> nn.Module:
        """A frozen trace for `x`'s shape, or the eager model when tracing fails or disagrees."""
        expected = self.model(x)
        try:
            with warnings.catch_warnings():  # TracerWarning (shape-specialised) and deprecation
                warnings.simplefilter("ignore")
                graph = torch.jit.freeze(torch.jit.trace(self.model, x, check_trace=False).eval())
                got = graph(x)
        except Exception as exc:  # noqa: BLE001 - any tracing failure falls back to eager
            log.warning("backend torchscript: tracing the network for input %s failed (%s); "
                        "running it eager", tuple(x.shape), exc)
            return self.model
        diff = max_relative_difference(got.detach().cpu().numpy(),
                                       expected.detach().cpu().numpy())
        if not diff <= self.tolerance:
            log.warning("backend torchscript: the trace for input %s differs from eager by "
                        "%.1e (> %.0e); running it eager", tuple(x.shape), diff, self.tolerance)
            return self.model
        log.info("backend torchscript: traced the network for input %s (max relative "
                 "difference to eager %.1e)", tuple(x.shape), diff)
        return graph

