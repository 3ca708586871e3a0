"""Pseudo-labels: the teacher on CLEAN unlabeled images → stored pseudo-disparity + manifest.

P1 §3.2 (REFERENCE.md §5): the teacher labels clean images; perturbations are applied only later,
to the student's input. Each image's disparity is stored at the image's own resolution as a
float16 ``.npy`` (affine-invariant values, so half precision is plenty) in ``<out>/pseudo_labels``.
Resumable: items whose file exists are skipped, as long as ``labels.json`` says they were made
from the same unlabeled set, teacher file and input size (else they are labelled again). Sharded: rank r labels items i with
i % world == r; rank 0 then writes ``manifest.json`` naming every item, atomically.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from depth_anything_ros.atomic_file import write_bytes_atomic
from depth_anything_ros.inference import DepthEstimator
from depth_anything_ros.model import file_sha256, load_model
from depth_anything_ros.training.config import Config
from depth_anything_ros.training.data.cache import save_atomic
from depth_anything_ros.training.data.registry import held_out_note
from depth_anything_ros.training.loop import barrier, rank_world
from depth_anything_ros.training.stages.common import open_data, stage_dir

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
LABELS_KEY = "labels.json"


def item_file(index: int) -> str:
    return f"{index:07d}.npy"


def run_pseudo_label(
    config: Config, *, teacher_weights: Path | None = None, out_dir: Path | None = None,
    device: str | None = None,
) -> Path:
    """Label the unlabeled set with the teacher; return the manifest path."""
    rank, world = rank_world()
    teacher_weights = Path(teacher_weights or config.teacher.weights
                           or stage_dir(config, "teacher") / "model.safetensors")
    out_dir = Path(out_dir or stage_dir(config, "pseudo_labels"))
    out_dir.mkdir(parents=True, exist_ok=True)
    note = held_out_note(config.data.unlabeled)
    if note is not None:
        log.warning("unlabeled: %s", note)
    dataset = open_data(config.data.unlabeled, config.data.num_unlabeled)
    if rank == 0:
        drop_stale_labels(out_dir, labels_key(config, teacher_weights))
    barrier()
    mine = [i for i in range(len(dataset)) if i % world == rank]
    todo = [i for i in mine if not (out_dir / item_file(i)).exists()]
    log.info("pseudo_label rank %d: %d of %d items to label", rank, len(todo), len(mine))

    if todo:
        dev = device or config.device
        if dev.startswith("cuda") and world > 1:
            dev = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        estimator = DepthEstimator(load_model(teacher_weights), device=dev,
                                   input_size=config.data.crop)
        bs = config.pseudo_label.batch_size
        bar = tqdm(total=len(todo), desc="pseudo_label", disable=rank != 0)
        for start in range(0, len(todo), bs):
            chunk = todo[start:start + bs]
            images = [dataset[i]["image"] for i in chunk]
            if len({im.shape for im in images}) == 1:
                values = estimator.predict_batch(np.stack(images)).values
            else:
                values = [estimator.predict(im).values for im in images]
            for i, disparity in zip(chunk, values):
                save_atomic(out_dir / item_file(i), disparity.astype(np.float16))
            bar.update(len(chunk))
        bar.close()
    barrier()

    manifest = out_dir / MANIFEST
    if rank == 0:
        items = [{"index": i, "file": item_file(i)} for i in range(len(dataset))]
        missing = [it["file"] for it in items if not (out_dir / it["file"]).exists()]
        if missing:
            raise RuntimeError(f"{out_dir}: {len(missing)} pseudo-labels missing, e.g. {missing[:3]}")
        payload = {
            "source": config.data.unlabeled, "num_unlabeled": config.data.num_unlabeled,
            "teacher": str(teacher_weights), "input_size": config.data.crop,
            "count": len(items), "items": items,
        }
        write_bytes_atomic(manifest, json.dumps(payload, indent=1).encode())
    barrier()
    return manifest


def labels_key(config: Config, teacher_weights: Path) -> dict:
    """What the labels in a folder depend on: the unlabeled set, the teacher (its file's sha256,
    so a retrained teacher at the same path counts as another) and the input size."""
    return {"source": config.data.unlabeled, "num_unlabeled": config.data.num_unlabeled,
            "teacher_sha256": file_sha256(teacher_weights), "input_size": config.data.crop}


def drop_stale_labels(out_dir: Path, key: dict) -> None:
    """Resume only labels made for `key` (``labels.json``, written before the first label):
    labels of another unlabeled set or teacher would otherwise be reused item by item, and the
    manifest rewritten to name the new set over them."""
    key_file = out_dir / LABELS_KEY
    old = json.loads(key_file.read_text()) if key_file.is_file() else None
    if old == key:
        return
    labels = sorted(out_dir.glob("[0-9]*.npy"))
    if labels or (out_dir / MANIFEST).exists():
        changed = (", ".join(k for k in key if old.get(k) != key[k]) if old
                   else f"no {LABELS_KEY}")
        log.warning("%s: %d pseudo-labels were made for other inputs (%s): labelling again",
                    out_dir, len(labels), changed)
        for path in labels:
            path.unlink()
        (out_dir / MANIFEST).unlink(missing_ok=True)
    write_bytes_atomic(key_file, json.dumps(key, indent=1).encode())


def read_manifest(path: Path) -> dict:
    """The manifest, checked: it must name its source and list items whose files exist."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no pseudo-label manifest (run the pseudo_label stage)")
    data = json.loads(path.read_text())
    for key in ("source", "items"):
        if key not in data:
            raise ValueError(f"{path}: manifest has no {key!r}")
    return data
