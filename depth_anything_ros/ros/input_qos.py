"""Input subscriptions whose reliability matches the topic's publishers (`input_reliability`).

A BEST_EFFORT subscription accepts every publisher, but over Fast DDS's default transports it
loses fragments of large messages: a reliable 640×480 rgb8 camera at 10 Hz gave depth for 32 of
150 frames that way, and 150 of 150 with a RELIABLE subscription (REFERENCE.md §14). A RELIABLE
subscription, in turn, never matches a best-effort (sensor-data) publisher. So, as rosbag2 does,
`auto` subscribes RELIABLE when every publisher of the topic is reliable and BEST_EFFORT
otherwise, and looks again every `RECHECK_PERIOD_S`: a publisher appearing (or leaving) that
changes the answer recreates the subscription. Durability follows the same rule: TRANSIENT_LOCAL
when every publisher is (a static camera_info sent once, latched, before the node started; a
VOLATILE subscription never gets it), VOLATILE otherwise (a TRANSIENT_LOCAL one would not match
volatile publishers, and each of them would log "incompatible QoS").
"""
from __future__ import annotations

import threading
import time
from collections import deque

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

RECHECK_PERIOD_S = 0.25
OVERLAP_MIN_S = 1.0  # old and new subscription overlap at least this long after a switch
RETIRE_AFTER_S = 2.0  # where rclpy cannot count matched publishers (Humble)


def qos_profile(reliability: str, depth: int, latched: bool = False) -> QoSProfile:
    """KEEP_LAST `depth`, the given reliability; VOLATILE (matches any publisher durability)
    unless `latched` (TRANSIENT_LOCAL: also what latched publishers sent before)."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=depth,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
        reliability=(ReliabilityPolicy.RELIABLE if reliability == "reliable"
                     else ReliabilityPolicy.BEST_EFFORT))


def all_latched(publisher_durabilities: list) -> bool:
    """True when there are publishers and every one is TRANSIENT_LOCAL."""
    return bool(publisher_durabilities) and all(
        d == DurabilityPolicy.TRANSIENT_LOCAL for d in publisher_durabilities)


def matching_reliability(publisher_reliabilities: list) -> str:
    """"reliable" when there are publishers and all are RELIABLE, else "best_effort"."""
    if publisher_reliabilities and all(r == ReliabilityPolicy.RELIABLE
                                       for r in publisher_reliabilities):
        return "reliable"
    return "best_effort"


class MatchedSubscription:
    """One input subscription; with mode "auto" it follows the publishers' reliability.

    A switch is make-before-break: the new subscription is created first and the old one kept
    until the new one has matched the publishers (or `RETIRE_AFTER_S` passed), so no frame is
    lost in the change; while both exist, a message with a header (stamp, frame_id) already
    delivered is dropped.
    """

    def __init__(self, node, msg_type, topic: str, callback, depth: int, mode: str) -> None:
        self._node = node
        self._msg_type = msg_type
        self.topic = topic
        self._callback = callback
        self._depth = depth
        self.mode = mode
        self.publishers = 0
        self.reliability, self.latched = self._wanted() if mode == "auto" else (mode, False)
        self._subscription = self._create(self.reliability, self.latched)
        self._retiring = None  # (old subscription, monotonic time of the switch)
        self._lock = threading.Lock()
        self._recent: deque | None = None  # headers delivered while two subscriptions overlap
        if mode == "auto":
            self._timer = node.create_timer(RECHECK_PERIOD_S, self.recheck)

    def _create(self, reliability: str, latched: bool):
        return self._node.create_subscription(self._msg_type, self.topic, self._deliver,
                                              qos_profile(reliability, self._depth, latched))

    def _deliver(self, msg) -> None:
        with self._lock:
            recent = self._recent
            stamp = msg.header.stamp
            # a stamp of zero (a driver that does not stamp) identifies nothing: such frames
            # pass, at worst twice while two subscriptions overlap (the mailbox keeps one)
            if recent is not None and (stamp.sec or stamp.nanosec):
                key = (stamp.sec, stamp.nanosec, msg.header.frame_id)
                if key in recent:
                    return
                recent.append(key)
        self._callback(msg)

    def _wanted(self) -> tuple[str, bool]:
        """(reliability, latched) matching the topic's publishers now."""
        infos = self._node.get_publishers_info_by_topic(self.topic)
        self.publishers = len(infos)
        return (matching_reliability([info.qos_profile.reliability for info in infos]),
                all_latched([info.qos_profile.durability for info in infos]))

    def _retire_old(self) -> None:
        old, since = self._retiring
        # The new reader has matched the publishers (rclpy ≥ Iron can tell) and the writers
        # had a moment to match it too; without that count, a fixed grace period.
        count = getattr(self._subscription, "get_publisher_count", None)
        age = time.monotonic() - since
        matched = count is not None and count() >= self.publishers and age >= OVERLAP_MIN_S
        if matched or age > RETIRE_AFTER_S:
            self._node.destroy_subscription(old)
            self._retiring = None
            with self._lock:
                self._recent = None

    def recheck(self) -> bool:
        """Switch to the other reliability or durability if the publishers now call for it."""
        if self._retiring is not None:
            self._retire_old()
        wanted, latched = self._wanted()
        if (wanted, latched) == (self.reliability, self.latched):
            return False
        if self._retiring is not None:  # a second change before the first settled
            self._node.destroy_subscription(self._retiring[0])
        with self._lock:
            self._recent = deque(maxlen=64)
        new = self._create(wanted, latched)
        self._retiring = (self._subscription, time.monotonic())
        self._subscription, self.reliability, self.latched = new, wanted, latched
        self._node.get_logger().info(
            f"{self._node.resolve_topic_name(self.topic)}: subscribing {self._qos_name()} to "
            f"match {self.publishers} publisher(s) (input_reliability auto)")
        return True

    @property
    def settled(self) -> bool:
        """No switch in progress (one subscription)."""
        return self._retiring is None

    def _qos_name(self) -> str:
        return self.reliability + (", transient_local" if self.latched else "")

    def describe(self) -> str:
        if self.mode != "auto":
            return self.reliability
        return f"{self._qos_name()} (auto: {self.publishers} publisher(s))"
