"""The whole depth node against the bare DepthEstimator on the same frames, side by side.

    node_over_bare = (frames out per second of the node) / (frames per second of the bare
                      estimator), each counted as frames *completed inside its own timed window*

The two are measured in alternating phases (bare, node, bare, node, ..., bare), so a shared
machine's load drifts over both alike:

  bare phase  `DepthEstimator.predict` back to back on the frames for --phase seconds:
              frames finished / elapsed;
  node phase  the camera publishes Image + CameraInfo at --rate (default 1.5 × the bare rate,
              i.e. saturated) for --settle + --phase seconds; a frame counts when both its
              depth/image and depth/points have arrived, and only arrivals inside the last
              --phase seconds count (the pipeline is already full at the window's start and
              still busy at its end, so nothing is counted twice or drained into the window).

With --separate-processes the camera, the node (the real `depth_node` executable) and the
subscriber are three processes, as on a robot; otherwise all three share this process (one
GIL). Same weights, backend, threads and frames (real TUM fr1_rpy 640×480 frames when
$DAR_TUM_DIR or ../shared/data has them) for both sides. Latency is camera publish → both
outputs received (CLOCK_MONOTONIC is shared by the processes).

Caveat on a loaded machine: the scheduler shares the CPU per thread, so in the node phase the
three processes together get more of a contended machine than the one bare process does, and
the ratio drifts above its quiet-machine value. `cpu_ms_per_frame` (CPU time per output frame of
each process, vs per bare frame) does not depend on the load: it shows what the node layout costs.

    ROS_DOMAIN_ID=17 python bench/node_throughput.py --separate-processes --json
    python bench/node_throughput.py --separate-processes --backend openvino
    python bench/node_throughput.py --encoder vits --input-size 518 --device cuda
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_LOCALHOST_ONLY", "1")

ROOT = Path(__file__).resolve().parents[1]
TUM = Path(os.environ.get("DAR_TUM_DIR", ROOT / ".." / "shared" / "data" / "tum_fr1_rpy"))
FRAME_ID = "camera_optical_frame"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--separate-processes", action="store_true",
                        help="camera, node and subscriber as three processes")
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    parser.add_argument("--weights", type=Path, default=None,
                        help="model (default: the shipped models/default.safetensors)")
    parser.add_argument("--encoder", default=None,
                        help="instead of --weights: a random metric model of this preset")
    parser.add_argument("--input-size", type=int, default=None, help="network input short side")
    parser.add_argument("--backend", default="torch",
                        choices=("torch", "compile", "onnxruntime", "openvino"))
    parser.add_argument("--precision", default=None, choices=("fp32", "fp16", "bf16"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0,
                        help="inference threads of node and bare alike; 0 = the node's default "
                             "(all cores but one)")
    parser.add_argument("--points-stride", type=int, default=1)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--rate", type=float, default=None,
                        help="camera rate in Hz (default 1.5 × the first bare rate)")
    parser.add_argument("--rounds", type=int, default=3, help="node phases (bare has one more)")
    parser.add_argument("--phase", type=float, default=6.0, help="timed seconds per phase")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds of camera before a node window opens")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 3 s: a smoke run")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="export cache for onnxruntime/openvino (default: a temporary one)")
    parser.add_argument("--role", choices=("camera", "subscriber"), help=argparse.SUPPRESS)
    parser.add_argument("--namespace", default="/bench", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.phase, args.settle = 2, 3.0, 1.5
    return args


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------ frames and weights

def camera_frames(height: int, width: int, count: int = 8) -> list[np.ndarray]:
    """The first `count` TUM fr1_rpy frames (resized if another size is asked), else synthetic."""
    import cv2

    listing = TUM / "rgb.txt"
    if listing.is_file():
        names = [line.split()[1] for line in listing.read_text().splitlines()
                 if line and not line.startswith("#")][:count]
        frames = [cv2.cvtColor(cv2.imread(str(TUM / n)), cv2.COLOR_BGR2RGB) for n in names]
        return [f if f.shape[:2] == (height, width) else cv2.resize(f, (width, height))
                for f in frames]
    rng = np.random.default_rng(0)
    v, u = np.mgrid[0:height, 0:width]
    return [((np.stack([(u + 7 * i) % 256, (v + 3 * i) % 256, (u + v) % 256], -1)
              + rng.integers(0, 32, (height, width, 3))) % 256).astype(np.uint8)
            for i in range(count)]


def weights_path(args: argparse.Namespace, directory: str) -> Path:
    if args.encoder is None:
        from depth_anything_ros.model import default_weights_path

        return args.weights or default_weights_path()
    import torch

    from depth_anything_ros.model import DepthAnything, ModelConfig, save_model

    torch.manual_seed(0)
    config = ModelConfig.preset(args.encoder, variant="metric", max_depth=20.0,
                                input_size=args.input_size or 518)
    path = Path(directory) / f"random_{args.encoder}.safetensors"
    save_model(DepthAnything(config), path, provenance={"bench": "node_throughput"})
    return path


def node_threads(args: argparse.Namespace) -> int:
    from depth_anything_ros.inference.cpus import default_torch_threads

    return args.threads or default_torch_threads()  # the node's torch_threads rule


# ------------------------------------------------------------------------ camera and receiver

def camera_info_msg(width: int, height: int):
    from sensor_msgs.msg import CameraInfo

    f = 0.8 * width
    info = CameraInfo(width=width, height=height, distortion_model="plumb_bob", d=[0.0] * 5)
    info.k = [f, 0.0, (width - 1) / 2, 0.0, f, (height - 1) / 2, 0.0, 0.0, 1.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [f, 0.0, (width - 1) / 2, 0.0, 0.0, f, (height - 1) / 2, 0.0, 0.0, 0.0, 1.0, 0.0]
    info.header.frame_id = FRAME_ID
    return info


class Camera:
    """Publishes reliable Image (rgb8) + CameraInfo at a rate while started; each stamp is the
    CLOCK_MONOTONIC publish time (so receivers in any process can compute latency)."""

    def __init__(self, context, namespace: str, frames: list[np.ndarray]) -> None:
        from rclpy.node import Node
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, Image

        from depth_anything_ros.ros.messages import image_msg

        self.node = Node("bench_camera", namespace=namespace, context=context)
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.node.create_publisher(Image, "image", qos)
        self.info_pub = self.node.create_publisher(CameraInfo, "camera_info", qos)
        height, width = frames[0].shape[:2]
        self.info = camera_info_msg(width, height)
        self.messages = [image_msg(self.info.header, height, width, "rgb8", width * 3, f)
                         for f in frames]
        self.published = 0
        self._rate = 0.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def start(self, rate: float) -> None:
        self._rate = rate
        self._wake.set()

    def pause(self) -> None:
        self._rate = 0.0

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(5)

    def _loop(self) -> None:
        index = 0
        while not self._stop.is_set():
            if self._rate <= 0:
                self._wake.wait(0.05)
                self._wake.clear()
                continue
            start = time.monotonic()
            msg = self.messages[index % len(self.messages)]
            msg.header.stamp.sec, msg.header.stamp.nanosec = int(start), int(start % 1 * 1e9)
            msg.header.frame_id = FRAME_ID
            self.info.header = msg.header
            self.info_pub.publish(self.info)
            self.image_pub.publish(msg)
            self.published += 1
            index += 1
            period = 1.0 / self._rate if self._rate > 0 else 0.05
            time.sleep(max(0.0, start + period - time.monotonic()))


class Receiver:
    """Collects (completion time, latency) of frames whose depth/image and depth/points both
    arrived."""

    def __init__(self, context, namespace: str, on_complete=None) -> None:
        from rclpy.node import Node
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image, PointCloud2

        self.node = Node("bench_subscriber", namespace=namespace, context=context)
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(Image, "depth/image", lambda m: self._got(m, 0), qos)
        self.node.create_subscription(PointCloud2, "depth/points", lambda m: self._got(m, 1), qos)
        self._partial: dict[tuple[int, int], set] = {}
        self._lock = threading.Lock()
        self.completed: list[tuple[float, float]] = []
        self._on_complete = on_complete

    def connected(self) -> bool:
        return all(self.node.count_publishers(self.node.resolve_topic_name(t)) > 0
                   for t in ("depth/image", "depth/points"))

    def _got(self, msg, kind: int) -> None:
        now = time.monotonic()
        key = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        with self._lock:
            seen = self._partial.setdefault(key, set())
            seen.add(kind)
            if len(seen) < 2:
                return
            del self._partial[key]
            entry = (now, now - (key[0] + key[1] * 1e-9))
            self.completed.append(entry)
        if self._on_complete is not None:
            self._on_complete(*entry)


def spin_in_thread(executor) -> threading.Thread:
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    return thread


# ------------------------------------------------------------------------ child processes

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


class SeparateProcesses:
    """The real layout: depth_node, camera and subscriber each in its own process."""

    def __init__(self, args: argparse.Namespace, weights: Path, cache_dir: Path) -> None:
        env = dict(os.environ)
        ns = f"/bench{os.getpid()}"
        me = [sys.executable, str(Path(__file__).resolve()), "--namespace", ns,
              "--width", str(args.width), "--height", str(args.height)]
        node = [str(Path(sys.executable).parent / "depth_node"), "--ros-args", "-r",
                f"__ns:={ns}", "-p", f"weights:={weights}", "-p", f"backend:={args.backend}",
                "-p", f"device:={args.device}", "-p", f"torch_threads:={node_threads(args)}",
                "-p", "input_reliability:=reliable", "-p", f"cache_dir:={cache_dir}",
                "-p", f"points_stride:={args.points_stride}"]
        for name, value in (("input_size", args.input_size), ("precision", args.precision)):
            if value:
                node += ["-p", f"{name}:={value}"]
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
        self.node.proc.send_signal(2)  # SIGINT: the node exits cleanly
        self.node.stop()


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


# ------------------------------------------------------------------------ the measurement

def bare_phase(estimator, frames, seconds: float) -> tuple[int, float, float]:
    """(frames finished, elapsed, CPU seconds) of back-to-back predicts for about `seconds`."""
    done, start, cpu = 0, time.monotonic(), time.process_time()
    while time.monotonic() - start < seconds or done == 0:
        estimator.predict(frames[done % len(frames)])
        done += 1
    return done, time.monotonic() - start, time.process_time() - cpu


def node_phase(system, rate: float, settle: float, seconds: float) -> dict:
    """Frames completed with arrival inside [open, open + seconds] while the camera runs."""
    before = system.published
    system.start(rate)
    time.sleep(settle)
    cpu = getattr(system, "cpu_seconds", dict)()
    opened = time.monotonic()
    time.sleep(seconds)
    closed = time.monotonic()
    cpu = {k: v - cpu[k] for k, v in getattr(system, "cpu_seconds", dict)().items()}
    published = system.pause() - before
    time.sleep(0.5)  # frames in flight finish outside the window (not counted)
    inside = [(t, lat) for t, lat in list(system.completed) if opened <= t <= closed]
    return {"done": len(inside), "window": closed - opened, "published": published,
            "latencies": [lat for _, lat in inside], "cpu": cpu}


def drain(system, quiet_s: float = 1.0, timeout: float = 30.0) -> None:
    """Wait until no output has arrived for `quiet_s` (the node finished its last frame)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = system.completed[-1][0] if system.completed else 0.0
        if time.monotonic() - last > quiet_s:
            return
        time.sleep(0.1)


