"""Hugging Face `DepthAnythingForDepthEstimation` directories → our config and official keys.

transformers stores the same network under other names: separate q/k/v projections (fused
into `attn.qkv` here), `neck.*`/`head.*` for the DPT head, and a fusion stage that runs from
the deepest feature (`fusion_stage.layers.0` = official `refinenet4`). Its Dinov2 resizes the
position table with `size=` rather than the official `scale_factor=`, so HF checkpoints get
`pos_embed_interp="size"` and reproduce transformers exactly.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import torch

from .depth_anything import ENCODER_PRESETS, ModelConfig, last_four_taps
from .dinov2 import PATCH_SIZE, PRETRAIN_SIZE
from .state_dicts import CheckpointError, read_json

LOG = logging.getLogger(__name__)

HF_CONFIG = "config.json"
HF_WEIGHTS = "model.safetensors"

_BLOCK = re.compile(r"^backbone\.encoder\.layer\.(\d+)\.(.+)$")
_BLOCK_RENAMES = {
    "norm1": "norm1",
    "norm2": "norm2",
    "layer_scale1.lambda1": "ls1.gamma",
    "layer_scale2.lambda1": "ls2.gamma",
    "attention.output.dense": "attn.proj",
    "attention.o_proj": "attn.proj",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
    "mlp.weights_in": "mlp.w12",
    "mlp.weights_out": "mlp.w3",
    "mlp.down_proj": "mlp.w3",
}
# Parts that are concatenated (in this order) into one official tensor.
_FUSED_PARTS = {
    "attention.attention.query": ("attn.qkv", 0),
    "attention.attention.key": ("attn.qkv", 1),
    "attention.attention.value": ("attn.qkv", 2),
    "attention.q_proj": ("attn.qkv", 0),
    "attention.k_proj": ("attn.qkv", 1),
    "attention.v_proj": ("attn.qkv", 2),
    "mlp.gate_proj": ("mlp.w12", 0),
    "mlp.up_proj": ("mlp.w12", 1),
}
_FUSED_COUNT = {"attn.qkv": 3, "mlp.w12": 2}
_FIXED = {
    "backbone.embeddings.cls_token": "pretrained.cls_token",
    "backbone.embeddings.mask_token": "pretrained.mask_token",
    "backbone.embeddings.position_embeddings": "pretrained.pos_embed",
    "backbone.embeddings.patch_embeddings.projection.weight": "pretrained.patch_embed.proj.weight",
    "backbone.embeddings.patch_embeddings.projection.bias": "pretrained.patch_embed.proj.bias",
    "backbone.layernorm.weight": "pretrained.norm.weight",
    "backbone.layernorm.bias": "pretrained.norm.bias",
}
_HEAD = [
    (
        re.compile(r"^neck\.reassemble_stage\.layers\.(\d)\.projection\.(.+)$"),
        lambda m: f"depth_head.projects.{m[1]}.{m[2]}",
    ),
    (
        re.compile(r"^neck\.reassemble_stage\.layers\.(\d)\.resize\.(.+)$"),
        lambda m: f"depth_head.resize_layers.{m[1]}.{m[2]}",
    ),
    (
        re.compile(r"^neck\.convs\.(\d)\.(.+)$"),
        lambda m: f"depth_head.scratch.layer{int(m[1]) + 1}_rn.{m[2]}",
    ),
    (
        re.compile(r"^neck\.fusion_stage\.layers\.(\d)\.projection\.(.+)$"),
        lambda m: f"depth_head.scratch.refinenet{4 - int(m[1])}.out_conv.{m[2]}",
    ),
    (
        re.compile(
            r"^neck\.fusion_stage\.layers\.(\d)\.residual_layer(\d)\.convolution(\d)\.(.+)$"
        ),
        lambda m: (
            f"depth_head.scratch.refinenet{4 - int(m[1])}.resConfUnit{m[2]}.conv{m[3]}.{m[4]}"
        ),
    ),
    (re.compile(r"^head\.conv1\.(.+)$"), lambda m: f"depth_head.scratch.output_conv1.{m[1]}"),
    (re.compile(r"^head\.conv2\.(.+)$"), lambda m: f"depth_head.scratch.output_conv2.0.{m[1]}"),
    (re.compile(r"^head\.conv3\.(.+)$"), lambda m: f"depth_head.scratch.output_conv2.2.{m[1]}"),
]


def is_hf_directory(path: Path) -> bool:
    return path.is_dir() and (path / HF_CONFIG).is_file()


def _require(condition: bool, path: Path, message: str) -> None:
    if not condition:
        raise CheckpointError(f"{path}: {message}")


def hf_model_config(directory: Path, **overrides: Any) -> ModelConfig:
    """Read config.json of a DepthAnythingForDepthEstimation directory into a ModelConfig; a
    value of the wrong type (a string for a number, a name for the backbone's dict) is a
    CheckpointError naming the file, like every other problem with it."""
    try:
        return _hf_model_config(directory, **overrides)
    except (TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"{directory / HF_CONFIG}: a value has the wrong type or form "
                              f"({exc})") from None


def _hf_model_config(
    directory: Path,
    *,
    version: str | None = None,
    variant: str | None = None,
    max_depth: float | None = None,
    input_size: int | None = None,
) -> ModelConfig:
    path = directory / HF_CONFIG
    cfg = read_json(path)
    _require(
        cfg.get("model_type") == "depth_anything",
        path,
        f"model_type is {cfg.get('model_type')!r}, expected 'depth_anything'",
    )
    bb: dict[str, Any] = cfg.get("backbone_config") or {}
    _require(
        bb.get("model_type") == "dinov2",
        path,
        f"backbone_config.model_type is {bb.get('model_type')!r}; "
        "only a 'dinov2' backbone is supported",
    )
    _require(
        bb.get("image_size", 224) == PRETRAIN_SIZE,
        path,
        f"backbone_config.image_size is {bb.get('image_size', 224)}, expected {PRETRAIN_SIZE}",
    )
    _require(
        bb.get("patch_size", 14) == PATCH_SIZE and cfg.get("patch_size", 14) == PATCH_SIZE,
        path,
        f"patch_size must be {PATCH_SIZE}",
    )
    _require(
        bb.get("mlp_ratio", 4) == 4 and bb.get("hidden_act", "gelu") == "gelu",
        path,
        "backbone mlp_ratio must be 4 and hidden_act 'gelu'",
    )
    _require(
        abs(bb.get("layer_norm_eps", 1e-6) - 1e-6) < 1e-12,
        path,
        "backbone layer_norm_eps must be 1e-6",
    )
    _require(
        bb.get("qkv_bias", True) and bb.get("apply_layernorm", True),
        path,
        "backbone must use qkv_bias and apply_layernorm",
    )
    _require(
        list(cfg.get("reassemble_factors", [4, 2, 1, 0.5])) == [4, 2, 1, 0.5],
        path,
        f"reassemble_factors {cfg.get('reassemble_factors')} differ from the official "
        "[4, 2, 1, 0.5]",
    )
    _require(
        cfg.get("head_hidden_size", 32) == 32 and cfg.get("head_in_index", -1) == -1,
        path,
        "head_hidden_size must be 32 and head_in_index -1",
    )

    embed_dim = int(bb.get("hidden_size", 768))
    depth = int(bb.get("num_hidden_layers", 12))
    num_heads = int(bb.get("num_attention_heads", 12))
    ffn = "swiglu" if bb.get("use_swiglu_ffn", False) else "mlp"
    _require(
        cfg.get("reassemble_hidden_size", 384) == embed_dim,
        path,
        f"reassemble_hidden_size {cfg.get('reassemble_hidden_size', 384)} "
        f"!= backbone hidden_size {embed_dim}",
    )
    if bb.get("out_indices") is not None:
        stages = [int(i) for i in bb["out_indices"]]
    elif bb.get("out_features") is not None:
        stages = [int(str(name).removeprefix("stage")) for name in bb["out_features"]]
    else:
        raise CheckpointError(f"{path}: backbone_config has neither out_indices nor out_features")
    _require(
        len(stages) == 4 and all(1 <= s <= depth for s in stages),
        path,
        f"backbone out_indices {stages} must be 4 stages in 1..{depth}",
    )
    taps = tuple(s - 1 for s in stages)  # stage 0 is the embedding output, stage k is block k-1
    features = int(cfg.get("fusion_hidden_size", 64))
    out_channels = tuple(int(c) for c in cfg.get("neck_hidden_sizes", (48, 96, 192, 384)))

    encoder = next(
        (
            name
            for name, p in ENCODER_PRESETS.items()
            if (p.embed_dim, p.depth, p.num_heads, p.ffn, p.features, p.out_channels)
            == (embed_dim, depth, num_heads, ffn, features, out_channels)
        ),
        "custom",
    )
    v2_taps = ENCODER_PRESETS[encoder].v2_taps if encoder != "custom" else None
    is_v1, is_v2 = taps == last_four_taps(depth), taps == v2_taps
    if version is not None and is_v1 != is_v2:
        _require(version == ("v1" if is_v1 else "v2"), path,
                 f"its taps {list(taps)} are Depth Anything {'V1' if is_v1 else 'V2'}'s, but "
                 f"version {version!r} was asked for; drop it or use a matching checkpoint")
    if version is None:
        if is_v1 != is_v2:
            version = "v1" if is_v1 else "v2"
        else:
            raise CheckpointError(
                f"{path}: taps {list(taps)} do not tell Depth Anything V1 from V2; "
                "pass version='v1' or version='v2'"
            )
    hf_type = cfg.get("depth_estimation_type", "relative")
    _require(variant is None or variant == hf_type, path,
             f"depth_estimation_type is {hf_type!r}, but variant {variant!r} was asked for; "
             "drop it or use a matching checkpoint")
    variant = hf_type
    if variant == "metric":
        max_depth = max_depth if max_depth is not None else cfg.get("max_depth")
        _require(
            max_depth is not None and float(max_depth) > 0,
            path,
            f"a metric model needs max_depth > 0 metres (config.json has {cfg.get('max_depth')!r});"
            " pass max_depth=<metres>",
        )
    else:
        if cfg.get("max_depth") not in (None, 1, 1.0):
            LOG.warning(
                "%s: relative model with max_depth %s: transformers multiplies its "
                "disparity by it, this loader does not",
                path,
                cfg.get("max_depth"),
            )
        max_depth = None
    try:
        return ModelConfig(
            encoder=encoder,
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            ffn=ffn,
            taps=taps,
            features=features,
            out_channels=out_channels,
            version=version,
            variant=variant,
            max_depth=max_depth,
            input_size=input_size or 518,
            pos_embed_interp="size",
        )
    except ValueError as error:
        raise CheckpointError(f"{path}: {error}") from error


def hf_to_official(state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """Rename (and fuse) HF keys to the official ones; an unknown key is an error."""
    out: dict[str, torch.Tensor] = {}
    parts: dict[str, dict[int, torch.Tensor]] = {}
    for key, tensor in state.items():
        if key in _FIXED:
            out[_FIXED[key]] = tensor
            continue
        block = _BLOCK.match(key)
        if block:
            index, rest = block[1], block[2]
            stem, _, leaf = rest.rpartition(".")
            if stem in _BLOCK_RENAMES:
                out[f"pretrained.blocks.{index}.{_BLOCK_RENAMES[stem]}.{leaf}"] = tensor
                continue
            if stem in _FUSED_PARTS:
                target, position = _FUSED_PARTS[stem]
                parts.setdefault(f"pretrained.blocks.{index}.{target}.{leaf}", {})[position] = (
                    tensor
                )
                continue
            if rest in _BLOCK_RENAMES:  # the layer-scale parameter has no leaf suffix
                out[f"pretrained.blocks.{index}.{_BLOCK_RENAMES[rest]}"] = tensor
                continue
        for pattern, rename in _HEAD:
            match = pattern.match(key)
            if match:
                out[rename(match)] = tensor
                break
        else:
            raise CheckpointError(
                f"{path}: unknown key {key!r} for a DepthAnythingForDepthEstimation checkpoint"
            )
    for target, pieces in parts.items():
        count = _FUSED_COUNT[".".join(target.split(".")[-3:-1])]
        if sorted(pieces) != list(range(count)):
            raise CheckpointError(
                f"{path}: {target} needs {count} parts, found parts {sorted(pieces)}"
            )
        out[target] = torch.cat([pieces[i] for i in range(count)], dim=0)
    return out
