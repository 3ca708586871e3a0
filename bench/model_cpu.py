"""Our Depth Anything vs transformers' `DepthAnythingForDepthEstimation`: same weights, like
against like, side by side.

A random ViT-S (V2 relative) is built in transformers, saved with `save_pretrained` and loaded
into ours through the HF loader, so both networks hold identical weights; that is asserted
(the run stops if their outputs differ). One 640×480 frame at input_size 518 (network input
518×686). Three comparisons, each timed with ours and theirs interleaved (ours, theirs, ours,
…) so load changes hit both alike; medians and the ratio HF time / our time (> 1: ours faster):

* forward, eager vs eager: the same input tensor, no compiler on either side;
* forward, compiled vs compiled: both through `torch.compile` with the same options
  (`depth_anything_ros.inference.backends.build_forward`, CPU freezing included);
* end to end, uint8 frame → depth at 640×480 on `--device`: ours `DepthEstimator.predict`;
  theirs transformers' fast `DPTImageProcessor(device=…)` (torchvision; the processor of
  transformers ≥ 5) → model → their `post_process_depth_estimation`. Eager and compiled. When
  torchvision is missing, the slow PIL processor is used instead and the line says so: that
  ratio then mostly measures PIL, not the model.

    python bench/model_cpu.py                 # fp32 CPU, 2 threads
    python bench/model_cpu.py --quick         # a small input and 2 runs: checks that it works
    python bench/model_cpu.py --no-compile    # skip the compiled rows (compiling takes minutes)
    python bench/model_cpu.py --threads 1 --clock cpu   # on a CPU shared with other jobs
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
from torch import nn

from depth_anything_ros.inference.estimator import PRECISIONS

# max |ours − HF| / max |HF| on one forward: fp32 agrees to float rounding (1e-5 measured);
# bf16/fp16 autocast rounds differently in each implementation.
SAME_WEIGHTS_TOLERANCE = {"fp32": 1e-4, "bf16": 5e-2, "fp16": 5e-2}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--precision", default="fp32", choices=sorted(PRECISIONS))
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
    parser.add_argument("--runs", type=int, default=10, help="timed runs of each (default: 10)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs of each first")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--input-size", type=int, default=518)
    parser.add_argument("--channels-last", action="store_true",
                        help="both models in channels_last memory format (default: off)")
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled rows")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall time (default), or this process's CPU time: on a CPU shared "
                             "with other jobs, CPU time counts the work, not the waiting")
    parser.add_argument("--quick", action="store_true",
                        help="input 140, 2 runs, 1 warm-up: that every row runs, not figures")
    args = parser.parse_args()
    if args.quick:
        args.input_size, args.runs, args.warmup = 140, 2, 1
    return args


class HFDepth(nn.Module):
    """transformers' model as a tensor → tensor forward, so both sides compile the same way."""

    def __init__(self, hf: nn.Module):
        super().__init__()
        self.hf = hf

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.hf(pixel_values=pixel_values).predicted_depth


