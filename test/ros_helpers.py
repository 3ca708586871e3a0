"""Shared set-up for the ROS tests: tiny saved models, an rclpy context, the node in-process.

The node runs on a SingleThreadedExecutor (as in `depth_node`) in a background thread next to a "probe" node that
publishes camera frames and records every output, all over real DDS (LOCALHOST, test domain).
"""
from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections import defaultdict

import numpy as np
import pytest
import rclpy
import torch
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Log
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from depth_anything_ros.conversions import encode_image
from depth_anything_ros.model import DepthAnything, ModelConfig, save_model
from depth_anything_ros.ros.input_qos import matching_reliability

# Every harness gets a namespace unique on this host (process id + counter), so two test runs
# that happen to draw the same ROS_DOMAIN_ID still never share a topic.
_NAMESPACES = itertools.count()


def unique_namespace(prefix: str = "dut") -> str:
    return f"/{prefix}{os.getpid()}_{next(_NAMESPACES)}"


def save_tiny_model(path, *, variant: str = "metric", input_size: int = 42, seed: int = 0):
    """A random `vitpico` checkpoint (our .safetensors) — fast, real, and deterministic."""
    torch.manual_seed(seed)
    config = ModelConfig.preset("vitpico", variant=variant,
                                max_depth=10.0 if variant == "metric" else None,
                                input_size=input_size)
    save_model(DepthAnything(config), path, provenance={"purpose": "ROS node tests"})
    return path


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("weights") / "vitpico_metric.safetensors")


@pytest.fixture(scope="module")
def ros_context():
    """One rclpy context per test module, shut down when the module's tests end: every module
    imports this fixture, so at session scope each kept its own DDS participant (threads,
    shared memory) alive to the end of the whole run, ~20 of them under the later tests."""
    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    context.try_shutdown()


def make_image(rgb: np.ndarray, encoding: str = "rgb8", *, frame_id: str = "camera_optical_frame",
               stamp=(1, 0), row_padding: int = 0, is_bigendian: bool = False,
               mono16_bits: int = 16) -> Image:
    step, data = encode_image(rgb, encoding, row_padding=row_padding, is_bigendian=is_bigendian,
                              mono16_bits=mono16_bits)
    msg = Image(height=rgb.shape[0], width=rgb.shape[1], encoding=encoding, step=step,
                is_bigendian=is_bigendian)
    msg.header.frame_id = frame_id
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.data = data
    return msg


def make_camera_info(width: int, height: int, *, fx: float = 40.0, fy: float = 42.0,
                     cx: float | None = None, cy: float | None = None,
                     frame_id: str = "camera_optical_frame", stamp=(1, 0)) -> CameraInfo:
    cx = (width - 1) / 2 if cx is None else cx
    cy = (height - 1) / 2 if cy is None else cy
    msg = CameraInfo(width=width, height=height, distortion_model="plumb_bob",
                     d=[0.0] * 5, k=[fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0],
                     r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                     p=[fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0])
    msg.header.frame_id = frame_id
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    return msg


