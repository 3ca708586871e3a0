"""`depth-anything-ros bags` with 1 process vs N processes (torchrun), on the same bags and model.

    python bench/bags_throughput.py [--bags 4] [--frames 24] [--encoder vitpico] [--input-size 518]
                                    [--nproc 2] [--repeats 2] [--points-stride 2] [--device cpu]

Builds `--bags` bags of `--frames` synthetic 640×480 rgb8 frames (+ CameraInfo, `bench/
bag_throughput.py`'s frames) and a random metric model, then runs the real command:

  1 process   depth-anything-ros bags IN OUT ...       torch threads = all cores, and = cores / N
  N processes torchrun --standalone --nproc_per_node N --no-python depth-anything-ros bags ...
              torch threads = cores / N per process (OMP_NUM_THREADS; torchrun's default is 1)

and prints frames/s of each: "run" from summary.json (the bags themselves: from the first bag
to the last, without start-up) and "wall" (the whole command: interpreter, torch import, model
load, rendezvous). The runs alternate (1, N, 1, N, ...) so a load change on a shared machine
hits both; each figure is the best of --repeats.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bag_throughput import TOPIC, build_bag  # noqa: E402

BIN = Path(sys.executable).parent


def run_bags(src: Path, out: Path, weights: Path, nproc: int, threads: int,
             extra: list[str]) -> tuple[float, float, int]:
    """(run seconds from summary.json, wall seconds, frames written) of one command."""
    command = ["depth-anything-ros", "bags", str(src), str(out), "--image-topic", TOPIC,
               "--weights", str(weights), "--quiet", *extra]
    if nproc > 1:
        command = [str(BIN / "torchrun"), "--standalone", "--nproc_per_node", str(nproc),
                   "--no-python", *command]
    else:
        command[0] = str(BIN / "depth-anything-ros")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads),
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr[-4000:]}")
    summary = json.loads((out / "summary.json").read_text())
    return summary["seconds"], wall, summary["frames_written"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bags", type=int, default=4)
    parser.add_argument("--frames", type=int, default=24, help="frames per bag")
    parser.add_argument("--encoder", default="vitpico", help="random-weight preset")
    parser.add_argument("--input-size", type=int, default=518)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--points-stride", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--storage", default="sqlite3", choices=("sqlite3", "mcap"))
    args = parser.parse_args()

    import torch

    from depth_anything_ros.model import DepthAnything, ModelConfig, save_model

    cores = os.cpu_count() or 1
    work = Path(tempfile.mkdtemp(prefix="bags_bench_"))
    try:
        torch.manual_seed(0)
        config = ModelConfig.preset(args.encoder, variant="metric", max_depth=20.0,
                                    input_size=args.input_size)
        weights = work / "model.safetensors"
        save_model(DepthAnything(config).eval(), weights,
                   provenance={"trained_by": "bench/bags_throughput (random)"})
        src = work / "in"
        for i in range(args.bags):
            build_bag(src / f"bag{i}", args.frames, args.storage)
        extra = ["--device", args.device, "--points-stride", str(args.points_stride),
                 "--batch-size", str(args.batch_size)]
        # (processes, torch threads each): 1 process with every core, 1 process with one
        # thread per process's share (tells "more processes" apart from "fewer threads"), N
        setups = list(dict.fromkeys([(1, max(1, cores)), (1, max(1, cores // args.nproc)),
                                     (args.nproc, max(1, cores // args.nproc))]))
        best = {setup: (float("inf"), float("inf")) for setup in setups}
        for r in range(args.repeats):
            for setup in setups:
                out = work / f"out_{setup[0]}x{setup[1]}_{r}"
                run_s, wall_s, frames = run_bags(src, out, weights, *setup, extra)
                assert frames == args.bags * args.frames, frames
                best[setup] = (min(best[setup][0], run_s), min(best[setup][1], wall_s))
                shutil.rmtree(out)
        total = args.bags * args.frames
        print(f"{args.bags} bags x {args.frames} frames 640x480, "
              f"{args.encoder} @ {args.input_size}, "
              f"{args.storage}, points stride {args.points_stride}, batch {args.batch_size}, "
              f"{cores} cores, device {args.device}, best of {args.repeats}")
        for (nproc, threads), (run_s, wall_s) in best.items():
            print(f"  {nproc} process{'es' if nproc > 1 else '  '} x {threads} threads: "
                  f"run {total / run_s:6.2f} frames/s ({run_s:.1f} s), "
                  f"wall {total / wall_s:6.2f} frames/s ({wall_s:.1f} s)")
        one_run, one_wall = best[setups[0]]
        for setup in setups[1:]:
            run_s, wall_s = best[setup]
            print(f"  {setup[0]}x{setup[1]} vs 1x{setups[0][1]}: run {one_run / run_s:.2f}x, "
                  f"wall {one_wall / wall_s:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
