"""The one training loop every stage shares (read top to bottom, like nanoGPT's train.py).

A stage hands over a :class:`StageSpec`: the model to train, its data :class:`Source` s (each
with a *global* batch size), a ``compute_loss(model, batch) -> (loss, logs)`` and optimiser
settings. The loop does the rest: AdamW with encoder/decoder learning-rate groups, the lr
schedule, bf16 autocast on CUDA, gradient clipping, DDP through ``torchrun`` (gloo on CPU, NCCL on
GPU), a JSONL metrics log, PNG plots and checkpoints with exact resume.

Exact resume works because nothing depends on hidden state: the batch of step ``s`` is a pure
function of ``(seed, source, s)`` (a permutation per epoch, sliced per rank) and every random
augmentation draws from a generator keyed by ``(seed, source, s, position)``; the schedule is a
function of ``s``; model, optimiser and the torch/numpy/python RNG states go into the
checkpoint. A run killed after a checkpoint continues bit-identically.
"""
from __future__ import annotations

import functools
import json
import logging
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from depth_anything_ros.atomic_file import atomic_path, stale_temporaries, write_text_atomic
from depth_anything_ros.training.config import OptimSection


class ResumeError(RuntimeError):
    """A stage's checkpoint belongs to other settings: the user's choice (another --out, or
    --no-resume), so the CLI says it in one line."""

log = logging.getLogger(__name__)

Batch = dict[str, dict[str, Any]]
LossFn = Callable[[nn.Module, Batch], tuple[torch.Tensor, dict[str, float]]]
PreviewFn = Callable[[nn.Module, Batch], list[tuple[np.ndarray, np.ndarray, np.ndarray]]]


@dataclass
class Source:
    """A stream of training samples: ``load(index, rng) -> dict of arrays`` for 0 ≤ index < length."""

    name: str
    length: int
    load: Callable[[int, np.random.Generator], dict[str, Any]]
    batch_size: int  # global, across all ranks


@dataclass
class StageSpec:
    name: str
    model: nn.Module
    sources: list[Source]
    compute_loss: LossFn
    optim: OptimSection
    out_dir: Path
    preview: PreviewFn | None = None
    preview_kind: str = "disparity"  # what preview rows hold: "disparity" or "depth" (metres)
    frozen: list[nn.Module] = field(default_factory=list)  # moved to the device, never trained
    fingerprint: str = ""  # the settings a checkpoint must match to be resumed


@dataclass
class RunOptions:
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    workers: int = 0
    resume: bool = True
    stop_after: int | None = None  # stop after this many steps in this run (tests a "kill")
    progress: bool = True


# --- distributed ---------------------------------------------------------------------------

def init_distributed(device: str = "auto") -> tuple[int, int]:
    """Join the ``torchrun`` process group if the environment names one; return (rank, world)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        use_cuda = resolve_device(device).type == "cuda"
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {name!r} requested but CUDA is not available")
        if name == "cuda" and dist.is_available() and dist.is_initialized():
            name = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return torch.device(name)


# --- determinism ---------------------------------------------------------------------------

def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@functools.lru_cache(maxsize=64)
def _epoch_permutation(seed: int, source: int, epoch: int, length: int) -> np.ndarray:
    return np.random.default_rng([seed, source, epoch, 0x5EED]).permutation(length)


def global_batch_indices(seed: int, source: int, length: int, step: int, batch: int) -> list[int]:
    """Dataset indices of the global batch at ``step``: epoch-wise permutations, read in order."""
    out = []
    for pos in range(step * batch, (step + 1) * batch):
        epoch, i = divmod(pos, length)
        out.append(int(_epoch_permutation(seed, source, epoch, length)[i]))
    return out


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack arrays of one key into a tensor; anything else becomes a list."""
    out: dict[str, Any] = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        if isinstance(values[0], np.ndarray) or np.isscalar(values[0]) and not isinstance(values[0], str):
            out[key] = torch.from_numpy(np.stack([np.asarray(v) for v in values]))
        else:
            out[key] = values
    return out


