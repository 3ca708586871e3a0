"""The camera and subscriber roles as child processes, driven over a line protocol on
stdin/stdout (`python bench/node_throughput.py --role camera|subscriber`)."""
from __future__ import annotations

import argparse
import queue
import subprocess
import sys
import threading
import time

from node_bench.endpoints import Camera, Receiver, camera_frames, spin_in_thread


def child_main(args: argparse.Namespace) -> int:
    """`--role camera`: commands on stdin ('start RATE', 'pause', 'quit'), 'ready' once the node
    subscribes. `--role subscriber`: 'ready' once connected, then 'done T LATENCY' per frame."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    rclpy.init()
    executor = SingleThreadedExecutor()
    if args.role == "camera":
        camera = Camera(None, args.namespace, camera_frames(args.height, args.width))
        executor.add_node(camera.node)
        spin_in_thread(executor)
        while camera.image_pub.get_subscription_count() == 0:
            time.sleep(0.05)
        print("ready", flush=True)
        for line in sys.stdin:
            words = line.split()
            if words[:1] == ["start"]:
                camera.start(float(words[1]))
            elif words[:1] == ["pause"]:
                camera.pause()
                print(f"published {camera.published}", flush=True)
            elif words[:1] == ["quit"]:
                break
        camera.close()
    else:
        receiver = Receiver(None, args.namespace,
                            on_complete=lambda t, lat: print(f"done {t:.6f} {lat:.6f}",
                                                             flush=True))
        executor.add_node(receiver.node)
        spin_in_thread(executor)
        while not receiver.connected():
            time.sleep(0.05)
        print("ready", flush=True)
        sys.stdin.read()  # until the orchestrator closes our stdin
    executor.shutdown(timeout_sec=2.0)
    rclpy.try_shutdown()
    return 0


class Child:
    """A child process with line-based stdout collected by a thread."""

    def __init__(self, argv: list[str], name: str, env: dict) -> None:
        self.name = name
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env, bufsize=1)
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.log.append(line)
            self.lines.put(line.rstrip("\n"))

    def send(self, text: str) -> None:
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def expect(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if line.startswith(prefix):
                return line
        raise RuntimeError(f"{self.name}: no '{prefix}' within {timeout:.0f} s; output:\n"
                           + "".join(self.log[-40:]))

    def stop(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(5)
