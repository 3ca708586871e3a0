"""The two set-ups the node is measured in, behind one interface (start, pause, completed,
published, close): three processes as on a robot, or all in this process (one GIL)."""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

from node_bench.children import Child
from node_bench.endpoints import Camera, Receiver, spin_in_thread

from depth_anything_ros.demo.node_process import depth_node_command, stop_depth_node


class SeparateProcesses:
    """The real layout: depth_node, camera and subscriber each in its own process."""

    def __init__(self, args: argparse.Namespace, weights: Path, cache_dir: Path, threads: int,
                 script: Path) -> None:
        """`script`: the benchmark to re-run as `--role camera|subscriber`."""
        env = dict(os.environ)
        ns = f"/bench{os.getpid()}"
        me = [sys.executable, str(script), "--namespace", ns,
              "--width", str(args.width), "--height", str(args.height)]
        parameters = {"weights": weights, "backend": args.backend, "device": args.device,
                      "torch_threads": threads, "input_reliability": "reliable",
                      "cache_dir": cache_dir, "points_stride": args.points_stride}
        for name, value in (("input_size", args.input_size), ("precision", args.precision)):
            if value:
                parameters[name] = value
        node = depth_node_command(parameters) + ["-r", f"__ns:={ns}"]
        self.node = Child(node, "depth_node", env)
        self.subscriber = Child(me + ["--role", "subscriber"], "subscriber", env)
        self.camera = Child(me + ["--role", "camera"], "camera", env)
        self.subscriber.expect("ready", 120)
        self.camera.expect("ready", 120)
        self.completed: list[tuple[float, float]] = []
        self.published = 0
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        while True:
            line = self.subscriber.lines.get()
            if line.startswith("done "):
                _, t, latency = line.split()
                self.completed.append((float(t), float(latency)))

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system, all threads) used so far by each child process."""
        ticks = os.sysconf("SC_CLK_TCK")
        used = {}
        for child in (self.node, self.camera, self.subscriber):
            fields = Path(f"/proc/{child.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            used[child.name] = (int(fields[11]) + int(fields[12])) / ticks
        return used

    def start(self, rate: float) -> None:
        self.camera.send(f"start {rate}")

    def pause(self) -> int:
        """Stop the camera; its total of published frames."""
        self.camera.send("pause")
        self.published = int(self.camera.expect("published", 30).split()[1])
        return self.published

    def close(self) -> None:
        self.camera.send("quit")
        for child in (self.camera, self.subscriber):
            child.stop()
        stop_depth_node(self.node.proc)  # SIGINT first: the node exits cleanly


class OneProcess:
    """Camera, node and subscriber in this process (the node around the bare estimator)."""

    def __init__(self, args: argparse.Namespace, estimator, frames) -> None:
        import rclpy
        from rclpy.executors import MultiThreadedExecutor
        from rclpy.parameter import Parameter

        from depth_anything_ros.ros.node import DepthNode

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        ns = f"/bench{os.getpid()}"
        overrides = [Parameter("publish_points", value=True),
                     Parameter("points_stride", value=args.points_stride)]
        self.depth_node = DepthNode(estimator=estimator, context=self.context, namespace=ns,
                                    parameter_overrides=overrides)
        self.camera = Camera(self.context, ns, frames)
        self.receiver = Receiver(self.context, ns)
        self.completed = self.receiver.completed
        self.executor = MultiThreadedExecutor(num_threads=2, context=self.context)
        for node in (self.depth_node, self.camera.node, self.receiver.node):
            self.executor.add_node(node)
        spin_in_thread(self.executor)
        deadline = time.monotonic() + 30
        while not (self.receiver.connected() and self.camera.image_pub.get_subscription_count()):
            if time.monotonic() > deadline:
                raise RuntimeError("DDS discovery did not complete in 30 s")
            time.sleep(0.05)

    def start(self, rate: float) -> None:
        self.camera.start(rate)

    @property
    def published(self) -> int:
        return self.camera.published

    def pause(self) -> int:
        self.camera.pause()
        return self.camera.published

    def close(self) -> None:
        self.camera.close()
        self.depth_node.stop_worker()
        self.executor.shutdown(timeout_sec=2.0)
        self.context.try_shutdown()