class StepBatches(torch.utils.data.Dataset):
    """``batches[step]`` → this rank's share of every source's global batch at ``step``."""

    def __init__(self, sources: list[Source], seed: int, rank: int, world: int):
        for s in sources:
            if s.batch_size % world:
                raise ValueError(
                    f"source {s.name!r}: batch size {s.batch_size} not divisible by {world} ranks"
                )
            if s.length <= 0:
                raise ValueError(f"source {s.name!r}: dataset is empty")
        self.sources, self.seed, self.rank, self.world = sources, seed, rank, world

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, step: int) -> Batch:
        batch: Batch = {}
        for sid, s in enumerate(self.sources):
            idx = global_batch_indices(self.seed, sid, s.length, step, s.batch_size)
            per_rank = s.batch_size // self.world
            lo = self.rank * per_rank
            samples = [
                s.load(idx[pos], np.random.default_rng([self.seed, sid, step, pos]))
                for pos in range(lo, lo + per_rank)
            ]
            batch[s.name] = collate(samples)
        return batch


# --- schedule, optimiser, checkpoint -------------------------------------------------------

def lr_factor(schedule: str, step: int, total: int, warmup: int = 0) -> float:
    """Multiplier of the base lr at ``step`` (poly: DA2 (1 − it/total)^0.9, REFERENCE §4)."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = min(max(step - warmup, 0) / max(total - warmup, 1), 1.0)
    if schedule == "constant":
        return 1.0
    if schedule == "linear":
        return 1.0 - progress
    if schedule == "poly":
        return (1.0 - progress) ** 0.9
    if schedule == "onecycle":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown lr schedule {schedule!r}")


def param_groups(model: nn.Module, optim: OptimSection) -> list[dict[str, Any]]:
    """Encoder (``pretrained.*``) at ``lr_encoder``, everything else at ``lr_decoder``."""
    enc, dec = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (enc if name.startswith("pretrained.") else dec).append(p)
    groups = [
        {"params": enc, "lr": optim.lr_encoder, "base_lr": optim.lr_encoder, "name": "encoder"},
        {"params": dec, "lr": optim.lr_decoder, "base_lr": optim.lr_decoder, "name": "decoder"},
    ]
    return [g for g in groups if g["params"]]


def _rng_state() -> dict[str, Any]:
    version, mt, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "python": torch.tensor(mt, dtype=torch.int64),
        "python_version": version,
        "python_gauss": gauss,
        "numpy": torch.from_numpy(np_keys.astype(np.int64)),
        "numpy_pos": int(np_pos),
        "numpy_has_gauss": int(np_has_gauss),
        "numpy_gauss": float(np_gauss),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate((state["python_version"], tuple(state["python"].tolist()), state["python_gauss"]))
    np.random.set_state((
        "MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"],
        state["numpy_has_gauss"], state["numpy_gauss"],
    ))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, step: int, fingerprint: str = ""
) -> None:
    """Atomically write model, optimiser, step and RNG states (load with weights_only=True)."""
    state = {
        "step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "rng": _rng_state(), "fingerprint": fingerprint,
    }
    with atomic_path(path, durable=True) as tmp:  # a kill mid-write keeps the previous one
        torch.save(state, tmp)


class _LossModule(nn.Module):
    """Wraps the model so DDP sees the whole loss computation as one forward."""

    def __init__(self, model: nn.Module, fn: LossFn):
        super().__init__()
        self.model, self.fn = model, fn

    def forward(self, batch: Batch):  # noqa: D102
        return self.fn(self.model, batch)


def _to_device(batch: Batch, device: torch.device) -> Batch:
    return {
        name: {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in part.items()}
        for name, part in batch.items()
    }


def _mean_across_ranks(values: dict[str, float], device: torch.device) -> dict[str, float]:
    _, world = rank_world()
    if world == 1:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return {k: float(v) / world for k, v in zip(keys, t.tolist())}


def _trim_log(path: Path, keep_until: int) -> None:
    """On resume, drop log records beyond the checkpoint so the log has no duplicate steps (and
    the half-written last line a kill can leave), rewriting the log atomically."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("step", 0) <= keep_until:
            kept.append(line)
    write_text_atomic(path, "".join(ln + "\n" for ln in kept))


# --- the loop ------------------------------------------------------------------------------