def build_pair(tmp: str, device: torch.device):
    """(ours, hf): the same random ViT-S weights, ours loaded from HF's save_pretrained."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    from depth_anything_ros.model import load_model

    backbone = Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6,
                            image_size=518, patch_size=14, out_indices=[3, 6, 9, 12],
                            apply_layernorm=True, reshape_hidden_states=False,
                            layerscale_value=1.0)
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
    return ours.to(device).eval(), hf.to(device)


def hf_processor(input_size: int):
    """The preprocessing of depth-anything/Depth-Anything-V2-Small-hf (no download): the fast
    torchvision processor when torchvision is installed, else the PIL one. (processor, fast)."""
    kwargs = dict(do_resize=True, size={"height": input_size, "width": input_size},
                  keep_aspect_ratio=True, ensure_multiple_of=14, resample=3, do_rescale=True,
                  rescale_factor=1 / 255, do_normalize=True, image_mean=[0.485, 0.456, 0.406],
                  image_std=[0.229, 0.224, 0.225], do_pad=False)
    try:
        from transformers.models.dpt.image_processing_dpt import DPTImageProcessor

        return DPTImageProcessor(**kwargs), True
    except ImportError:  # transformers' fast processors need torchvision
        from transformers.models.dpt.image_processing_pil_dpt import DPTImageProcessorPil

        return DPTImageProcessorPil(**kwargs), False


def timer(device: torch.device, clock: str = "wall") -> Callable[[Callable[[], object]], float]:
    now = time.process_time if clock == "cpu" else time.perf_counter

    def run(fn: Callable[[], object]) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = now()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return now() - start
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


def assert_same_weights(ours_out: torch.Tensor, hf_out: torch.Tensor, precision: str) -> float:
    """The relative difference of one forward, or SystemExit when the models differ."""
    diff = float((ours_out.float() - hf_out.float()).abs().max() / hf_out.float().abs().max())
    limit = SAME_WEIGHTS_TOLERANCE[precision]
    if not diff <= limit:
        raise SystemExit(f"same-weights check FAILED: max |ours - HF| / max |HF| = {diff:.2e} > "
                         f"{limit:.0e}; the comparison would not be like for like")
    return diff


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    import transformers

    from depth_anything_ros.inference import DepthEstimator, network_size, prepare_batch
    from depth_anything_ros.inference.backends import build_forward

    device = torch.device(args.device)
    autocast = (contextlib.nullcontext if args.precision == "fp32"
                else lambda: torch.autocast(device.type, dtype=PRECISIONS[args.precision]))
    rng = np.random.default_rng(0)
    # A smooth synthetic scene (a noisy ramp) rather than white noise: resizers behave as on photos.
    ramp = np.linspace(0, 255, args.width)[None, :, None] * np.ones((args.height, 1, 3))
    frame = np.clip(ramp + rng.normal(0, 20, ramp.shape), 0, 255).astype(np.uint8)

    with tempfile.TemporaryDirectory() as tmp:
        ours, hf = build_pair(tmp, device)
    memory = torch.channels_last if args.channels_last else torch.contiguous_format
    hf_net = HFDepth(hf).eval().to(memory_format=memory)
    processor, fast = hf_processor(args.input_size)
    size = network_size(args.height, args.width, args.input_size)
    x = prepare_batch(frame[None], size, device).contiguous(memory_format=memory)

    def estimator(backend: str) -> DepthEstimator:
        return DepthEstimator(ours, device=device, precision=args.precision,
                              input_size=args.input_size, channels_last=args.channels_last,
                              backend=backend)

    def forward(network: Callable) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            with torch.inference_mode(), autocast():
                return network(x)
        return run

    def hf_end_to_end(network: Callable) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            with torch.inference_mode():
                extra = {"device": device} if fast else {}
                pixels = processor(images=frame, return_tensors="pt", **extra)["pixel_values"]
                with autocast():
                    depth = network(pixels.to(device))
                post = processor.post_process_depth_estimation(
                    transformers.modeling_outputs.DepthEstimatorOutput(predicted_depth=depth.float()),
                    target_sizes=[(args.height, args.width)])
                return post[0]["predicted_depth"].cpu().numpy()
        return run

    eager = estimator("eager")
    same = assert_same_weights(forward(eager.network)(), forward(hf_net)(), args.precision)
    hf_pixels = processor(images=frame, return_tensors="pt")["pixel_values"]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device {device} ({name}), "
          f"{args.precision}, threads {torch.get_num_threads()}, torch {torch.__version__}, "
          f"transformers {transformers.__version__}, channels_last {args.channels_last}")
    print(f"frame {args.width}x{args.height} -> network input ours {size[1]}x{size[0]}, "
          f"HF processor {hf_pixels.shape[-1]}x{hf_pixels.shape[-2]} "
          f"({f'fast, torchvision, on {device}' if fast else 'PIL: torchvision not installed'})")
    print(f"same weights: max |ours - HF| / max |HF| = {same:.2e} "
          f"(asserted <= {SAME_WEIGHTS_TOLERANCE[args.precision]:.0e})")

    pairs = {
        "forward, eager vs eager": (forward(eager.network), forward(hf_net)),
        "end to end, eager": (lambda: eager.predict(frame).values, hf_end_to_end(hf_net)),
    }
    if not args.no_compile:
        print("compiling both models (torch.compile, same options; minutes on a CPU) ...",
              flush=True)
        compiled = estimator("compile")
        hf_compiled = build_forward(hf_net, "compile", device)
        pairs["forward, compiled vs compiled"] = (forward(compiled.network), forward(hf_compiled))
        pairs["end to end, compiled"] = (lambda: compiled.predict(frame).values,
                                         hf_end_to_end(hf_compiled))
    if args.clock == "cpu" and device.type != "cpu":
        raise SystemExit("--clock cpu measures CPU work; use the wall clock on a GPU")
    results = alternate(pairs, args.runs, args.warmup, timer(device, args.clock))
    print(f"times: {'CPU time of this process' if args.clock == 'cpu' else 'wall clock'}")
    for name, (t_ours, t_hf) in results.items():
        note = "" if fast or not name.startswith("end") else "   (HF via the slow PIL processor)"
        print(f"{name:>30}: ours {t_ours * 1e3:8.1f} ms   HF {t_hf * 1e3:8.1f} ms   "
              f"HF/ours {t_hf / t_ours:.2f}x   (median of {args.runs}){note}")


if __name__ == "__main__":
    main()
