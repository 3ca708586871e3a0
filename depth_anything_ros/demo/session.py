"""One demo run, start to finish: node up, warm-up, measured run, drain, node down.

The phases are separate so each failure has its own message: the node never starting (or
dying) is a :class:`DemoError`; a Ctrl-C at any point ends the phase early and the run is
reported with what was collected (``interrupted`` set). rclpy is initialised on a private
context with its signal handlers off, because SIGINT belongs to the command, which forwards it
to the node at the end.
"""
from __future__ import annotations

import logging
import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from depth_anything_ros.demo.frames import DEFAULT_HFOV_DEG, DemoFrame, render_demo_frames
from depth_anything_ros.demo.node_process import (
    demo_environment,
    depth_node_command,
    log_tail,
    start_depth_node,
    stop_depth_node,
)

log = logging.getLogger(__name__)

POLL_S = 0.05
# After the last frame: how long without any new depth image before we stop waiting.
DRAIN_QUIET_S = 2.0
DRAIN_MAX_S = 15.0


class DemoError(RuntimeError):
    """The demo could not run: the node failed to start, died, or produced nothing."""


@dataclass
class DemoOptions:
    duration_s: float
    rate_hz: float
    width: int
    height: int
    node_parameters: dict[str, object]
    scene: str = "indoor"
    scene_index: int = 0
    hfov_deg: float = DEFAULT_HFOV_DEG
    startup_timeout_s: float = 120.0


@dataclass
class DemoRun:
    """Everything the report needs, collected by :func:`run_demo`."""

    options: DemoOptions
    frames: list[DemoFrame]
    camera_stats: dict
    recorder_stats: dict
    preview: tuple | None
    node_command: list[str]
    node_exit_code: int | None
    node_log: str
    ros_domain_id: str
    startup_s: float | None
    run_s: float | None
    interrupted: bool
    failure: str | None = None
    timings: dict = field(default_factory=dict)


def _node_failure(process: subprocess.Popen, log_path: Path, what: str) -> DemoError:
    tail = log_tail(log_path)
    return DemoError(f"depth_node {what} (exit status {process.returncode})"
                     + (f"; its last output:\n{tail}" if tail else "; it printed nothing"))


def run_demo(options: DemoOptions, stop: threading.Event) -> DemoRun:
    """Run the node and the synthetic camera; ``stop`` (set on Ctrl-C) ends the run early.

    Raises :class:`DemoError` when the node exits or stays silent during start-up.
    """
    env = demo_environment()
    # rclpy in this process must join the same private, localhost-only domain as the node.
    os.environ["ROS_DOMAIN_ID"] = env["ROS_DOMAIN_ID"]
    for name in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_LOCALHOST_ONLY"):
        os.environ[name] = env[name]
    with tempfile.TemporaryDirectory(prefix="depth_anything_demo_") as tmp:
        log_path = Path(tmp) / "depth_node.log"
        started = time.monotonic()
        process = start_depth_node(options.node_parameters, env, log_path)
        try:
            return _run_with_node(options, stop, env, process, log_path, started)
        finally:
            if process.poll() is None:  # only on an unexpected exception: never leave it running
                stop_depth_node(process)


def _run_with_node(options, stop, env, process, log_path, started) -> DemoRun:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    from depth_anything_ros.demo.camera import SyntheticCamera
    from depth_anything_ros.demo.recorder import DepthRecorder

    num_frames = max(1, int(round(options.duration_s * options.rate_hz)))
    log.info("rendering %d frames of the %s scene (%dx%d) while depth_node starts",
             num_frames, options.scene, options.width, options.height)
    t0 = time.monotonic()
    frames = render_demo_frames(num_frames, options.width, options.height,
                                rate_hz=options.rate_hz, scene=options.scene,
                                scene_index=options.scene_index, hfov_deg=options.hfov_deg,
                                should_stop=stop.is_set)
    render_s = time.monotonic() - t0
    if process.poll() is not None:
        raise _node_failure(process, log_path, "exited during start-up")

    context = rclpy.Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    executor = SingleThreadedExecutor(context=context)
    camera = SyntheticCamera(frames, options.rate_hz, context=context)
    recorder = DepthRecorder(frames, camera.frame_for_stamp, camera.warmup_stamp, context=context)
    executor.add_node(camera)
    executor.add_node(recorder)
    spinner = threading.Thread(target=executor.spin, name="demo-executor", daemon=True)
    spinner.start()
    startup_s = run_s = None
    failure = None
    exit_code = None
    try:
        # Warm-up: frame 0 over and over until the first depth image comes back.
        log.info("waiting for depth_node (ROS_DOMAIN_ID=%s) to load its model", env["ROS_DOMAIN_ID"])
        while not recorder.first_output.is_set():
            if stop.is_set():
                break
            if process.poll() is not None:
                raise _node_failure(process, log_path, "exited during start-up")
            if time.monotonic() - started > options.startup_timeout_s:
                raise DemoError(
                    f"no depth/image from depth_node within {options.startup_timeout_s:.0f} s "
                    f"of starting it; its last output:\n{log_tail(log_path)}")
            time.sleep(POLL_S)
        if recorder.first_output.is_set():
            startup_s = time.monotonic() - started
            log.info("depth_node answered after %.1f s; recording %.0f s of camera motion",
                     startup_s, options.duration_s)
        # The measured run: every frame once, at the camera rate.
        run_started = time.monotonic()
        if not stop.is_set():
            camera.start_run()
            while not camera.finished.is_set() and not stop.is_set():
                if process.poll() is not None:
                    failure = str(_node_failure(process, log_path, "died during the run"))
                    break
                time.sleep(POLL_S)
            camera.stop()
            _drain(recorder, camera, process, stop)
            run_s = time.monotonic() - run_started
    finally:
        camera.stop()
        exit_code = stop_depth_node(process)
        executor.shutdown(timeout_sec=2.0)
        spinner.join(timeout=5.0)
        camera_stats, recorder_stats = camera.snapshot(), recorder.snapshot()
        preview = recorder.preview_sample()
        camera.destroy_node()
        recorder.destroy_node()
        context.try_shutdown()
    return DemoRun(
        options=options, frames=frames, camera_stats=camera_stats, recorder_stats=recorder_stats,
        preview=preview, node_command=depth_node_command(options.node_parameters),
        node_exit_code=exit_code, node_log=log_path.read_text(errors="replace"),
        ros_domain_id=env["ROS_DOMAIN_ID"], startup_s=startup_s, run_s=run_s,
        interrupted=stop.is_set(), failure=failure, timings={"render_s": render_s},
    )


def _drain(recorder, camera, process, stop: threading.Event) -> None:
    """Wait for outputs still in flight: until the last frame's depth image, camera_info and
    cloud have all arrived, or nothing new came for DRAIN_QUIET_S (e.g. publish_points off)."""
    last_stamp = camera.last_run_stamp()
    deadline = time.monotonic() + DRAIN_MAX_S
    last_count, last_change = -1, time.monotonic()
    while time.monotonic() < deadline and not stop.is_set() and process.poll() is None:
        if last_stamp is None or recorder.has_all_outputs(last_stamp):
            return
        count = recorder.output_count()
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        elif time.monotonic() - last_change > DRAIN_QUIET_S:
            return
        time.sleep(POLL_S)
