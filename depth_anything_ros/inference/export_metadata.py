"""What an exported model (.onnx / OpenVINO .xml) carries about itself, as our .safetensors do.

Stored as string key/values (ONNX `metadata_props`, OpenVINO `rt_info["depth_anything_ros"]`):

  format           "depth_anything_ros"        format_version  "1"
  config           the ModelConfig as JSON (encoder, version, variant, max_depth, input_size...)
  kind             "metric_depth" | "relative_disparity"
  max_depth        metres of the metric head ("" for relative models)
  normalisation    JSON: RGB / 255, ImageNet mean/std, NCHW float32, the resize and upsample rule
  input_shape      JSON [B, 3, h, w] of the network input; null entries are dynamic
  precision        fp32 | fp16 | bf16 (the stored graph's, or for OpenVINO the default hint)
  source           JSON: the weights' file name and content digest, torch and opset versions
  provenance       JSON copied from the checkpoint (training record)
  canonical_focal  only when the checkpoint's metadata has one (copied as is, never invented)

A file without them (exported elsewhere) is usable only with explicit version/variant (and
max_depth), exactly like an official .pth whose name says nothing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from depth_anything_ros.model import ENCODER_PRESETS, CheckpointError, ModelConfig
from depth_anything_ros.model.checkpoints import FORMAT, config_from_file_facts

from .preprocess import IMAGENET_MEAN, IMAGENET_STD

FORMAT_VERSION = "1"
PRECISIONS = ("fp32", "fp16", "bf16")
# Metadata keys copied from a checkpoint into its exports when present.
CHECKPOINT_EXTRAS = ("canonical_focal",)


@dataclass(frozen=True)
class ExportInfo:
    """What the estimator needs to know about an exported model file."""

    path: Path
    config: ModelConfig
    precision: str
    input_shape: tuple[int | None, ...]  # (B, 3, h, w); None = dynamic
    ours: bool  # carries our metadata
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def network_shape(self) -> tuple[int, int] | None:
        """(h, w) the file was exported for, or None if it takes any size."""
        h, w = self.input_shape[2:]
        return (h, w) if h is not None and w is not None else None

    @property
    def fixed_batch(self) -> int | None:
        return self.input_shape[0]

    @property
    def canonical_focal(self) -> float | None:
        value = self.metadata.get("canonical_focal")
        if value in (None, ""):
            return getattr(self.config, "canonical_focal", None)
        return float(json.loads(value))


def normalisation() -> dict[str, Any]:
    """The input contract of every export (the estimator's shared preprocessing)."""
    return {
        "input": "RGB, NCHW float32, value / 255, then (x - mean) / std",
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "resize": "short side to input_size keeping aspect, each side a multiple of 14 "
                  "(lower_bound), cv2 INTER_CUBIC",
        "output": "(B, h, w) float32 at network resolution; upsample bilinear to the camera, "
                  "align_corners True for v2, False for v1",
    }


def build_metadata(config: ModelConfig, *, precision: str,
                   input_shape: tuple[int | None, ...], source: Mapping[str, Any],
                   provenance: Mapping[str, Any] | None = None,
                   extras: Mapping[str, str] | None = None) -> dict[str, str]:
    """The string metadata written into an export (see the module docstring)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": json.dumps(config.to_dict(), sort_keys=True),
        "kind": "metric_depth" if config.variant == "metric" else "relative_disparity",
        "max_depth": "" if config.max_depth is None else repr(config.max_depth),
        "normalisation": json.dumps(normalisation(), sort_keys=True),
        "input_shape": json.dumps(list(input_shape)),
        "precision": precision,
        "source": json.dumps(dict(source), sort_keys=True, default=str),
        "provenance": json.dumps(dict(provenance or {}), sort_keys=True, default=str),
    }
    extras = dict(extras or {})
    if getattr(config, "canonical_focal", None) is not None:  # configs that declare it
        extras.setdefault("canonical_focal", repr(config.canonical_focal))
    for key, value in extras.items():
        if key in CHECKPOINT_EXTRAS and value not in (None, ""):
            metadata[key] = str(value)
    return metadata


def checkpoint_extras(path: str | Path | None) -> tuple[dict[str, str], dict[str, Any]]:
    """(extras such as canonical_focal, provenance) read from our .safetensors' metadata; empty
    for any other checkpoint (they record neither)."""
    if path is None or Path(path).suffix != ".safetensors" or not Path(path).is_file():
        return {}, {}
    from depth_anything_ros.model.state_dicts import read_safetensors_header

    _, metadata = read_safetensors_header(Path(path))
    if metadata.get("format") != FORMAT:
        return {}, {}
    extras = {k: metadata[k] for k in CHECKPOINT_EXTRAS if metadata.get(k) not in (None, "")}
    try:
        provenance = json.loads(metadata.get("provenance", "{}"))
    except json.JSONDecodeError:
        provenance = {}
    return extras, provenance


def export_info(path: Path, metadata: Mapping[str, str], file_shape: tuple[int | None, ...],
                weight_shapes: Mapping[str, tuple[int, ...]], *, version: str | None = None,
                variant: str | None = None, max_depth: float | None = None,
                input_size: int | None = None) -> ExportInfo:
    """`ExportInfo` of a file from its metadata (ours) or, for a foreign file, from its weight
    names and the explicit arguments. Errors are CheckpointErrors naming the file."""
    ours = metadata.get("format") == FORMAT
    if not ours:
        _check_foreign(path, weight_shapes, version, variant, max_depth)
    precision = metadata.get("precision", "fp32") if ours else "fp32"
    if precision not in PRECISIONS:
        raise CheckpointError(f"{path}: metadata 'precision' {precision!r} is not one of "
                              f"{PRECISIONS}")
    if len(file_shape) != 4 or file_shape[1] not in (3, None):
        raise CheckpointError(f"{path}: the network input has shape {list(file_shape)}, "
                              "expected [batch, 3, height, width]")
    if not ours:
        fixed_size = min(file_shape[2:]) if None not in file_shape[2:] else None
        config = _foreign_config(path, weight_shapes, version, variant, max_depth,
                                 input_size or fixed_size)
        return ExportInfo(path, config, precision, tuple(file_shape), ours, dict(metadata))
    config = config_from_file_facts(path, metadata, {}, version=version, variant=variant,
                                    max_depth=max_depth, input_size=input_size)
    stored = ModelConfig.from_dict(json.loads(metadata["config"]))
    if config.max_depth != stored.max_depth:
        raise CheckpointError(
            f"{path}: max_depth {stored.max_depth} m is part of the exported graph; "
            f"re-export the checkpoint to use max_depth {config.max_depth}")
    return ExportInfo(path, config, precision, tuple(file_shape), ours, dict(metadata))


def _foreign_config(path: Path, shapes: Mapping[str, tuple[int, ...]], version: str,
                    variant: str, max_depth: float | None, input_size: int | None) -> ModelConfig:
    """The preset whose width matches the file's position table (exporters fold or merge
    other tensors, so block counts cannot be read from names; the widths of the presets
    differ, and the runtime needs only what the output means)."""
    table = shapes.get("pretrained.pos_embed") or shapes.get("pretrained.cls_token")
    width = table[-1]
    names = [name for name, preset in ENCODER_PRESETS.items() if preset.embed_dim == width]
    if not names:
        raise CheckpointError(f"{path}: encoder width {width} matches no preset "
                              f"({', '.join(ENCODER_PRESETS)})")
    try:
        return ModelConfig.preset(names[0], version=version, variant=variant,
                                  max_depth=max_depth if variant == "metric" else None,
                                  input_size=input_size or 518)
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc


def _check_foreign(path: Path, shapes: Mapping[str, tuple[int, ...]], version: str | None,
                   variant: str | None, max_depth: float | None) -> None:
    """A file exported elsewhere: usable only when the user says what it computes."""
    needed = [f"--{name}" for name, value in (("version", version), ("variant", variant))
              if value is None]
    if variant == "metric" and max_depth is None:
        needed.append("--max-depth")
    if needed:
        raise CheckpointError(
            f"{path}: has no depth_anything_ros metadata (not made by `depth-anything-ros "
            f"export`), so what it outputs is unknown; pass {', '.join(needed)} (node: the "
            "version/variant/max_depth parameters), or re-export it with depth-anything-ros export")
    if not any(k in shapes for k in ("pretrained.pos_embed", "pretrained.cls_token")):
        raise CheckpointError(
            f"{path}: has no depth_anything_ros metadata and no Depth Anything weight names "
            "(pretrained.pos_embed), so its encoder cannot be read; re-export it with "
            "depth-anything-ros export")
