"""`keep_large_buffers` (node and CLI): a 4.9 MB cloud, serialised again and again, stops page-faulting."""
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = r"""
import array, resource, sys
from rclpy.serialization import serialize_message
from sensor_msgs.msg import PointCloud2
from depth_anything_ros.large_buffers import keep_large_buffers
if sys.argv[1] == "keep":
    assert keep_large_buffers()
cloud = PointCloud2(height=480, width=640, point_step=16, row_step=16 * 640)
cloud.data = array.array("B", bytes(640 * 480 * 16))
serialize_message(cloud)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    serialize_message(cloud)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""


def faults_per_cloud(mode: str) -> float:
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    return float(done.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning")
def test_a_large_cloud_is_serialised_without_fresh_pages_once_buffers_are_kept():
    # stock glibc: every 4.9 MB buffer is a fresh mmap → ~1,200 faults each (two per message)
    assert faults_per_cloud("stock") > 1000
    assert faults_per_cloud("keep") < 50
