"""The node's own /diagnostics status: latency statistics and the level rules."""
import math

from diagnostic_msgs.msg import DiagnosticStatus

from depth_anything_ros.ros.diagnostics import NodeStats, diagnostic_status


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
