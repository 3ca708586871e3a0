"""Backend "torchscript" (inference/traced.py): a frozen trace per input shape that gives the
eager numbers and runs without holding the GIL, so Python threads beside it do not stall it."""
import logging
import sys
import threading
import time

import numpy as np
import pytest
import torch
from test_inference_estimator import assert_close_to, frames, tiny_model

from depth_anything_ros.inference import DepthEstimator
from depth_anything_ros.inference.traced import TracedForward
from depth_anything_ros.training.data.tum import TumDataset, default_tum_dir


def test_traced_backend_matches_eager_on_a_real_frame_and_traces_once_per_size():
    model = tiny_model(variant="metric", max_depth=20.0)
    rgb = TumDataset(default_tum_dir(), split="test")[0]["image"]
    eager = DepthEstimator(model, device="cpu").predict(rgb).values
    traced = DepthEstimator(model, device="cpu", backend="torchscript")
    assert traced.backend == "torchscript"
    np.testing.assert_allclose(traced.predict(rgb).values, eager, rtol=1e-5)
    traced.predict(rgb)
    graphs = traced.network.graphs
    assert len(graphs) == 1 and isinstance(next(iter(graphs.values())), torch.jit.ScriptModule)
    small = frames(height=30, width=60, seed=4)[0]  # another aspect: another network input
    assert_close_to(traced.predict(small).values,
                    DepthEstimator(model, device="cpu").predict(small).values)
    assert len(graphs) == 2  # a new image size is traced on first use, the first one kept


def test_traced_forward_runs_while_another_python_thread_holds_the_gil():
    """A busy pure-Python thread (as rclpy's publish is to the node) keeps the GIL until the
    switch interval passes. Eager PyTorch needs it back after every operator, the trace only
    around the whole call."""
    model = tiny_model(variant="metric", max_depth=20.0).eval()
    x = torch.randn(1, 3, 56, 70)
    traced = TracedForward(model)

    def forwards_beside_busy_python(fn, seconds=1.0) -> int:
        done, stop = [0], threading.Event()

        def work():
            with torch.inference_mode():
                while not stop.is_set():
                    fn(x)
                    done[0] += 1

        with torch.inference_mode():
            fn(x)  # traces (and warms up) before the clock starts
        worker = threading.Thread(target=work)
        worker.start()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:  # pure Python: holds the GIL between switches
            pass
        count = done[0]
        stop.set()
        worker.join()
        return count

    # A waiting thread gets the GIL after the switch interval; 20 ms makes each hand-over
    # costly enough that needing one per operator (eager) and one per call (trace) differ
    # by far more than any machine's speed.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.02)
    try:
        eager_count = forwards_beside_busy_python(model)
        traced_count = forwards_beside_busy_python(traced)
    finally:
        sys.setswitchinterval(interval)
    # measured on 2 cores: eager 0, traced 15-16 per second
    assert traced_count >= 3 and traced_count > 5 * eager_count, (eager_count, traced_count)


class Noisy(torch.nn.Module):
    """A network whose output is not a function of its input: no trace can reproduce it."""

    def forward(self, x):
        return x.mean(dim=1) + torch.rand(x.shape[0], *x.shape[2:])


def test_a_trace_that_differs_from_eager_is_not_used(caplog):
    forward = TracedForward(Noisy())
    x = torch.randn(1, 3, 8, 8)
    with caplog.at_level(logging.WARNING, logger="depth_anything_ros.inference.traced"):
        forward(x)
    assert forward.graphs[((1, 3, 8, 8), torch.float32, "cpu", False)] is forward.model
    assert "differs from eager" in caplog.text and "running it eager" in caplog.text


class NanAfterFirstCall(torch.nn.Module):
    """Finite on its first (eager) call, NaN from then on: the trace, recorded on the second
    call, freezes the NaN factor in, as a trace broken by an unsupported op could."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x.mean(dim=1) * (1.0 if self.calls == 1 else float("nan"))


def test_a_trace_that_gives_nan_where_eager_is_finite_is_not_used(caplog):
    forward = TracedForward(NanAfterFirstCall())
    x = torch.randn(1, 3, 8, 8)
    with caplog.at_level(logging.WARNING, logger="depth_anything_ros.inference.traced"):
        forward(x)
    assert forward.graphs[((1, 3, 8, 8), torch.float32, "cpu", False)] is forward.model
    assert "differs from eager by inf" in caplog.text


def test_torchscript_refuses_an_autocast_precision_naming_the_alternative():
    with pytest.raises(ValueError, match="backend 'torchscript' runs fp32.*use backend 'torch'"):
        DepthEstimator(tiny_model(), device="cpu", backend="torchscript", precision="bf16")
