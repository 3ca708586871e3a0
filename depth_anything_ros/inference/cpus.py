"""How many CPUs this process may really use: its affinity mask and its cgroup's CPU quota.

`os.cpu_count()` counts the machine's cores. In a container limited to 2 CPUs on a 64-core host
(cgroup `cpu.max`), or a process pinned with `taskset`, sizing a thread pool by it oversubscribes
the allowance many times over, and inference slows down instead of speeding up.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")


def usable_cpus(cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_SELF_CGROUP) -> int:
    """min(CPUs in the affinity mask, ceil(cgroup CPU quota)), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        count = len(os.sched_getaffinity(0))
    else:  # not Linux
        count = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_root, proc_cgroup)
    if quota is not None:
        count = min(count, math.ceil(quota))
    return max(1, count)


def cgroup_cpu_quota(cgroup_root: Path = CGROUP_ROOT,
                     proc_cgroup: Path = PROC_SELF_CGROUP) -> float | None:
    """The tightest CPU quota (in CPUs) on this process's cgroup path, v2 `cpu.max` or v1
    `cpu.cfs_quota_us / cpu.cfs_period_us`; None when there is none (or no cgroup fs)."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    limits = []
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "":  # cgroup v2 (unified) hierarchy
            for directory in _up_the_tree(cgroup_root, path):
                limits.append(_v2_limit(directory / "cpu.max"))
        elif "cpu" in controllers.split(","):  # cgroup v1 cpu controller
            for mount in (controllers, "cpu", "cpu,cpuacct", "cpuacct,cpu"):
                if (cgroup_root / mount).is_dir():
                    for directory in _up_the_tree(cgroup_root / mount, path):
                        limits.append(_v1_limit(directory))
                    break
    found = [limit for limit in limits if limit is not None]
    return min(found) if found else None


def _up_the_tree(mount: Path, path: str) -> list[Path]:
    """The cgroup's directory and its ancestors up to the mount point (limits nest)."""
    parts = [p for p in path.strip().split("/") if p]
    return [mount.joinpath(*parts[:n]) for n in range(len(parts), -1, -1)]


def _v2_limit(cpu_max: Path) -> float | None:
    try:
        quota, period = cpu_max.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max" or float(period) <= 0:
        return None
    return float(quota) / float(period)


def _v1_limit(directory: Path) -> float | None:
    try:
        quota = float((directory / "cpu.cfs_quota_us").read_text())
        period = float((directory / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    if quota <= 0 or period <= 0:  # -1 = unlimited
        return None
    return quota / period


def default_torch_threads(cpus: int | None = None) -> int:
    """Inference threads for `torch_threads=0`: the usable CPUs but one (the executor and DDS
    keep a core, so a fast camera cannot back up behind inference), at least 1."""
    return max(1, (usable_cpus() if cpus is None else cpus) - 1)
