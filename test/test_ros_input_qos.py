"""`MatchedSubscription` over real DDS: a reliability switch overlaps two subscriptions, and
what it drops as duplicates while they overlap."""
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_helpers import make_image, random_rgb, ros_context  # noqa: F401 — fixtures
from sensor_msgs.msg import Image

from depth_anything_ros.ros.input_qos import MatchedSubscription


def _switched(ros_context, topic):
    """A node whose auto subscription has just switched to a reliable camera (both
    subscriptions alive), that camera's publisher, an executor, and what was delivered."""
    node = rclpy.create_node("qos_probe", context=ros_context)
    delivered = []
    sub = MatchedSubscription(node, Image, topic, delivered.append, 10, "auto")
    sub._timer.cancel()  # the test switches by hand, and keeps both subscriptions as long as it needs
    assert sub.reliability == "best_effort"  # no publisher yet: sensor data is the safe guess
    pub = node.create_publisher(Image, topic, QoSProfile(
        depth=10, reliability=ReliabilityPolicy.RELIABLE))
    assert sub.recheck() and not sub.settled
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    deadline = time.monotonic() + 10
    while pub.get_subscription_count() < 2:  # both subscriptions matched
        assert time.monotonic() < deadline, "subscriptions not matched"
        executor.spin_once(timeout_sec=0.05)
    return node, sub, pub, executor, delivered


def _send(pub, executor, delivered, stamps, settle_s=1.0):
    rgb = random_rgb()
    for stamp in stamps:
        pub.publish(make_image(rgb, stamp=stamp))
        executor.spin_once(timeout_sec=0.05)
    deadline = time.monotonic() + settle_s
    while time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)


def test_while_two_subscriptions_overlap_stamped_duplicates_go_and_unstamped_frames_pass(
        ros_context):
    node, sub, pub, executor, delivered = _switched(ros_context, "/qos_probe/image")
    try:
        stamped = [(300, i) for i in range(8)]
        _send(pub, executor, delivered, stamped)
        assert sorted((m.header.stamp.sec, m.header.stamp.nanosec) for m in delivered) == stamped
        assert not sub.settled  # both subscriptions delivered: the dedupe kept them unique
        delivered.clear()
        # hardware-synchronised stereo on one topic: equal stamps, two frame_ids, no copies
        rgb = random_rgb()
        for i in range(4):
            for frame_id in ("left", "right"):
                pub.publish(make_image(rgb, frame_id=frame_id, stamp=(301, i)))
        _send(pub, executor, delivered, [])
        assert sorted((m.header.stamp.nanosec, m.header.frame_id) for m in delivered) == [
            (i, side) for i in range(4) for side in ("left", "right")]
        delivered.clear()
        # a driver that does not stamp: every frame is (0, 0); none may be taken for a copy
        _send(pub, executor, delivered, [(0, 0)] * 8)
        assert 8 <= len(delivered) <= 16
        assert not sub.settled
    finally:
        executor.shutdown()
        node.destroy_node()


def test_durability_is_transient_local_only_when_every_publisher_is():
    """A TRANSIENT_LOCAL subscription gets a latched camera_info sent before the node started,
    but matches no volatile publisher: so only when all of them are latched."""
    from rclpy.qos import DurabilityPolicy

    from depth_anything_ros.ros.input_qos import all_latched

    latched, volatile = DurabilityPolicy.TRANSIENT_LOCAL, DurabilityPolicy.VOLATILE
    assert all_latched([latched, latched])
    assert not all_latched([latched, volatile]) and not all_latched([])
