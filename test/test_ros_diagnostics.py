"""The node's own /diagnostics status: latency statistics and the level rules."""
import math

from diagnostic_msgs.msg import DiagnosticStatus

from depth_anything_ros.ros.diagnostics import NodeStats, RateMeter, diagnostic_status


def test_a_frame_stamped_zero_leaves_the_latency_statistics_alone():
    # A driver that does not stamp gives a "latency" of the whole epoch (56 years); one such
    # frame used to set latency_p95 for the next 200 frames.
    stats = NodeStats()
    for _ in range(10):
        stats.frame_out(0.05, 0.02)
    stats.frame_out(None, 0.02)
    summary = stats.summary()
    assert summary["frames_published"] == 11
    assert math.isclose(summary["latency_p95_ms"], 50.0)
    assert math.isnan(NodeStats().summary()["latency_p50_ms"])


def test_depth_without_its_focal_correction_is_a_warning():
    stats = NodeStats()
    stats.frame_out(0.05, 0.02)
    ok = diagnostic_status("n", "cpu", stats.summary(), 0, 1, {})
    warn = diagnostic_status("n", "cpu", stats.summary(), 0, 1, {}, uncorrected_focal=True)
    assert ok.level == DiagnosticStatus.OK
    assert warn.level == DiagnosticStatus.WARN and "not focal-corrected" in warn.message


def test_rates_count_intervals_in_the_window_and_decay_once_frames_stop():
    meter = RateMeter(window_s=5.0)
    for t in (0.0, 0.5, 1.0):  # three frames, two intervals, in one second
        meter.tick(t)
    assert meter.rate(now=1.0) == 2.0
    assert meter.rate(now=5.5) == 0.2  # the frame at 0.0 left the window: 1 interval in 5 s
    assert meter.rate(now=6.1) == 0.0  # none left in the window: no rate


def test_images_arriving_without_depth_going_out_is_a_warning():
    stats = NodeStats()
    for _ in range(5):
        stats.frame_in()
    summary = stats.summary()
    assert summary["input_rate_hz"] > 0 and summary["output_rate_hz"] == 0.0
    status = diagnostic_status("n", "cpu", summary, 0, 5, {})
    assert status.level == DiagnosticStatus.WARN
    assert status.message == "images arrive but no depth is published"


def test_a_lazy_node_without_subscribers_is_ok_not_a_warning():
    """Images arrive, nothing is published because nobody listens (lazy): not a fault."""
    stats = NodeStats()
    for _ in range(5):
        stats.frame_in()
    status = diagnostic_status("n", "cpu", stats.summary(), 0, 5, {}, idle=True)
    assert status.level == DiagnosticStatus.OK and status.message.startswith("idle")
