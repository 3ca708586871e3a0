"""``SyntheticDataset``: synthetic frames rendered once, cached on disk, served by memory map."""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from depth_anything_ros.training.data.cache import cache_root, frame_dtype, load_shard, save_atomic
from depth_anything_ros.training.data.domains import DOMAINS
from depth_anything_ros.training.data.samples import DepthDataset, Sample, make_sample
from depth_anything_ros.training.data.synthetic import (GENERATOR_VERSION, HFOV_RANGE_DEG,
                                                        PITCH_RANGE_DEG, frame_seed, hfov_range,
                                                        pitch_range, render_frame, render_shard)

log = logging.getLogger(__name__)
DEFAULT_SHARD_FRAMES = 64


def _pool_context() -> multiprocessing.context.BaseContext:
    """``fork`` where available: rendering children use only numpy (no torch, no OpenMP), and
    unlike ``spawn`` fork never re-imports the parent's ``__main__`` (a CLI, a notebook, stdin)."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class SyntheticDataset(DepthDataset):
    """``synthetic:<domain>:<split>``: ``num_frames`` labeled frames of ``size``×``size`` pixels.

    With ``cache=True`` (default) all frames are rendered up front (in parallel over
    ``workers`` processes) into shards of ``shard_frames`` under
    ``cache_root()/synthetic/v<GENERATOR_VERSION>/<domain>-<split>-<W>x<H>/`` and read back by
    memory map; a second construction finds them and renders nothing. ``cache=False`` renders
    each frame on access (no disk use; ~0.1 s per 256-px frame). ``hfov`` (degrees, one value
    or a (lo, hi) range; default 50–100) and ``pitch`` (degrees, negative looks down; default
    per domain, ``PITCH_RANGE_DEG``) are part of the spec and of the cache folder's name.
    Samples carry ``camera_height``: the optical centre's height above the floor (metres).
    """

    labeled = True

    def __init__(
        self,
        domain: str,
        split: str,
        num_frames: int = 1000,
        size: int = 256,
        *,
        cache: bool = True,
        workers: int | None = None,
        shard_frames: int = DEFAULT_SHARD_FRAMES,
        hfov: float | tuple[float, float] | None = None,
        pitch: float | tuple[float, float] | None = None,
    ) -> None:
        if domain not in DOMAINS:
            raise ValueError(
                f"unknown synthetic domain {domain!r}; use one of {', '.join(DOMAINS)}"
            )
        frame_seed(split, 0)  # validates the split
        if num_frames <= 0 or size <= 0 or shard_frames <= 0:
            raise ValueError(
                "num_frames, size and shard_frames must be positive, "
                f"got {num_frames}, {size}, {shard_frames}"
            )
        self.domain, self.split, self.num_frames, self.size = (
            domain,
            split,
            int(num_frames),
            int(size),
        )
        self.hfov = hfov_range(hfov)
        lo, hi = self.hfov
        fov_text = f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"
        self.spec = f"synthetic:{domain}:{split}?n={num_frames}&size={size}"
        folder = f"{domain}-{split}-{size}x{size}"
        if self.hfov != HFOV_RANGE_DEG:
            self.spec += f"&hfov={fov_text}"
            folder += f"-hfov{fov_text}"
        self.pitch = pitch_range(domain, pitch)
        if self.pitch != PITCH_RANGE_DEG[domain]:
            lo, hi = self.pitch
            self.spec += f"&pitch={lo:g}:{hi:g}"
            folder += f"-pitch{lo:g}_{hi:g}"
        self.shard_frames = int(shard_frames)
        self.cache_dir = cache_root() / "synthetic" / f"v{GENERATOR_VERSION}" / folder
        self._shards: dict[int, np.ndarray] = {}
        self.cached = cache
        if cache:
            self._ensure_cached(workers or _default_workers())

    def __len__(self) -> int:
        return self.num_frames

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_shards"] = {}  # memory maps are reopened in the receiving process, not copied
        return state

    def _shard_span(self, shard: int) -> tuple[int, int]:
        start = shard * self.shard_frames
        return start, min(self.shard_frames, self.num_frames - start)

    def _shard_path(self, shard: int) -> Path:
        start, count = self._shard_span(shard)
        return self.cache_dir / f"frames_{start:09d}_{count:05d}.npy"

    def _ensure_cached(self, workers: int) -> None:
        shards = range((self.num_frames + self.shard_frames - 1) // self.shard_frames)
        missing = [j for j in shards if not self._shard_path(j).exists()]
        if not missing:
            return
        frames = sum(self._shard_span(j)[1] for j in missing)
        log.info(
            "rendering %d %s frames into %s (%d processes)",
            frames,
            self.spec,
            self.cache_dir,
            workers,
        )
        begin = time.perf_counter()
        jobs = [
            (self.domain, self.split, *self._shard_span(j), self.size, self.size, self.hfov,
             self.pitch)
            for j in missing
        ]
        if workers <= 1 or len(missing) == 1:
            for j, job in zip(missing, jobs):
                save_atomic(self._shard_path(j), render_shard(*job))
        else:
            context = _pool_context()
            with ProcessPoolExecutor(min(workers, len(missing)), mp_context=context) as pool:
                futures = [pool.submit(render_shard, *job) for job in jobs]
                for j, future in zip(missing, futures):
                    save_atomic(self._shard_path(j), future.result())
        elapsed = time.perf_counter() - begin
        log.info(
            "rendered %d frames in %.1f s (%.1f frames/s)",
            frames,
            elapsed,
            frames / max(elapsed, 1e-9),
        )

    def frame_arrays(
        self, index: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, float]:
        """(rgb, depth, intrinsics, seed, camera_height) of frame ``index``, from the cache or
        freshly rendered."""
        index = self._check_index(index)
        if not self.cached:
            frame = render_frame(
                self.domain, self.split, index, self.size, self.size, self.hfov, self.pitch
            )
            return frame.rgb, frame.depth, frame.intrinsics, frame.seed, frame.camera_height
        shard, offset = divmod(index, self.shard_frames)
        if shard not in self._shards:
            self._shards[shard] = load_shard(
                self._shard_path(shard),
                frame_dtype(self.size, self.size),
                self._shard_span(shard)[1],
            )
        record = self._shards[shard][offset]
        return (
            np.array(record["rgb"]),
            np.array(record["depth"]),
            np.array(record["intrinsics"]),
            int(record["seed"]),
            float(record["camera_height"]),
        )

    def __getitem__(self, index: int) -> Sample:
        rgb, depth, intrinsics, _seed, height = self.frame_arrays(index)
        name = f"{self.domain}-{self.split}-{int(index) % self.num_frames:06d}"
        return make_sample(rgb, name, depth, intrinsics, camera_height=height)
