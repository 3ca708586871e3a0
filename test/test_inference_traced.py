"""Backend "torchscript" (inference/traced.py): a frozen trace per input shape that gives the
eager numbers and runs without holding the GIL, so Python threads beside it do not stall it."""
import logging
import sys

import numpy as np
import pytest
import torch
from test_inference_estimator import assert_close_to, frames, tiny_model

from depth_anything_ros.inference import DepthEstimator
from depth_anything_ros.inference.backends import backend_for_weights
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


def test_traced_forward_runs_the_whole_network_without_returning_to_python():
    """Why the trace lets a busy Python thread beside it (rclpy's publish, in the node) run
    without stalling it: a thread needs the GIL only to run Python, and eager PyTorch returns to
    Python for every module and operator, where a waiting thread can take the GIL for a whole
    switch interval. Counted, not timed: the Python and C calls one forward makes."""
    model = tiny_model(variant="metric", max_depth=20.0).eval()
    x = torch.randn(1, 3, 56, 70)
    traced = TracedForward(model)

    def python_calls(forward) -> int:
        calls = [0]

        def count(frame, event, arg):
            calls[0] += event in ("call", "c_call")

        with torch.inference_mode():
            forward(x)  # traces (and warms up) first
            sys.setprofile(count)
            try:
                forward(x)
            finally:
                sys.setprofile(None)
        return calls[0]

    eager, traced_calls = python_calls(model), python_calls(traced)
    # measured: eager 1135 (688 Python + 447 C calls), traced 8 (its own wrapper)
    assert traced_calls <= 16 and eager > 50 * traced_calls, (eager, traced_calls)


class Noisy(torch.nn.Module):
    """A network whose output is not a function of its input: no trace can reproduce it."""

    def forward(self, x):
        return x.mean(dim=1) + torch.rand(x.shape[0], *x.shape[2:])


class NanAfterFirstCall(torch.nn.Module):
    """Finite on its first (eager) call, NaN from then on: the trace, recorded on the second
    call, freezes the NaN factor in, as a trace broken by an unsupported op could."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x.mean(dim=1) * (1.0 if self.calls == 1 else float("nan"))


@pytest.mark.parametrize("network, says", [
    (Noisy, "differs from eager by"),
    (NanAfterFirstCall, "differs from eager by inf"),  # NaN where eager is finite
], ids=["differs", "nan_where_eager_is_finite"])
def test_a_trace_that_differs_from_eager_is_not_used(network, says, caplog):
    forward = TracedForward(network())
    x = torch.randn(1, 3, 8, 8)
    with caplog.at_level(logging.WARNING, logger="depth_anything_ros.inference.traced"):
        forward(x)
    assert forward.graphs[((1, 3, 8, 8), torch.float32, "cpu", False)] is forward.model
    assert says in caplog.text and "running it eager" in caplog.text


def test_torchscript_refuses_an_autocast_precision_naming_the_alternative():
    with pytest.raises(ValueError, match="backend 'torchscript' runs fp32.*use backend 'torch'"):
        DepthEstimator(tiny_model(), device="cpu", backend="torchscript", precision="bf16")


def test_only_the_first_max_shapes_are_traced_later_new_shapes_run_eager(caplog):
    """Each frozen graph costs memory and seconds: a folder of photos of many sizes must not
    keep tracing. Shapes seen before keep their graph; outputs stay the eager ones."""
    model = tiny_model(variant="metric", max_depth=20.0).eval()
    forward = TracedForward(model, max_shapes=2)
    shapes = [(1, 3, 28, 28), (1, 3, 28, 42), (1, 3, 42, 28)]
    with torch.inference_mode(), caplog.at_level(logging.WARNING,
                                                 logger="depth_anything_ros.inference.traced"):
        outputs = [forward(torch.randn(*shape)) for shape in shapes]
        forward(torch.randn(*shapes[0]))  # seen before: its graph, not a new trace
    graphs = [forward.graphs[(shape, torch.float32, "cpu", False)] for shape in shapes]
    assert [isinstance(g, torch.jit.ScriptModule) for g in graphs] == [True, True, False]
    assert graphs[2] is model and forward.traced == 2 and len(forward.graphs) == 3
    assert "new shape after 2 traced ones" in caplog.text and "(1, 3, 42, 28)" in caplog.text
    assert [tuple(o.shape) for o in outputs] == [(1, 28, 28), (1, 28, 42), (1, 42, 28)]


@pytest.mark.parametrize("device, precision, expected", [
    ("cpu", None, "torchscript"), ("cpu", "fp32", "torchscript"),
    ("cpu", "bf16", "torch"),  # autocast does not go through a trace
    ("cuda", None, "torch"), ("cuda:1", "fp16", "torch"),
])
def test_auto_traces_a_stream_on_the_cpu_in_fp32_and_nothing_else(device, precision, expected):
    device = torch.device(device)
    assert backend_for_weights("m.safetensors", "auto", device, precision,
                               streaming=True) == expected
    # one-off images (predict, evaluate): a trace would cost more than it saves
    assert backend_for_weights("m.safetensors", "auto", device, precision) == "torch"
    assert backend_for_weights("m.onnx", "auto", device, precision,
                               streaming=True) == "onnxruntime"  # a file's own runtime first
    assert backend_for_weights("m.safetensors", "torch", "cpu", streaming=True) == "torch"


def test_a_stream_loads_traced_on_the_cpu_and_one_off_images_eager(tmp_path):
    """What the node and `bag` (streaming) and `predict` get when nobody names a backend; the
    trace gives the eager numbers."""
    from depth_anything_ros.model import save_model

    path = tmp_path / "tiny.safetensors"
    save_model(tiny_model(variant="metric", max_depth=20.0), path)
    rgb = frames(height=48, width=64, seed=2)[0]
    stream = DepthEstimator.from_weights(path, device="cpu", streaming=True)
    one_off = DepthEstimator.from_weights(path, device="cpu")
    assert (stream.backend, one_off.backend) == ("torchscript", "torch")
    assert stream.config.encoder == "vitpico"  # the file given, not the shipped model
    np.testing.assert_allclose(stream.predict(rgb).values, one_off.predict(rgb).values,
                               rtol=1e-5)
    assert stream.network.traced == 1
    assert DepthEstimator.from_weights(path, device="cpu", precision="bf16",
                                       streaming=True).backend == "torch"
