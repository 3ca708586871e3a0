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
