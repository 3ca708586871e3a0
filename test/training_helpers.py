"""A tiny configuration of the training stages for tests: vitpico at 42-px crops on 8-frame
synthetic sets, every stage a few constant-rate steps, so each test takes seconds."""
from pathlib import Path

from depth_anything_ros.training.config import Config, load_config

DATA = "synthetic:{}:{}?n=8&size=56&cache=0"
OPTIM = ("steps={},batch_size=2,lr_encoder=1e-3,lr_decoder=3e-3,schedule=constant,"
         "checkpoint_every=100,log_every=1")


def tiny_stage_config(tmp_path: Path, steps: int = 8, **extra) -> Config:
    """`out_dir=tmp_path` and the tiny sizes; `extra` as `section.key=value` overrides."""
    overrides = [
        f"out_dir={tmp_path}", "device=cpu", "model.encoder=vitpico", "data.crop=42",
        f"data.labeled={DATA.format('indoor', 'train')}",
        f"data.unlabeled={DATA.format('outdoor', 'train')}",
        f"data.metric_train={DATA.format('indoor', 'train')}",
        f"data.eval_relative={DATA.format('outdoor', 'test')}",
        f"data.metric_eval={DATA.format('indoor', 'test')}", "data.max_depth=20",
    ]
    for section in ("teacher", "student", "metric"):
        overrides += [f"{section}.{kv}" for kv in OPTIM.format(steps).split(",")]
    overrides += [f"{k}={v}" for k, v in extra.items()]
    return load_config(None, overrides)
