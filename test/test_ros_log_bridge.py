"""Library `logging` (model loading, checkpoint notes) reaches /rosout through the node."""
import logging
import threading
import time

import rclpy
from rcl_interfaces.msg import Log
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from ros_helpers import ros_context, tiny_weights  # noqa: F401 — fixtures

from depth_anything_ros.ros.log_bridge import RosLogHandler
from depth_anything_ros.ros.node import DepthNode


def test_model_loading_logs_reach_rosout_and_stop_with_the_node(ros_context, tiny_weights):
    records = []
    probe = rclpy.create_node("rosout_probe", context=ros_context)
    qos = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)  # /rosout keeps a history
    probe.create_subscription(Log, "/rosout", records.append, qos)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(probe)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    node = DepthNode(context=ros_context, namespace="/log_bridge",
                     parameter_overrides=[Parameter("weights", value=str(tiny_weights))])
    try:
        deadline = time.monotonic() + 10
        wanted = "[depth_anything_ros.inference.estimator] loaded "
        while time.monotonic() < deadline:
            mine = [r for r in records if "log_bridge" in r.name and wanted in r.msg]
            if mine:
                break
            time.sleep(0.05)
        assert mine and mine[0].level == Log.INFO and str(tiny_weights) in mine[0].msg
        assert any(isinstance(h, RosLogHandler)
                   for h in logging.getLogger("depth_anything_ros").handlers)
    finally:
        node.destroy_node()
        executor.shutdown(timeout_sec=2.0)
        probe.destroy_node()
    assert not any(isinstance(h, RosLogHandler)
                   for h in logging.getLogger("depth_anything_ros").handlers)


def test_one_helper_logs_warnings_and_errors_alike_through_a_real_rclpy_logger():
    # rclpy raises "Logger severity cannot be changed between calls" when one source line logs
    # at two severities; in the depth worker that killed the thread on its second kind of problem
    from rclpy.logging import get_logger

    from depth_anything_ros.ros.throttled_log import ThrottledLog

    throttled = ThrottledLog(get_logger("severity_probe"), lambda: 60.0)
    assert throttled("warn", "scale", "a warning") and throttled("error", "info", "an error")
    assert throttled("info", "note", "a note") and not throttled("warn", "scale", "again")
    handler = RosLogHandler(get_logger("severity_probe_bridge"))
    errors = []
    handler.handleError = errors.append  # what logging calls when emit raised
    for level in (logging.INFO, logging.WARNING, logging.ERROR):
        handler.emit(logging.LogRecord("depth_anything_ros.x", level, __file__, 1, "m", None,
                                       None))
    assert errors == []


def test_forwarding_lets_info_through_even_where_the_application_had_silenced_it():
    """An application that set our package logger to WARNING before making the node still gets
    the model's loading lines on /rosout; one that asked for DEBUG keeps DEBUG."""
    from rclpy.logging import get_logger

    from depth_anything_ros.ros.log_bridge import forward_library_logs, stop_forwarding

    library = logging.getLogger("depth_anything_ros")
    before = library.level
    try:
        for level, enabled, disabled in ((logging.WARNING, logging.INFO, logging.DEBUG),
                                         (logging.DEBUG, logging.DEBUG, None)):
            library.setLevel(level)
            handler = forward_library_logs(get_logger("level_probe"))
            try:
                assert library.isEnabledFor(enabled)
                assert disabled is None or not library.isEnabledFor(disabled)
            finally:
                stop_forwarding(handler)
    finally:
        library.setLevel(before)
