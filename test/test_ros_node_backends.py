"""The node on an exported model over real DDS: weights:=model.onnx picks ONNX Runtime, the
backend parameter switches to OpenVINO (a checkpoint runs as a TorchScript trace on the CPU,
by default or by choice), and an impossible choice stops start-up in one line."""
import numpy as np
import pytest
from rclpy.parameter import Parameter

from depth_anything_ros.conversions import decode_depth
from depth_anything_ros.inference import DepthEstimator, network_size
from depth_anything_ros.inference.export import export_model, max_relative_difference
from depth_anything_ros.inference.signal_stack import current_signal_stack
from depth_anything_ros.model import load_model
from depth_anything_ros.ros.messages import cloud_from_msg
from depth_anything_ros.ros.node import DepthNode, StartupError
from ros_helpers import (  # noqa: F401 — fixtures
    harness_factory, make_camera_info, make_image, random_rgb, ros_context, tiny_weights)

HEIGHT, WIDTH = 24, 32  # the harness' camera


@pytest.fixture(scope="module")
def onnx_weights(tmp_path_factory, tiny_weights):
    """The tiny metric model exported for the harness' 32×24 camera."""
    model = load_model(tiny_weights)
    path = tmp_path_factory.mktemp("export") / "tiny.onnx"
    export_model(model, path, fmt="onnx",
                 network_shape=network_size(HEIGHT, WIDTH, model.config.input_size))
    return path


@pytest.mark.parametrize("backend", ["auto", "openvino"])
def test_node_serves_depth_and_points_from_an_exported_model(harness_factory, tiny_weights,
                                                             onnx_weights, backend):
    h = harness_factory({"backend": backend}, weights=onnx_weights)
    assert h.node._estimator.backend == ("onnxruntime" if backend == "auto" else backend)
    rgb = random_rgb(HEIGHT, WIDTH, seed=3)
    h.send_info(make_camera_info(WIDTH, HEIGHT, stamp=(4, 0)))  # cached before the image
    h.image_pub.publish(make_image(rgb, stamp=(4, 0)))
    depth_msg = h.wait_stamp("depth", (4, 0), timeout=30)
    points = cloud_from_msg(h.wait_stamp("points", (4, 0), timeout=30))
    depth = decode_depth("32FC1", HEIGHT, WIDTH, depth_msg.step, depth_msg.is_bigendian,
                         depth_msg.data)
    expected = DepthEstimator.from_weights(tiny_weights, device="cpu").predict(rgb).values
    assert max_relative_difference(depth, expected) < 1e-3
    np.testing.assert_allclose(points["z"], depth, rtol=1e-6)


def test_an_openvino_node_leaves_the_starting_threads_signal_stack_as_it_was(ros_context,
                                                                            onnx_weights):
    # OpenVINO's compile swapped its own signal stack onto this thread; freed with the node on
    # another thread, it left this one's on unmapped memory: the next SIGINT/SIGCHLD handler
    # here was a silent SIGSEGV (inference/signal_stack.py)
    before = current_signal_stack()
    node = DepthNode(context=ros_context, namespace="/openvino_signal_stack", parameter_overrides=[
        Parameter("weights", value=str(onnx_weights)), Parameter("backend", value="openvino")])
    try:
        assert node._estimator.backend == "openvino"
        assert current_signal_stack() == before
    finally:
        node.destroy_node()


@pytest.mark.parametrize("params", [{"backend": "torchscript"}, {}],
                         ids=["torchscript", "default_on_cpu"])
def test_node_with_backend_torchscript_serves_the_eager_depth(harness_factory, tiny_weights,
                                                              params):
    h = harness_factory(params, weights=tiny_weights)
    assert h.node._estimator.backend == "torchscript"
    rgb = random_rgb(HEIGHT, WIDTH, seed=5)
    h.send_info(make_camera_info(WIDTH, HEIGHT, stamp=(6, 0)))
    h.image_pub.publish(make_image(rgb, stamp=(6, 0)))
    depth_msg = h.wait_stamp("depth", (6, 0), timeout=30)
    depth = decode_depth("32FC1", HEIGHT, WIDTH, depth_msg.step, depth_msg.is_bigendian,
                         depth_msg.data)
    expected = DepthEstimator.from_weights(tiny_weights, device="cpu",
                                           backend="torch").predict(rgb).values
    np.testing.assert_allclose(depth, expected, rtol=1e-5)
    assert len(h.node._estimator.network.graphs) == 1  # it ran the trace, not eager


def test_a_pytorch_backend_for_an_exported_file_stops_start_up(ros_context, onnx_weights):
    with pytest.raises(StartupError, match=f"weights {onnx_weights}: an exported .onnx"):
        DepthNode(context=ros_context, namespace="/backend_refused", parameter_overrides=[
            Parameter("weights", value=str(onnx_weights)), Parameter("backend", value="torch")])
