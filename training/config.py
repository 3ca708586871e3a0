"""One YAML file configures the whole pipeline; dataclasses give it names, types and defaults.

``load_config(path, overrides)`` reads the YAML, applies ``section.key=value`` overrides from the
command line (values parsed as YAML, so ``student.feature_alignment=false`` works) and rejects
unknown keys by name, so a typo fails loudly instead of silently training the default.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

import yaml

__all__ = [
    "ConfigError", "Config", "ModelSection", "DataSection", "OptimSection", "TeacherSection",
    "PseudoLabelSection", "StudentSection", "MetricSection", "EvaluateSection",
    "load_config", "config_to_dict",
]


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the key and the reason."""


@dataclass
class ModelSection:
    encoder: str = "vitpico"            # ModelConfig preset (vitpico/vitt/vits/vitb/vitl/vitg)
    version: str = "v2"
    init_backbone: str | None = None    # DINOv2 backbone checkpoint: encoder init (real recipe)
    init_weights: str | None = None     # a whole relative checkpoint to start the teacher from
    teacher_encoder: str | None = None  # teacher size if it differs (P1: ViT-L teacher)
    teacher_init_backbone: str | None = None  # DINOv2 checkpoint of the teacher's size


@dataclass
class DataSection:
    labeled: str = "synthetic:indoor:train"      # teacher + student labeled half
    unlabeled: str = "synthetic:outdoor:train"   # pseudo-labelled by the teacher
    eval_relative: str = "synthetic:outdoor:test"  # zero-shot relative benchmark
    metric_train: str = "synthetic:indoor:train"
    metric_mix: str | None = None       # a second labeled set in every metric batch (real frames)
    metric_eval: str = "synthetic:indoor:test"
    crop: int = 140                     # training crop side, multiple of 14 (paper: 518)
    num_unlabeled: int | None = None    # cap on unlabeled images (None = all)
    min_depth: float = 1e-3
    max_depth: float = 20.0             # metric head range and evaluation range
    workers: int = 0                    # data-loader worker processes


@dataclass
class OptimSection:
    steps: int = 100
    batch_size: int = 4                 # global batch (labeled part for the student)
    lr_encoder: float = 5e-6
    lr_decoder: float = 5e-5
    weight_decay: float = 0.01
    schedule: str = "linear"            # linear | poly | onecycle | constant
    warmup_steps: int = 0
    grad_clip: float | None = 1.0
    checkpoint_every: int = 50
    log_every: int = 10


@dataclass
class TeacherSection(OptimSection):
    weights: str | None = None          # use this trained/official checkpoint as the teacher
    gradient_matching_weight: float = 0.0   # V2: L_ssi + 2·L_gm; 0 = V1 (off)


@dataclass
class PseudoLabelSection:
    batch_size: int = 8


@dataclass
class StudentSection(OptimSection):
    unlabeled_ratio: int = 2            # unlabeled images per labeled image (P1: 1:2)
    perturb: bool = True                # colour jitter + blur + CutMix on unlabeled only
    cutmix_p: float = 0.5
    feature_alignment: bool = True
    alpha: float = 0.85                 # tolerance margin of the feature alignment
    frozen_encoder: str | None = None   # DINOv2 checkpoint; None = the teacher's encoder, frozen
    teacher_weights: str | None = None  # None = <out_dir>/teacher/model.safetensors (or teacher.weights)
    pseudo_labels: str | None = None    # a manifest.json to reuse; None = <out_dir>/pseudo_labels
    gradient_matching_weight: float = 0.0


@dataclass
class MetricSection(OptimSection):
    schedule: str = "poly"
    init_head: bool = False             # DA2 starts the metric head at random (False)
    init_weights: str | None = None     # relative model to start from; None = this run's student
    canonical_focal: float | None = None  # train on d·f_c/f (f = fx / shorter side); None = off
    mix_batch_size: int = 0             # samples of data.metric_mix per step (added to batch_size)


@dataclass
class EvaluateSection:
    num: int | None = 50                # images per evaluation set


@dataclass
class ExportSection:
    dtype: str = "float32"              # float16 halves the shipped file; loading casts to float32


