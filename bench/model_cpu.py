"""Our Depth Anything vs transformers' `DepthAnythingForDepthEstimation`, same weights, side by side.

A random ViT-S (V2 relative) is built in transformers, saved with `save_pretrained`, and loaded
into ours through the HF loader, so both networks hold identical weights. One 640×480 frame at
input_size 518 (network input 518×686). Timed: the model forward alone (same input tensor)
and end to end (uint8 frame → depth at 640×480: ours `DepthEstimator.predict`, theirs the
DPT image processor + forward + resize back). Runs alternate ours/theirs so load changes hit
both alike; medians are printed with the ratio HF time / our time (>1: ours is faster).

    python bench/model_cpu.py                      # fp32 CPU, 2 threads, ours compiled + channels_last
    python bench/model_cpu.py --backend eager --no-channels-last   # the same kernels as HF
    python bench/model_cpu.py --device cuda --precision bf16
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from depth_anything_ros.inference.estimator import PRECISIONS


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--precision", default="fp32", choices=sorted(PRECISIONS))
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
    parser.add_argument("--runs", type=int, default=10, help="timed runs of each (default: 10)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs of each first (default: 3)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--input-size", type=int, default=518)
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                        help="our model in channels_last memory format (default: on)")
    parser.add_argument("--backend", default="compile", choices=("eager", "compile"),
                        help="our model eager or through torch.compile (default: compile; the first "
                             "warm-up run pays about a minute of compiling)")
    return parser.parse_args()


def build_pair(tmp: str, device: torch.device):
    """(ours, hf): the same random ViT-S weights, ours loaded from HF's save_pretrained."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    from depth_anything_ros.model import load_model

    backbone = Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, image_size=518,
                            patch_size=14, out_indices=[3, 6, 9, 12], apply_layernorm=True,
                            reshape_hidden_states=False, layerscale_value=1.0)
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=384,
                                 neck_hidden_sizes=[48, 96, 192, 384], fusion_hidden_size=64,
                                 depth_estimation_type="relative")
    torch.manual_seed(0)
    hf = DepthAnythingForDepthEstimation(config).eval()
    # transformers' init (std 0.02) shrinks activations layer by layer until the output is
    # ~1e-4 and CPUs meet denormals; fan-in scaling keeps values O(1), as trained weights are.
    with torch.no_grad():
        for name, param in hf.named_parameters():
            if param.dim() > 1:
                param.normal_(0.0, 0.02 if "position" in name else param[0].numel() ** -0.5)
    hf.save_pretrained(tmp)
    ours = load_model(tmp)
    return ours.to(device), hf.to(device)


def hf_processor(input_size: int):
    """The preprocessing of depth-anything/Depth-Anything-V2-Small-hf (PIL backend, no download)."""
    from transformers.models.dpt.image_processing_pil_dpt import DPTImageProcessorPil

    return DPTImageProcessorPil(
        do_resize=True, size={"height": input_size, "width": input_size}, keep_aspect_ratio=True,
        ensure_multiple_of=14, resample=3, do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
        image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225], do_pad=False,
    )


def timer(device: torch.device) -> Callable[[Callable[[], object]], float]:
    def run(fn: Callable[[], object]) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start
    return run


def alternate(pairs: dict[str, tuple[Callable, Callable]], runs: int, warmup: int,
              measure: Callable[[Callable], float]) -> dict[str, tuple[float, float]]:
    """Median seconds (ours, hf) per named pair, runs interleaved ours/hf/ours/hf…"""
    times = {name: ([], []) for name in pairs}
    for i in range(warmup + runs):
        for name, (ours, theirs) in pairs.items():
            t_ours, t_hf = measure(ours), measure(theirs)
            if i >= warmup:
                times[name][0].append(t_ours)
                times[name][1].append(t_hf)
    return {name: (statistics.median(a), statistics.median(b)) for name, (a, b) in times.items()}


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    from depth_anything_ros.inference import DepthEstimator, network_size, prepare_batch

    device = torch.device(args.device)
    precision = PRECISIONS[args.precision]
    autocast = (contextlib.nullcontext if args.precision == "fp32"
                else lambda: torch.autocast(device.type, dtype=precision))
    rng = np.random.default_rng(0)
    # A smooth synthetic scene (a noisy ramp) rather than white noise: resizers behave as on photos.
    ramp = np.linspace(0, 255, args.width)[None, :, None] * np.ones((args.height, 1, 3))
    frame = np.clip(ramp + rng.normal(0, 20, ramp.shape), 0, 255).astype(np.uint8)

    with tempfile.TemporaryDirectory() as tmp:
        ours, hf = build_pair(tmp, device)
    estimator = DepthEstimator(ours, device=device, precision=args.precision, input_size=args.input_size,
                               channels_last=args.channels_last, backend=args.backend)
    processor = hf_processor(args.input_size)
    size = network_size(args.height, args.width, args.input_size)
    x = prepare_batch(frame[None], size, device)
    x_ours = x.contiguous(memory_format=torch.channels_last) if args.channels_last else x

    def ours_forward():
        with torch.inference_mode(), autocast():
            return estimator.network(x_ours)

    def hf_forward():
        with torch.inference_mode(), autocast():
            return hf(pixel_values=x).predicted_depth

    def ours_end_to_end():
        return estimator.predict(frame).values

    def hf_end_to_end():
        with torch.inference_mode():
            pixels = processor(images=frame, return_tensors="pt")["pixel_values"].to(device)
            with autocast():
                depth = hf(pixel_values=pixels).predicted_depth
            up = F.interpolate(depth.float()[:, None], (args.height, args.width), mode="bilinear",
                               align_corners=True)
            return up[0, 0].cpu().numpy()

    with torch.inference_mode():
        a, b = ours_forward().float(), hf_forward().float()
    hf_pixels = processor(images=frame, return_tensors="pt")["pixel_values"]
    import transformers

    print(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), "
          f"{args.precision}, threads {torch.get_num_threads()}, torch {torch.__version__}, "
          f"transformers {transformers.__version__}, ours: backend {args.backend}, "
          f"channels_last {args.channels_last}")
    print(f"frame {args.width}x{args.height} -> network input ours {size[1]}x{size[0]}, "
          f"HF processor {hf_pixels.shape[-1]}x{hf_pixels.shape[-2]}")
    print(f"same weights check: max |ours - HF| / max |HF| = "
          f"{((a - b).abs().max() / b.abs().max()).item():.2e} (forward on one input)")

    results = alternate({"forward": (ours_forward, hf_forward), "end-to-end": (ours_end_to_end, hf_end_to_end)},
                        args.runs, args.warmup, timer(device))
    for name, (t_ours, t_hf) in results.items():
        print(f"{name:>11}: ours {t_ours * 1e3:8.1f} ms   HF {t_hf * 1e3:8.1f} ms   "
              f"speed-up ours/HF {t_hf / t_ours:.2f}x   (median of {args.runs})")


if __name__ == "__main__":
    main()