def main() -> int:
    args = parse_args()
    if args.role:
        return child_main(args)
    import torch

    from depth_anything_ros.inference import DepthEstimator

    from depth_anything_ros.large_buffers import keep_large_buffers

    threads = node_threads(args)
    torch.set_num_threads(threads)
    keep_large_buffers()  # the node does it too: the same allocator on both sides
    frames = camera_frames(args.height, args.width)
    with tempfile.TemporaryDirectory(prefix="node_throughput_") as tmp:
        cache_dir = args.cache_dir or Path(tmp) / "cache"
        weights = weights_path(args, tmp)
        estimator = DepthEstimator.from_weights(
            weights, backend=args.backend, device=args.device, precision=args.precision,
            input_size=args.input_size, cache_dir=cache_dir, threads=threads)
        for frame in frames[:3]:  # warm-up; exports into the cache the node then reuses
            estimator.predict(frame)
        bare_done, bare_time, _ = bare_phase(estimator, frames, min(args.phase, 3.0))
        rate = args.rate or 1.5 * bare_done / bare_time
        log(f"bare {bare_done / bare_time:.2f} fps; camera at {rate:.1f} Hz; starting the node")
        system = (SeparateProcesses(args, weights, cache_dir) if args.separate_processes
                  else OneProcess(args, estimator, frames))
        try:
            system.start(rate)  # warm-up: until outputs flow
            deadline = time.monotonic() + 300
            while not system.completed and time.monotonic() < deadline:
                time.sleep(0.1)
            if not system.completed:
                raise RuntimeError("the node produced nothing within 300 s")
            system.pause()
            drain(system)
            bare = [bare_phase(estimator, frames, args.phase)]
            nodes = []
            for _ in range(args.rounds):
                nodes.append(node_phase(system, rate, args.settle, args.phase))
                drain(system)
                bare.append(bare_phase(estimator, frames, args.phase))
                log(f"  node {nodes[-1]['done'] / nodes[-1]['window']:.2f} fps, bare "
                    f"{bare[-1][0] / bare[-1][1]:.2f} fps")
        finally:
            system.close()
    bare_fps = sum(b[0] for b in bare) / sum(b[1] for b in bare)
    done = sum(n["done"] for n in nodes)
    cpu_ms = {"bare": 1e3 * sum(b[2] for b in bare) / sum(b[0] for b in bare)}
    for name in nodes[0]["cpu"]:
        cpu_ms[name] = 1e3 * sum(n["cpu"][name] for n in nodes) / max(done, 1)
    node_fps = sum(n["done"] for n in nodes) / sum(n["window"] for n in nodes)
    latencies = sorted(lat for n in nodes for lat in n["latencies"])
    published = sum(n["published"] for n in nodes)
    report = {
        "node_over_bare": round(node_fps / bare_fps, 3),
        "node_fps": round(node_fps, 2), "bare_fps": round(bare_fps, 2),
        "per_round_node_over_bare": [
            round((n["done"] / n["window"]) / (b[0] / b[1]), 3) for n, b in zip(nodes, bare)],
        "cpu_ms_per_frame": {k: round(v, 1) for k, v in cpu_ms.items()},
        "camera_hz": round(rate, 2), "published": published,
        **{f"latency_p{q}_ms": (round(1e3 * float(np.percentile(latencies, q)), 1)
                                if latencies else None) for q in (50, 95)},
        "mode": "separate-processes" if args.separate_processes else "one-process",
        "model": f"{estimator.config.encoder} input {estimator.input_size}",
        "weights": str(weights if args.encoder is None else f"random {args.encoder}"),
        "backend": args.backend, "precision": estimator.precision, "threads": threads,
        "frame": f"{args.width}x{args.height}", "points_stride": args.points_stride,
        "rounds": args.rounds, "phase_s": args.phase, "cores": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:>26}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
