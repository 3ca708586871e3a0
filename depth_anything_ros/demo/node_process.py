"""The real ``depth_node`` as a child process: started on a private DDS domain, stopped politely.

The node runs in its own session (process group), so a Ctrl-C in the terminal reaches only the
demo, which then forwards SIGINT to the node and waits for its clean exit; if the demo itself
dies, the kernel sends the node SIGTERM (PR_SET_PDEATHSIG), so no orphan keeps computing.
"""
from __future__ import annotations

import ctypes
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

# Domains the demo picks from when ROS_DOMAIN_ID is not set: away from 0 (everyone's default),
# and no higher than 101: DDS derives its UDP ports from the id (7400 + 250·id + …), and above
# 101 they reach Linux's ephemeral port range (32768+), where another socket may hold them (the
# ROS 2 docs, "The ROS_DOMAIN_ID").
DEMO_DOMAIN_RANGE = (1, 101)
_PR_SET_PDEATHSIG = 1


def demo_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for the demo's DDS traffic: localhost only, a domain of its own.

    An explicit ``ROS_DOMAIN_ID`` is respected; otherwise one is drawn at random so two demos (or
    a demo and a test run) on one machine do not hear each other.
    """
    env = dict(os.environ if base is None else base)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["ROS_LOCALHOST_ONLY"] = "1"  # Humble reads only this one (REFERENCE.md §13)
    if not env.get("ROS_DOMAIN_ID", "").strip():
        env["ROS_DOMAIN_ID"] = str(random.randint(*DEMO_DOMAIN_RANGE))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def depth_node_command(parameters: Mapping[str, object]) -> list[str]:
    """argv for the installed ``depth_node`` console script with ``-p name:=value`` overrides.

    The script next to this interpreter is preferred (the venv's), then PATH, then
    ``python -m depth_anything_ros.ros.executable`` for a source tree that was never installed.
    """
    here = Path(sys.executable).parent / "depth_node"
    script = str(here) if here.exists() else shutil.which("depth_node")
    argv = [script] if script else [sys.executable, "-m", "depth_anything_ros.ros.executable"]
    if parameters:
        argv.append("--ros-args")
        for name, value in parameters.items():
            argv += ["-p", f"{name}:={_param_text(value)}"]
    return argv


def _param_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the demo's own shutdown path still stops the node


def start_depth_node(
    parameters: Mapping[str, object], env: Mapping[str, str], log_path: Path
) -> subprocess.Popen:
    """Start the node with stdout and stderr going to ``log_path``."""
    argv = depth_node_command(parameters)
    log.info("starting %s", " ".join(argv))
    with open(log_path, "wb") as log_file:
        return subprocess.Popen(
            argv,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )


def stop_depth_node(process: subprocess.Popen, timeout_s: float = 15.0) -> int:
    """SIGINT (what Ctrl-C would send), then SIGTERM, then SIGKILL; returns the exit status."""
    for sig, wait_s in ((signal.SIGINT, timeout_s), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        if process.poll() is not None:
            break
        if sig != signal.SIGINT:
            log.warning("depth_node did not stop after SIGINT; sending %s", sig.name)
        try:
            process.send_signal(sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
    return process.wait()


def log_tail(path: Path, lines: int = 15) -> str:
    """The last lines of the node's log, for error messages."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])
