"""The `depth_node` executable: start-up validation and clean shutdown on SIGINT/SIGTERM."""
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from ros_helpers import (  # noqa: F401 — fixtures
    make_image, random_rgb, ros_context, save_tiny_model, tiny_weights)

_IDS = itertools.count()
EXECUTABLE = Path(sys.executable).parent / "depth_node"


class NodeProcess:
    def __init__(self, *ros_args: str) -> None:
        self.ns = f"/proc{os.getpid()}_{next(_IDS)}"
        command = [str(EXECUTABLE)] if EXECUTABLE.exists() else [
            sys.executable, "-m", "depth_anything_ros.ros.executable"]
        self.proc = subprocess.Popen(
            command + ["--ros-args", "-r", f"__ns:={self.ns}", *ros_args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for_line(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"'{text}' not printed; output:\n{self.output}")
            time.sleep(0.05)

    def finish(self, timeout: float = 20.0) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"depth_node did not exit in {timeout} s:\n{self.output}")
        self._reader.join(5)
        return code


@pytest.mark.parametrize("args, expected", [
    (["-p", "weights:=/nonexistent/model.safetensors"], "parameter 'weights'"),
    (["-p", "min_range:=.nan"], "min_range"),
    (["-p", "points_stride:=0"], "points_stride"),
    (["-p", "colormap:=rainbowz"], "colormap"),
    (["-p", "depth_encoding:=8UC1"], "depth_encoding"),
    # version/variant reach the loader: they contradict what the checkpoint says it is
    (["-p", "variant:=relative"], "variant='metric'"),
    (["-p", "version:=v1"], "version='v2'"),
    # an integer where metres (double) are expected: the fix is named
    (["-p", "min_range:=3"], "min_range': Trying to set parameter 'min_range' to '3' of type "
                             "'INTEGER', expecting type 'DOUBLE' (write it with a decimal point"),
])
def test_unusable_parameters_stop_the_node_with_one_clear_message(args, expected, tiny_weights):
    node = NodeProcess("-p", f"weights:={tiny_weights}", *args)
    code = node.finish()
    assert code != 0
    fatal = [line for line in node.lines if "cannot start" in line]
    assert len(fatal) == 1 and expected in fatal[0], node.output
    assert "Traceback" not in node.output


def test_a_refused_parameter_reads_the_same_on_humble_and_jazzy():
    """Humble's rclpy builds its parameter exceptions with the reason and the name as two
    arguments (rclpy/exceptions.py on the humble branch), Jazzy's as one "<reason>: <name>"
    string; str() of Humble's is a tuple. The node's message must be the reason either way."""
    from rclpy.exceptions import InvalidParameterValueException

    from depth_anything_ros.ros.params import parameter_error_reason

    reason = "Invalid parameter value (5000) for parameter. Reason: out of range"
    jazzy = InvalidParameterValueException("input_size", 5000, "out of range")
    humble = InvalidParameterValueException.__new__(InvalidParameterValueException)
    Exception.__init__(humble, reason, "input_size")  # what Humble's __init__ does
    assert parameter_error_reason(jazzy, "input_size") == reason
    assert parameter_error_reason(humble, "input_size") == reason


def test_relative_weights_are_refused_without_a_disparity_to_depth_fit(tmp_path):
    weights = save_tiny_model(tmp_path / "relative.safetensors", variant="relative")
    node = NodeProcess("-p", f"weights:={weights}")
    assert node.finish() != 0
    assert "relative (disparity) model" in node.output and "relative_scale" in node.output
    assert "scale_source" in node.output
    assert "Traceback" not in node.output


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_while_serving_frames_exits_cleanly_with_the_worker_joined(
        signum, ros_context, tiny_weights):
    node = NodeProcess("-p", f"weights:={tiny_weights}")
    probe = rclpy.create_node(f"signal_probe_{next(_IDS)}", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(probe)
    try:
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        pub = probe.create_publisher(Image, f"{node.ns}/image", 5)
        received = []
        probe.create_subscription(Image, f"{node.ns}/depth/image", received.append, qos)
        node.wait_for_line("depth from")
        frame = make_image(random_rgb())
        deadline = time.monotonic() + 20
        while not received and time.monotonic() < deadline:
            pub.publish(frame)
            executor.spin_once(timeout_sec=0.05)
        assert received, node.output
        for _ in range(5):  # keep the worker busy while the signal arrives
            pub.publish(frame)
            executor.spin_once(timeout_sec=0.01)
        node.proc.send_signal(signum)
        code = node.finish(timeout=10)
    finally:
        executor.shutdown()
        probe.destroy_node()
        if node.proc.poll() is None:
            node.proc.kill()
    assert code == 0, node.output
    assert "shutting down" in node.output and "did not stop" not in node.output
    assert "Traceback" not in node.output


@pytest.fixture(scope="module")
def slow_weights(tmp_path_factory):
    """A random vitpico at input size 1960: a 640×480 frame runs at 2613×1960 (26,000 tokens),
    16 s on one thread of the 2-core CI machine (2 GB), so a signal arrives while the frame is
    in the model and it is still there 3 s later even on a core three times as fast (at 1400
    it took 4.7 s, with one thread or two). The test's time does not grow with it: the node
    exits after its 3 s stop timeout."""
    return save_tiny_model(tmp_path_factory.mktemp("slow") / "vitpico_1960.safetensors",
                           input_size=1960)


@pytest.mark.parametrize("second_signal", [False, True])
def test_a_signal_during_a_long_inference_ends_the_node_within_the_stop_timeout(
        second_signal, ros_context, slow_weights):
    """launch escalates to SIGTERM, then SIGKILL, after a few seconds: a node stuck in the model
    must end by itself in STOP_TIMEOUT_S (3 s; exit 1, saying so), or at once on a second
    signal (128 + N), not wait for the frame."""
    # one thread: the frame's time then depends on one core's speed, not on how many there are
    node = NodeProcess("-p", f"weights:={slow_weights}", "-p", "torch_threads:=1")
    probe = rclpy.create_node(f"slow_probe_{next(_IDS)}", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(probe)
    try:
        pub = probe.create_publisher(Image, f"{node.ns}/image", 5)
        received = []
        probe.create_subscription(Image, f"{node.ns}/depth/image", received.append, 5)
        node.wait_for_line("depth from")
        deadline = time.monotonic() + 20
        while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        frame = make_image(random_rgb())
        for _ in range(8):  # ~1.6 s: one of them is in the model now (the rest wait or drop)
            pub.publish(frame)
            executor.spin_once(timeout_sec=0.2)
        assert not received, "the frame took < 1.6 s: not a long inference"
        assert node.proc.poll() is None, node.output
        node.proc.send_signal(signal.SIGINT)
        start = time.monotonic()
        if second_signal:
            time.sleep(0.3)
            node.proc.send_signal(signal.SIGINT)
        code = node.finish(timeout=15)
        took = time.monotonic() - start
    finally:
        executor.shutdown()
        probe.destroy_node()
        if node.proc.poll() is None:
            node.proc.kill()
    if second_signal:
        assert code == 128 + signal.SIGINT and took < 2.5, (code, took, node.output)
    else:
        assert code == 1 and 2.5 < took < 6, (code, took, node.output[-3000:])
        assert "worker did not stop in time" in node.output
    assert "Traceback" not in node.output
