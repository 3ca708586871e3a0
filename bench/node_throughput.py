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
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")  # before rclpy loads
os.environ.setdefault("ROS_LOCALHOST_ONLY", "1")

from node_bench.children import child_main  # noqa: E402 (bench/ is sys.path[0])
from node_bench.endpoints import camera_frames  # noqa: E402
from node_bench.layouts import OneProcess, SeparateProcesses  # noqa: E402
from node_bench.phases import bare_phase, drain, node_phase  # noqa: E402


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
    parser.add_argument("--backend", default="auto",
                        choices=("auto", "torch", "compile", "torchscript", "onnxruntime",
                                 "openvino"),
                        help="both sides alike (default auto: what the node runs when nobody "
                             "names one; torchscript on the CPU)")
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
            input_size=args.input_size, cache_dir=cache_dir, threads=threads,
            streaming=True)  # as the node loads it: backend auto picks alike on both sides
        for frame in frames[:3]:  # warm-up; exports into the cache the node then reuses
            estimator.predict(frame)
        bare_done, bare_time, _ = bare_phase(estimator, frames, min(args.phase, 3.0))
        rate = args.rate or 1.5 * bare_done / bare_time
        log(f"bare {bare_done / bare_time:.2f} fps; camera at {rate:.1f} Hz; starting the node")
        system = (SeparateProcesses(args, weights, cache_dir, threads, Path(__file__).resolve())
                  if args.separate_processes else OneProcess(args, estimator, frames))
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
        "backend": estimator.backend, "precision": estimator.precision, "threads": threads,
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
