"""The `depth_node` executable: one process around one DepthNode, with what a process owns
and a library must not touch (the allocator, signal handlers, exit codes).

`python -m depth_anything_ros.ros.executable` runs it from a source tree never installed.
"""
from __future__ import annotations

import os
import signal
import sys
import threading

import rclpy
from rclpy.executors import SingleThreadedExecutor

from depth_anything_ros.large_buffers import keep_large_buffers
from depth_anything_ros.ros.node import NODE_NAME, STOP_TIMEOUT_S, DepthNode, StartupError


def main(args: list[str] | None = None) -> int:
    """Console script `depth_node`: exit 0 on SIGINT/SIGTERM, 2 with one message if unusable;
    1 when a frame was still in the model `STOP_TIMEOUT_S` after the signal (the process then
    ends without tearing down ROS: DDS peers see it leave), 128 + N on a second
    signal N (the user, or launch escalating, insists).

    Library logging reaches the console and /rosout through the node's logger (log_bridge).
    """
    # The executable's process, not the library's: 4.9 MB clouds serialised in 0.8 ms instead of
    # 10 ms (large_buffers module doc); a DepthNode built inside someone else's process leaves
    # that process's allocator alone.
    keep_large_buffers()
    # Our own handlers for both signals (REFERENCE.md §13: SIGTERM must be handled by the node):
    # they set `stop`, which the spin loop below checks every 0.1 s; while the model loads
    # (minutes for a first export) they abandon the load; a second signal ends the process.
    try:
        from rclpy.signals import SignalHandlerOptions

        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    except ImportError:  # an rclpy without the option: our handlers below replace its SIGINT one
        rclpy.init(args=args)
    stop = threading.Event()
    loading = [True]

    def on_signal(signum, _frame) -> None:
        if stop.is_set():  # a second signal: the user (or launch) insists
            os._exit(128 + signum)
        stop.set()
        if loading[0]:  # the model may take minutes to load or export: abandon it
            raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    logger = rclpy.logging.get_logger(NODE_NAME)
    try:
        node = DepthNode()
        loading[0] = False
    except StartupError as exc:
        logger.fatal(f"cannot start: {exc}")
        rclpy.try_shutdown()
        return 2
    except KeyboardInterrupt:
        logger.info("stopped while starting")
        rclpy.try_shutdown()
        return 0
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    finally:
        joined = node.stop_worker(STOP_TIMEOUT_S)
        if not joined:  # a frame is still in the model: end now, before launch escalates
            logger.info("shutting down (worker did not stop in time)")
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)
        logger.info("shutting down")
        executor.remove_node(node)
        node.destroy_node()
        executor.shutdown()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
