"""Average: the weighted mean of checkpoints fine-tuned from one parent (a "model soup").

Why: two fine-tunings of the same model that pull in different directions (the shipped model's
run D on 35–100° lenses, run F on 35–70°) each trade one held-out figure for another; their
weight average sits between them in behaviour at no training cost (Wortsman et al., ICML 2022,
"Model soups"). Checkpoints must share the architecture (the same `ModelConfig`), which only
holds for fine-tunings of one parent. The result is written like `export` writes: our
.safetensors with provenance naming every ingredient and its share, then reloaded through
`DepthEstimator` and checked to predict finite depth.
"""
from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

from depth_anything_ros.model import load_model, read_provenance, save_model
from depth_anything_ros.training.stages.export import check_loads, storage_dtype

log = logging.getLogger(__name__)


def average_models(weights: Sequence[str | Path], out: str | Path, *,
                   shares: Sequence[float] | None = None, dtype: str = "float32") -> Path:
    """Write the `shares`-weighted mean (default equal) of the checkpoints `weights` to `out`.

    ValueError (naming the files) when fewer than two are given, the shares do not match them
    or do not sum to 1, or the checkpoints are not one architecture; RuntimeError when the
    average does not predict finite depth. `out` is only written once the average loads.
    """
    paths = [Path(w) for w in weights]
    if len(paths) < 2:
        raise ValueError(f"average needs at least two checkpoints, got {len(paths)}")
    shares = [1.0 / len(paths)] * len(paths) if shares is None else [float(s) for s in shares]
    if len(shares) != len(paths):
        raise ValueError(f"{len(shares)} shares for {len(paths)} checkpoints")
    if not all(math.isfinite(s) and s >= 0 for s in shares) or abs(sum(shares) - 1.0) > 1e-6:
        raise ValueError(f"shares {shares} must be ≥ 0 and sum to 1")
    storage = storage_dtype(dtype)
    models = [load_model(p) for p in paths]
    first = models[0]
    for path, model in zip(paths[1:], models[1:]):
        if model.config != first.config:
            raise ValueError(f"{path} is another architecture than {paths[0]} "
                             f"({model.config} vs {first.config}): only fine-tunings of one "
                             "model can be averaged")
    states = [m.state_dict() for m in models]
    mean = {key: sum(share * state[key].float() for share, state in zip(shares, states))
            for key in states[0]}
    first.load_state_dict(mean, strict=True)
    ingredients = [{"weights": str(p), "share": s, "provenance": read_provenance(p)}
                   for p, s in zip(paths, shares)]
    provenance = {"stage": "average", "averaged_from": ingredients}
    out = Path(out)
    staged = out.with_name(f".{out.stem}.partial{out.suffix}")  # checked before it is `out`
    try:
        save_model(first, staged, provenance=provenance, dtype=storage)
        check_loads(staged)
        os.replace(staged, out)
    finally:
        staged.unlink(missing_ok=True)
    log.info("averaged %s (shares %s) into %s", ", ".join(map(str, paths)), shares, out)
    return out