def random_rgb(height: int = 24, width: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


OUTPUTS = {"depth": ("depth/image", Image), "info": ("depth/camera_info", CameraInfo),
           "points": ("depth/points", PointCloud2), "colored": ("depth/colored", Image)}


STORE_TIMEOUT = 20.0  # seconds a message may take to reach the node's cache on a loaded host


def _publish_until_stored(pub, msg, stored, timeout: float, what: str) -> None:
    """Publish `msg` and wait until `stored()` (the node's own cache, as a list) holds a copy
    that was not there before: a repeat of an identical message counts only once it arrived.
    A best-effort publisher re-sends every 0.5 s (DDS may drop a best-effort message)."""
    before = [m for m in stored() if m == msg]  # kept alive here, so their ids stay unique
    known = {id(m) for m in before}
    best_effort = pub.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT
    deadline = time.monotonic() + timeout
    resend_at = time.monotonic() + 0.5
    pub.publish(msg)
    while not any(m == msg and id(m) not in known for m in stored()):
        now = time.monotonic()
        assert now < deadline, (f"{what}: the node did not store the published message within "
                                f"{timeout:g} s ({len(stored())} message(s) in its cache)")
        if best_effort and now >= resend_at:
            pub.publish(msg)
            resend_at = now + 0.5
        time.sleep(0.005)


class NodeHarness:
    """A DepthNode plus a probe node, spinning in a background SingleThreadedExecutor, as
    `depth_node`'s main spins it (the node's inference runs on its own worker thread)."""

    def __init__(self, context, weights, params: dict | None = None, *,
                 subscribe=("depth", "info", "points"), estimator=None,
                 image_qos=None, compressed: bool = False) -> None:
        from depth_anything_ros.ros.node import DepthNode

        self.ns = unique_namespace()
        # The probe and its publishers come first: nodes of one context share a DDS
        # participant and its graph, so the node's `input_reliability: auto` sees them at once
        # (no switch of its subscriptions while a test publishes).
        self.probe = rclpy.create_node(f"probe{self.ns[4:]}", context=context)
        self.received: dict[str, list] = defaultdict(list)
        self._cond = threading.Condition()
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        image_qos = image_qos or reliable
        self.image_qos = image_qos
        if compressed:
            self.image_pub = self.probe.create_publisher(
                CompressedImage, f"{self.ns}/image/compressed", image_qos)
        else:
            self.image_pub = self.probe.create_publisher(Image, f"{self.ns}/image", image_qos)
        self.info_pub = self.probe.create_publisher(CameraInfo, f"{self.ns}/camera_info",
                                                    image_qos)
        overrides = [Parameter("weights", value=str(weights))]
        overrides += [Parameter(k, value=v) for k, v in (params or {}).items()]
        self.node = DepthNode(context=context, namespace=self.ns, parameter_overrides=overrides,
                              estimator=estimator)
        self._subs = {}
        for key in subscribe:
            self.subscribe(key)
        self.probe.create_subscription(DiagnosticArray, "/diagnostics",
                                       lambda m: self._store("diagnostics", m), 50)
        self.executor = SingleThreadedExecutor(context=context)
        self.spin_error: BaseException | None = None
        self.executor.add_node(self.node)
        self.executor.add_node(self.probe)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()
        self.wait_connected()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception as exc:  # noqa: BLE001 — kept: a test that times out shows it
            self.spin_error = exc

    def _store(self, key: str, msg) -> None:
        with self._cond:
            self.received[key].append(msg)
            self._cond.notify_all()

    def subscribe(self, key: str) -> None:
        topic, kind = OUTPUTS[key]
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self._subs[key] = self.probe.create_subscription(
            kind, f"{self.ns}/{topic}", lambda m, k=key: self._store(k, m), qos)

    def on_spin_thread(self, work, timeout: float = 5.0):
        """`work()` run on the executor's thread; its result. Destroy entities this way: an
        rclpy executor building its wait set while another thread destroys a publisher or
        subscription dies with "cannot use Destroyable because destruction was requested"
        (Jazzy, about 1 run in 3 here), and the node then stops serving."""
        done, outcome = threading.Event(), {}

        def run():
            try:
                outcome["value"] = work()
            except BaseException as exc:  # noqa: BLE001 — re-raised on the calling thread
                outcome["error"] = exc
            finally:
                done.set()
        self.executor.create_task(run)
        if not done.wait(timeout):
            raise TimeoutError(f"the executor did not run the work within {timeout} s "
                               f"(executor error: {self.spin_error!r})")
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("value")

    def wait_connected(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        node_pubs = {"depth": self.node._pub_depth, "info": self.node._pub_info,
                     "points": self.node._pub_points, "colored": self.node._pub_colored}
        # input_reliability auto: the node's inputs first follow the probe's publishers
        expected = matching_reliability([self.image_qos.reliability])
        inputs = (self.node.image_input, self.node.info_input)
        while time.monotonic() < deadline:
            if (all(i.reliability == expected and i.settled for i in inputs
                    if i.mode == "auto")
                    and self.image_pub.get_subscription_count() > 0
                    and self.info_pub.get_subscription_count() > 0
                    and all(node_pubs[k].get_subscription_count() > 0 for k in self._subs)):
                return
            time.sleep(0.02)
        raise TimeoutError(f"{self.ns}: DDS discovery did not complete in {timeout} s")

    def wait_for(self, key: str, predicate=lambda m: True, timeout: float = 10.0):
        """The first received `key` message matching `predicate` (or TimeoutError)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for msg in self.received[key]:
                    if predicate(msg):
                        return msg
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching {key} message within {timeout} s "
                                       f"(input {self.node.image_input.describe()}, "
                                       f"{self.node._mailbox.received} frames received, "
                                       f"executor error: {self.spin_error!r})")
                self._cond.wait(left)

    def wait_stamp(self, key: str, stamp, timeout: float = 30.0):
        # 30 s: a node's first frame traces its model (backend auto on the CPU), which took
        # 15 s once with other test processes on the same 2 cores
        return self.wait_for(key, lambda m: (m.header.stamp.sec, m.header.stamp.nanosec)
                             == tuple(stamp), timeout)

    def send_info(self, msg: CameraInfo, timeout: float = STORE_TIMEOUT) -> None:
        """Publish a camera_info and return once the node has it in its cache, so an image
        published next is processed with it (instead of sleeping and hoping)."""
        infos = self.node._cameras.infos

        def stored():
            with infos._lock:
                return list(infos._by_frame.get(msg.header.frame_id, ()))
        _publish_until_stored(self.info_pub, msg, stored, timeout,
                              f"{self.ns}/camera_info (frame_id '{msg.header.frame_id}')")

    def send_sparse(self, pub, msg, timeout: float = STORE_TIMEOUT) -> None:
        """Publish a sparse depth image on `pub` and return once the node's sparse buffer holds
        it, so an image published next can be paired with it."""
        buffer = self.node._scale._sparse

        def stored():
            with buffer._arrived:
                return [m for _, m in buffer._messages]
        _publish_until_stored(pub, msg, stored, timeout, pub.topic_name)

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2.0)
        self._thread.join(5.0)
        self.node.destroy_node()
        self.probe.destroy_node()


@pytest.fixture
def harness_factory(ros_context, tiny_weights):
    created = []

    def make(params: dict | None = None, **kwargs) -> NodeHarness:
        weights = kwargs.pop("weights", tiny_weights)
        harness = NodeHarness(ros_context, weights, params, **kwargs)
        created.append(harness)
        return harness

    with torch_threads_kept():
        yield make
        for harness in created:
            harness.close()


@contextlib.contextmanager
def torch_threads_kept():
    """DepthNode sets torch's process-wide thread count (its torch_threads parameter; 0 = all
    cores but one): give the rest of the test session back what it had."""
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


_MARKERS = itertools.count()


class RosoutLog:
    """/rosout records of the node under test at `level` or above (ERROR by default).

    Ready when constructed: the node logs a marker line (INFO, never recorded) until the
    subscription receives one, so no line logged afterwards is missed. `sync()` does the same
    later: every line the node logged before it has then arrived (one writer, in order), so a
    test can assert that a line did *not* come."""

    def __init__(self, h, level: int = Log.ERROR, timeout: float = STORE_TIMEOUT):
        self.records = []
        self.lines: list[tuple[int, str]] = []  # (level, text) of the records
        self._ns = h.ns.strip("/")
        self._node = h.node
        self._level = level
        self._markers_seen: set[str] = set()
        h.probe.create_subscription(Log, "/rosout", self._on_log, 100)
        self.sync(timeout)

    def _on_log(self, msg):
        if self._ns not in msg.name:
            return
        if msg.msg.startswith("rosout marker "):
            self._markers_seen.add(msg.msg)
        elif msg.level >= self._level:
            self.records.append(msg.msg)
            self.lines.append((msg.level, msg.msg))

    def sync(self, timeout: float = STORE_TIMEOUT) -> None:
        """Log a fresh marker through the node's logger (re-logged every 0.5 s until one
        arrives: the first may precede the subscription's discovery) and wait for it."""
        marker = f"rosout marker {self._ns} {next(_MARKERS)}"
        deadline = time.monotonic() + timeout
        while marker not in self._markers_seen:
            assert time.monotonic() < deadline, f"/rosout: no marker line within {timeout:g} s"
            self._node.get_logger().info(marker)
            wait_until = min(deadline, time.monotonic() + 0.5)
            while marker not in self._markers_seen and time.monotonic() < wait_until:
                time.sleep(0.005)

    def matching(self, text, level=None):
        return [m for lv, m in self.lines if text in m and (level is None or lv == level)]

    def wait(self, text, timeout: float = 5.0):
        """The records containing `text`, waiting for the first (AssertionError after timeout)."""
        deadline = time.monotonic() + timeout
        while not self.matching(text) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.matching(text), f"no log line with {text!r}: {self.records}"
        return self.matching(text)


class GatedEstimator:
    """A real estimator whose predict waits for `gate`: a model as slow as the test wants,
    on any machine. `entered` counts predicts begun."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self.gate = threading.Event()
        self.entered = threading.Semaphore(0)

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def predict(self, rgb, fx=None):
        self.entered.release()
        assert self.gate.wait(30), "test never opened the gate"
        return self._inner.predict(rgb, fx=fx)


__all__ = ["harness_factory", "ros_context", "tiny_weights", "qos_profile_sensor_data"]


def save_plane_model(path, depth_m: float = 2.0, max_depth: float = 10.0):
    """A real vitpico metric model whose output is the constant `depth_m` (a fronto-parallel
    plane): the last 1×1 conv has zero weights and bias logit(depth_m / max_depth)."""
    torch.manual_seed(0)
    model = DepthAnything(ModelConfig.preset("vitpico", variant="metric", max_depth=max_depth,
                                             input_size=42))
    last = model.depth_head.scratch.output_conv2[2]
    with torch.no_grad():
        last.weight.zero_()
        p = depth_m / max_depth
        last.bias.fill_(float(np.log(p / (1 - p))))
    save_model(model, path)
    return path


def save_canonical_plane_model(path, depth_m: float = 2.0, focal: float = 0.5,
                               input_size: int = 42):
    """A vitpico metric model trained "in canonical-focal space" (f_c = ``focal``) whose output
    is the constant ``depth_m`` canonical metres (a larger `input_size` makes it slower)."""
    from depth_anything_ros.geometry.focal import CANONICAL

    model = DepthAnything(ModelConfig.preset("vitpico", variant="metric", max_depth=10.0,
                                             input_size=input_size, canonical_focal=focal,
                                             focal_origin=CANONICAL))
    with torch.no_grad():
        last = model.depth_head.scratch.output_conv2[2]
        last.weight.zero_()
        last.bias.fill_(float(np.log(depth_m / 10.0 / (1 - depth_m / 10.0))))
    save_model(model, path)
    return path
