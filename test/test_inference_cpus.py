"""`torch_threads: 0` sizes inference by the CPUs the process may use, not the machine's cores."""
import os
import subprocess
import sys

import pytest

from depth_anything_ros.inference.cpus import cgroup_cpu_quota, default_torch_threads, usable_cpus


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# the leaf unlimited, or looser than its slice: a service may set 4 CPUs inside a slice capped
# at 1.5; the kernel enforces the slice's cap, so sizing threads by the leaf would oversubscribe
@pytest.mark.parametrize("leaf", ["max 100000\n", "400000 100000\n"])
def test_cgroup_v2_quota_is_the_tightest_cpu_max_on_the_path(tmp_path, leaf):
    root = tmp_path / "cgroup"
    write(root / "cpu.max", "max 100000\n")
    write(root / "robot.slice" / "cpu.max", "150000 100000\n")
    write(root / "robot.slice" / "depth.service" / "cpu.max", leaf)
    proc = tmp_path / "self_cgroup"
    proc.write_text("0::/robot.slice/depth.service\n")
    assert cgroup_cpu_quota(root, proc) == 1.5
    assert usable_cpus(root, proc) == min(len(os.sched_getaffinity(0)), 2)


def test_cgroup_v1_cfs_quota(tmp_path):
    root = tmp_path / "cgroup"
    write(root / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us", "50000\n")
    write(root / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_period_us", "100000\n")
    write(root / "cpu,cpuacct" / "cpu.cfs_quota_us", "-1\n")
    write(root / "cpu,cpuacct" / "cpu.cfs_period_us", "100000\n")
    proc = tmp_path / "self_cgroup"
    proc.write_text("5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n")
    assert cgroup_cpu_quota(root, proc) == 0.5
    assert usable_cpus(root, proc) == 1


def test_a_quota_at_the_cgroup_mount_root_is_found(tmp_path):
    # Docker --cpus 2 with a private cgroup namespace: the process sits at "0::/" and the
    # limit is the mount root's own cpu.max.
    root = tmp_path / "cgroup"
    write(root / "cpu.max", "200000 100000\n")
    proc = tmp_path / "self_cgroup"
    proc.write_text("0::/\n")
    assert cgroup_cpu_quota(root, proc) == 2.0
    assert usable_cpus(root, proc) == min(len(os.sched_getaffinity(0)), 2)


def test_no_quota_and_no_cgroup_filesystem_mean_no_limit(tmp_path):
    proc = tmp_path / "self_cgroup"
    proc.write_text("0::/\n")
    write(tmp_path / "cgroup" / "cpu.max", "max 100000\n")
    assert cgroup_cpu_quota(tmp_path / "cgroup", proc) is None
    assert cgroup_cpu_quota(tmp_path / "none", tmp_path / "missing") is None


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs a machine with 2 or more cores")
def test_a_process_pinned_to_one_cpu_counts_one():
    code = ("import os; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]}); "
            "from depth_anything_ros.inference.cpus import usable_cpus, default_torch_threads; "
            "print(usable_cpus(), default_torch_threads(), os.cpu_count())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[:2] == ["1", "1"] and int(out[2]) >= 2
    assert default_torch_threads(cpus=8) == 7 and default_torch_threads(cpus=1) == 1