@dataclass
class Config:
    seed: int = 0
    device: str = "auto"                # auto | cpu | cuda
    amp: bool = True                    # bf16 autocast on CUDA (ignored on CPU)
    out_dir: str = "runs/tiny"
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    teacher: TeacherSection = field(default_factory=TeacherSection)
    pseudo_label: PseudoLabelSection = field(default_factory=PseudoLabelSection)
    student: StudentSection = field(default_factory=StudentSection)
    metric: MetricSection = field(default_factory=MetricSection)
    evaluate: EvaluateSection = field(default_factory=EvaluateSection)
    export: ExportSection = field(default_factory=ExportSection)


def _coerce(value: Any, typ: Any, where: str) -> Any:
    text = str(typ)
    if value is None:
        if "None" in text:
            return None
        raise ConfigError(f"{where}: null is not allowed here (expected {text})")
    if typ is bool or text.startswith("bool"):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if typ is int or text.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if typ is float or text.startswith("float"):
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if typ is str or text.startswith("str"):
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where or 'config'}: unknown key(s) {unknown}; known: {sorted(names)}")
    kwargs = {}
    for key, value in data.items():
        typ = hints[key]
        path = f"{where}.{key}" if where else key
        if dataclasses.is_dataclass(typ):
            kwargs[key] = _build(typ, value or {}, path)
        else:
            kwargs[key] = _coerce(value, typ, path)
    return cls(**kwargs)


def _apply_override(tree: dict[str, Any], override: str) -> None:
    if "=" not in override:
        raise ConfigError(f"override {override!r}: expected section.key=value")
    key, raw = override.split("=", 1)
    parts = key.strip().split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {override!r}: {part!r} is not a section")
    node[parts[-1]] = yaml.safe_load(raw) if raw != "" else None


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Config from a YAML file (or defaults when ``path`` is None) plus ``key=value`` overrides."""
    tree: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path}: not found")
        try:
            tree = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path}: not valid YAML ({exc})") from exc
    for override in overrides or []:
        _apply_override(tree, override)
    config = _build(Config, tree, "")
    if config.data.crop % 14:
        raise ConfigError(f"data.crop: {config.data.crop} is not a multiple of 14 (ViT patch size)")
    focal = config.metric.canonical_focal
    if focal is not None and not focal > 0:
        raise ConfigError(f"metric.canonical_focal: {focal} must be a normalised focal > 0 or null")
    if bool(config.data.metric_mix) != (config.metric.mix_batch_size > 0):
        raise ConfigError(
            "data.metric_mix and metric.mix_batch_size go together: name a dataset and give it "
            f"a batch size > 0, or neither (got {config.data.metric_mix!r}, "
            f"{config.metric.mix_batch_size})"
        )
    for name in ("teacher", "student", "metric"):
        section = getattr(config, name)
        if section.schedule not in ("linear", "poly", "onecycle", "constant"):
            raise ConfigError(f"{name}.schedule: unknown schedule {section.schedule!r}")
        # checked here, not after the first training step (a ZeroDivisionError an hour in)
        for key in ("steps", "batch_size", "checkpoint_every", "log_every"):
            _require_count(f"{name}.{key}", getattr(section, key))
    _require_count("pseudo_label.batch_size", config.pseudo_label.batch_size)
    _check_encoders(config.model)
    _check_device(config.device)
    return config


def _require_count(where: str, value: Any) -> None:
    if not (isinstance(value, int) and value >= 1):
        raise ConfigError(f"{where}: {value!r} must be a whole number ≥ 1")


def _check_encoders(model: ModelSection) -> None:
    from depth_anything_ros.model import ModelConfig

    for key in ("encoder", "teacher_encoder"):
        name = getattr(model, key)
        if name is None and key == "teacher_encoder":
            continue
        try:
            ModelConfig.preset(name)
        except (ValueError, KeyError) as exc:
            raise ConfigError(f"model.{key}: {exc}") from None


def _check_device(device: str) -> None:
    if device == "auto":
        return
    import torch

    try:
        torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device: {device!r} is not a torch device (auto, cpu, cuda, "
                          "cuda:N)") from None


def config_to_dict(config: Any) -> dict[str, Any]:
    """JSON/YAML-safe nested dict (for checkpoint provenance and run directories)."""
    return dataclasses.asdict(config)