def train(spec: StageSpec, run: RunOptions) -> nn.Module:
    """Train ``spec.model`` for ``spec.optim.steps`` steps (resuming if a checkpoint exists)."""
    rank, world = rank_world()
    device = resolve_device(run.device)
    optim = spec.optim
    out = Path(spec.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path, log_path = out / "checkpoint.pt", out / "metrics.jsonl"

    model = spec.model.to(device)
    for module in spec.frozen:
        module.to(device).eval().requires_grad_(False)
    for name, p in model.named_parameters():
        if name.endswith("mask_token"):  # DINOv2's masking token is unused in depth training
            p.requires_grad_(False)
    optimizer = torch.optim.AdamW(param_groups(model, optim), weight_decay=optim.weight_decay)

    start = 0
    if run.resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        if state.get("fingerprint", "") != spec.fingerprint:
            raise ResumeError(
                f"{ckpt_path}: checkpoint was written with different {spec.name} settings; "
                "use another output directory (--out) or --no-resume to start over"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        _set_rng_state(state["rng"])
        start = int(state["step"])
        log.info("%s: resuming from %s at step %d", spec.name, ckpt_path, start)
    if rank == 0:
        _trim_log(log_path, start) if start else log_path.unlink(missing_ok=True)
        for stale in stale_temporaries(ckpt_path):  # a writer killed mid-checkpoint left these
            stale.unlink(missing_ok=True)

    wrapped: nn.Module = _LossModule(model, spec.compute_loss)
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        wrapped = nn.parallel.DistributedDataParallel(wrapped, device_ids=ids, find_unused_parameters=True)
    use_amp = run.amp and device.type == "cuda"
    params = [p for g in optimizer.param_groups for p in g["params"]]

    loader = torch.utils.data.DataLoader(
        StepBatches(spec.sources, run.seed, rank, world), batch_size=None,
        sampler=range(start, optim.steps), num_workers=run.workers,
        pin_memory=device.type == "cuda", persistent_workers=False,
        generator=torch.Generator().manual_seed(run.seed),  # keeps the global torch RNG untouched
    )
    bar = tqdm(total=optim.steps, initial=start, desc=spec.name, disable=rank != 0 or not run.progress)
    first_batch, t0, done = None, time.time(), start
    model.train()
    for step, batch in zip(range(start, optim.steps), loader):
        if first_batch is None:
            first_batch = batch
        factor = lr_factor(optim.schedule, step, optim.steps, optim.warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        batch = _to_device(batch, device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            loss, logs = wrapped(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = (
            float(nn.utils.clip_grad_norm_(params, optim.grad_clip)) if optim.grad_clip else None
        )
        optimizer.step()
        done = step + 1
        bar.update(1)

        if done % optim.log_every == 0 or done == optim.steps:
            values = {"loss": float(loss.detach()), **{k: float(v) for k, v in logs.items()}}
            values = _mean_across_ranks(values, device)
            record = {"stage": spec.name, "step": done, **values, "time_s": round(time.time() - t0, 3)}
            record.update({f"lr_{g['name']}": g["lr"] for g in optimizer.param_groups})
            if grad_norm is not None:
                record["grad_norm"] = grad_norm
            bar.set_postfix(loss=f"{values['loss']:.4f}")
            if rank == 0:
                with log_path.open("a") as f:
                    f.write(json.dumps(record) + "\n")
        if done % optim.checkpoint_every == 0 or done == optim.steps:
            if rank == 0:
                save_checkpoint(ckpt_path, model, optimizer, done, spec.fingerprint)
            barrier()
        if run.stop_after is not None and done - start >= run.stop_after:
            break
    bar.close()

    if rank == 0 and done == optim.steps and log_path.exists():
        from depth_anything_ros.training import plots  # matplotlib only when a run finishes

        plots.loss_curves(log_path, out / "loss.png", title=spec.name)
        if spec.preview is not None:
            if first_batch is None:  # resumed at the end: preview the first batch anyway
                first_batch = StepBatches(spec.sources, run.seed, 0, 1)[0]
            model.eval()
            with torch.no_grad():
                rows = spec.preview(model, _to_device(first_batch, device))
            plots.sample_grid(rows, out / "samples.png", title=spec.name, kind=spec.preview_kind)
    barrier()
    return model
