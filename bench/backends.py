"""Every installed backend vs transformers vs torch eager: same weights, same frame, end to end.

Two models, side by side in one run:
  vits@518  a random ViT-S (V2 relative) built in transformers, saved with save_pretrained and
            loaded into ours (bench/model_cpu.py's `build_pair`), so all sides hold the same
            weights (asserted: forward outputs agree, every export records the same digest);
  shipped   models/default.safetensors (vitt, metric, input 168); transformers has no such
            size, so that side is absent there.

Sides: transformers (DPT image processor + forward + resize back), torch eager fp32, torch
autocast bf16, and our `DepthEstimator` with backend torchscript (a frozen trace, fp32),
onnxruntime (fp32), openvino (f32 hint) and
openvino-bf16 (bf16 hint; the precision OpenVINO really used is reported — a CPU without bf16
stays at f32). Each side turns the same 640×480 uint8 frame (the first TUM fr1_rpy frame when
$DAR_TUM_DIR or ../shared/data has it, else a synthetic one) into depth at 640×480. Runs are
interleaved side by side so load on a shared machine hits all alike; every side gets the same
thread count (--threads for torch, ONNX Runtime and OpenVINO). Figures that flatter nothing are
printed too: the export time, and sides slower than torch.

    python bench/backends.py                  # table
    python bench/backends.py --json           # exactly one JSON object on stdout
    python bench/backends.py --quick --cases shipped
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parents[1]
TUM = Path(os.environ.get("DAR_TUM_DIR", ROOT / ".." / "shared" / "data" / "tum_fr1_rpy"))
SIDES = ("transformers", "torch", "torch-bf16", "torchscript", "onnxruntime", "openvino",
         "openvino-bf16")
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    parser.add_argument("--threads", type=int, default=2, help="threads of every side (2)")
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each side (7)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first (2)")
    parser.add_argument("--quick", action="store_true", help="2 runs, 1 warm-up: a smoke run")
    parser.add_argument("--cases", default="vits@518,shipped",
                        help="comma list of vits@518, shipped (default both)")
    parser.add_argument("--sides", default=",".join(SIDES),
                        help=f"comma list of {', '.join(SIDES)} (default all installed)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="export cache (default: a temporary folder, so exports are timed)")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.warmup = 2, 1
    return args


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def camera_frame() -> tuple[np.ndarray, str]:
    """(640×480 RGB uint8, where it came from)."""
    import cv2

    listing = TUM / "rgb.txt"
    if listing.is_file():
        name = next(line.split()[1] for line in listing.read_text().splitlines()
                    if line and not line.startswith("#"))
        bgr = cv2.imread(str(TUM / name))
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), f"TUM fr1_rpy {name}"
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 640)[None, :, None] * np.ones((480, 1, 3))
    return np.clip(ramp + rng.normal(0, 20, ramp.shape), 0, 255).astype(np.uint8), "synthetic"


def installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# ------------------------------------------------------------------------------ the sides

def transformers_side(hf, input_size: int, height: int, width: int) -> Callable:
    from model_cpu import hf_processor

    processor, _ = hf_processor(input_size)  # fast (torchvision) or PIL, whichever is installed

    def run(frame: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            pixels = processor(images=frame, return_tensors="pt")["pixel_values"]
            depth = hf(pixel_values=pixels).predicted_depth
            up = F.interpolate(depth.float()[:, None], (height, width), mode="bilinear",
                               align_corners=True)
        return up[0, 0].numpy()
    return run


def our_sides(model, wanted: list[str], threads: int, cache_dir: Path) -> dict[str, object]:
    """DepthEstimators over the one `model` object (so every side holds its weights)."""
    from depth_anything_ros.inference import DepthEstimator

    options = {
        "torch": dict(backend="torch"),
        "torch-bf16": dict(backend="torch", precision="bf16"),
        "torchscript": dict(backend="torchscript"),
        "onnxruntime": dict(backend="onnxruntime"),
        "openvino": dict(backend="openvino", precision="fp32"),
        "openvino-bf16": dict(backend="openvino", precision="bf16"),
    }
    needs = {"onnxruntime": "onnxruntime", "openvino": "openvino", "openvino-bf16": "openvino"}
    sides = {}
    for name in wanted:
        if name not in options:
            continue
        if name in needs and not (installed(needs[name]) and installed("onnxscript")):
            log(f"  {name}: not installed, skipped")
            continue
        sides[name] = DepthEstimator(model, device="cpu", threads=threads, cache_dir=cache_dir,
                                     **options[name])
    return sides


def network_gflop(model, height: int, width: int) -> float:
    """Floating-point operations (multiply + add = 2) of one forward at this frame's network
    size, as torch's FlopCounterMode counts them, plus attention: torch has no formula for the
    CPU flash-attention kernel that `scaled_dot_product_attention` runs here, and counted it as
    0 (ViT-S@518: 106.8 GFLOP without attention, 167.4 with it). What any backend must compute
    per frame."""
    from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

    from depth_anything_ros.inference.preprocess import network_size

    def cpu_attention(query_shape, key_shape, value_shape, *_, **__) -> int:
        return sdpa_flop_count(query_shape, key_shape, value_shape)

    attention = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: cpu_attention}
    x = torch.zeros(1, 3, *network_size(height, width, model.config.input_size))
    with torch.inference_mode(), FlopCounterMode(display=False,
                                                 custom_mapping=attention) as counter:
        model(x)
    return counter.get_total_flops() / 1e9


def matmul_ceiling(size: int = 1536, runs: int = 10) -> float:
    """GFLOP/s of one large fp32 matrix product at torch's thread count: about the most any
    fp32 backend gets out of these cores (a network's smaller, memory-bound layers get less)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - start)
    return 2 * size ** 3 / statistics.median(times) / 1e9


def run_case(name: str, model, hf, frame: np.ndarray, args, cache_dir: Path,
             gflop: float) -> dict:
    from depth_anything_ros.inference.export import max_relative_difference
    from depth_anything_ros.inference.export_cache import weights_digest

    height, width = frame.shape[:2]
    wanted = [s for s in args.sides.split(",") if s]
    estimators = our_sides(model, wanted, args.threads, cache_dir)
    runners: dict[str, Callable] = {k: (lambda f, e=e: e.predict(f).values)
                                    for k, e in estimators.items()}
    if hf is not None and "transformers" in wanted:
        runners = {"transformers": transformers_side(hf, model.config.input_size, height,
                                                     width), **runners}
    setup_s, outputs = {}, {}
    for side, run in runners.items():  # first call: exports (timed apart), compiles, caches
        start = time.perf_counter()
        outputs[side] = run(frame)
        setup_s[side] = time.perf_counter() - start
        log(f"  {name} {side}: first frame {setup_s[side]:.1f} s")
    digest = weights_digest(model)
    for side, estimator in estimators.items():
        network = estimator.network
        for export in getattr(network, "networks", {}).values():
            recorded = json.loads(export.info.metadata["source"])["weights_sha256"]
            assert recorded == digest, f"{side}: exported other weights"
    times = {side: [] for side in runners}
    for i in range(args.warmup + args.runs):
        for side, run in runners.items():
            start = time.perf_counter()
            run(frame)
            if i >= args.warmup:
                times[side].append(time.perf_counter() - start)
    reference = outputs.get("torch")
    hf_ms = statistics.median(times["transformers"]) * 1e3 if "transformers" in times else None
    result = {}
    for side in runners:
        ms = statistics.median(times[side]) * 1e3
        estimator = estimators.get(side)
        result[side] = {
            "ms_end_to_end": round(ms, 2),
            "frames_per_s": round(1e3 / ms, 2),
            "speedup_vs_transformers": round(hf_ms / ms, 3) if hf_ms else None,
            "speedup_vs_torch": (round(statistics.median(times["torch"]) * 1e3 / ms, 3)
                                 if "torch" in times else None),
            "max_rel_diff_vs_torch": (
                float(f"{max_relative_difference(outputs[side], reference):.3g}")
                if reference is not None else None),
            "precision": estimator.precision if estimator is not None else "fp32",
            "first_frame_s": round(setup_s[side], 1),
            # the network's work per second of end-to-end time (pre/post-processing included)
            "gflops_achieved": round(gflop / (ms / 1e3), 1),
        }
    return result


# ------------------------------------------------------------------------------ main

def build_vits(tmp: str):
    """(ours, hf) with identical random ViT-S weights, checked on one forward."""
    from model_cpu import assert_same_weights, build_pair

    ours, hf = build_pair(tmp, torch.device("cpu"))
    x = torch.randn(1, 3, 518, 686, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        a, b = ours(x), hf(pixel_values=x).predicted_depth
    agree = assert_same_weights(a, b, "fp32")
    return ours.eval(), hf.eval(), agree


def main() -> int:
    args = parse_args()
    torch.set_num_threads(args.threads)
    from depth_anything_ros.large_buffers import keep_large_buffers
    from depth_anything_ros.model import default_weights_path, load_model

    keep_large_buffers()  # as the CLI and the node run; one process, so every side alike

    frame, source = camera_frame()
    report: dict = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "load_avg_1m": round(os.getloadavg()[0], 2)},
        "threads": args.threads, "frame": f"{frame.shape[1]}x{frame.shape[0]} {source}",
        "runs": args.runs, "torch": torch.__version__,
    }
    report["machine"]["fp32_matmul_gflops"] = round(matmul_ceiling(), 1)
    with tempfile.TemporaryDirectory(prefix="bench_backends_") as tmp:
        cache = args.cache_dir or Path(tmp) / "cache"
        for case in [c for c in args.cases.split(",") if c]:
            log(f"{case}: building")
            if case == "vits@518":
                ours, hf, agree = build_vits(tmp)
                report["weights_agree_vits"] = float(f"{agree:.3g}")
            elif case == "shipped":
                ours, hf = load_model(default_weights_path()), None
            else:
                raise SystemExit(f"--cases: unknown case {case!r}")
            gflop = network_gflop(ours, *frame.shape[:2])
            report.setdefault("gflop_per_frame", {})[case] = round(gflop, 2)
            report[case] = run_case(case, ours, hf, frame, args, cache, gflop)
    report["machine"]["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    if args.json:
        print(json.dumps(report))
    else:
        print_table(report)
    return 0


def print_table(report: dict) -> None:
    print(f"threads {report['threads']}, frame {report['frame']}, median of {report['runs']}, "
          f"load average {report['machine']['load_avg_1m']} -> "
          f"{report['machine']['load_avg_1m_end']} on {report['machine']['cores']} cores; "
          f"fp32 matmul {report['machine']['fp32_matmul_gflops']} GFLOP/s")
    for case in ("vits@518", "shipped"):
        if case not in report:
            continue
        print(f"{case}: {report['gflop_per_frame'][case]} GFLOP per frame")
        for side, r in report[case].items():
            vs_hf = (f"{r['speedup_vs_transformers']:.2f}x HF" if r["speedup_vs_transformers"]
                     else "-")
            diff = "" if r["max_rel_diff_vs_torch"] is None else f"{r['max_rel_diff_vs_torch']:.1e}"
            print(f"  {side:<14} {r['ms_end_to_end']:9.1f} ms {r['frames_per_s']:7.1f} fps "
                  f"{vs_hf:>10}  vs torch {r['speedup_vs_torch'] or 0:.2f}x  diff {diff:<8} "
                  f"{r['precision']:<5} {r['gflops_achieved']:6.1f} GFLOP/s "
                  f"first frame {r['first_frame_s']} s")


if __name__ == "__main__":
    sys.exit(main())
