"""Load and save Depth Anything weights strictly and safely.

Accepted: official state_dicts (.pth/.pt, or the same keys in .safetensors), Hugging Face
`DepthAnythingForDepthEstimation` directories, and our own .safetensors whose metadata holds
the full ModelConfig. V1/V2 and relative/metric files have identical keys (REFERENCE.md §2),
so those facts come from our metadata, the official file name or an explicit argument —
never from a guess. Every rejection is a CheckpointError naming the file and the reason.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any, Mapping

import torch

from depth_anything_ros.atomic_file import atomic_path
from depth_anything_ros.geometry.focal import OFFICIAL_TRAINING_CAMERAS, TRAINING_CAMERA

from .depth_anything import ENCODER_PRESETS, DepthAnything, ModelConfig
from .hf_checkpoint import HF_WEIGHTS, hf_model_config, hf_to_official, is_hf_directory
from .state_dicts import (
    CheckpointError,
    describe_mismatch,
    read_safetensors,
    read_safetensors_header,
    read_torch_state_dict,
    require_existing,
    shapes_of,
)

LOG = logging.getLogger(__name__)

FORMAT = "depth_anything_ros"
PACKAGE = "depth_anything_ros"
DEFAULT_WEIGHTS = Path("models") / "default.safetensors"

# Official release file names (REFERENCE.md §2) → what the keys cannot tell.
_OFFICIAL_NAMES = [
    (re.compile(r"^depth_anything_v2_metric_(hypersim|vkitti)_(vit[sblg])\.pth$"), "v2", "metric"),
    (re.compile(r"^depth_anything_v2_(vit[sblg])\.pth$"), "v2", "relative"),
    (re.compile(r"^depth_anything_(vit[sbl])14\.pth$"), "v1", "relative"),
]
_METRIC_MAX_DEPTH = {"hypersim": 20.0, "vkitti": 80.0}

PathLike = str | os.PathLike


def official_name_facts(path: Path) -> dict[str, Any]:
    """version/variant/max_depth implied by an official release file name ({} if not official).

    Metric files also name their training camera (Hypersim, VKITTI2): its normalised focal.
    """
    for pattern, version, variant in _OFFICIAL_NAMES:
        match = pattern.match(path.name)
        if match:
            facts: dict[str, Any] = {"version": version, "variant": variant}
            if variant == "metric":
                facts["max_depth"] = _METRIC_MAX_DEPTH[match[1]]
                facts["canonical_focal"] = OFFICIAL_TRAINING_CAMERAS[match[1]].focal
            return facts
    return {}


@functools.lru_cache(maxsize=32)
def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Key → shape of the network `config` describes, built on the meta device (no memory, fast)."""
    with torch.device("meta"):
        return shapes_of(DepthAnything(config).state_dict())


def architecture_from_shapes(shapes: Mapping[str, tuple[int, ...]], path: Path) -> dict[str, Any]:
    """Encoder size and head widths read from an official-layout state_dict's tensor shapes."""
    cls = shapes.get("pretrained.cls_token")
    if cls is None or len(cls) != 3:
        first = list(shapes)[:5]
        raise CheckpointError(
            f"{path}: no 'pretrained.cls_token', so this is not a Depth Anything state_dict "
            f"(first keys: {first})"
        )
    embed_dim = cls[-1]
    blocks = {int(m[1]) for k in shapes if (m := re.match(r"^pretrained\.blocks\.(\d+)\.", k))}
    depth = max(blocks) + 1 if blocks else 0
    ffn = "swiglu" if "pretrained.blocks.0.mlp.w12.weight" in shapes else "mlp"
    try:
        features = shapes["depth_head.scratch.layer1_rn.weight"][0]
        out_channels = tuple(shapes[f"depth_head.projects.{i}.weight"][0] for i in range(4))
    except KeyError as error:
        raise CheckpointError(f"{path}: DPT head key {error.args[0]!r} is missing") from error
    for name, p in ENCODER_PRESETS.items():
        if (p.embed_dim, p.depth, p.ffn, p.features, p.out_channels) == (
            embed_dim,
            depth,
            ffn,
            features,
            out_channels,
        ):
            return {"encoder": name}
    raise CheckpointError(
        f"{path}: encoder width {embed_dim}, {depth} blocks, ffn {ffn}, head features {features}, "
        f"out_channels {list(out_channels)} match no preset ({', '.join(ENCODER_PRESETS)}); "
        f"the head count cannot be "
        f"read from shapes, so save such a model with save_model() to keep its config"
    )


def _official_config(
    path: Path,
    shapes: Mapping[str, tuple[int, ...]],
    version: str | None,
    variant: str | None,
    max_depth: float | None,
    input_size: int | None,
) -> ModelConfig:
    arch = architecture_from_shapes(shapes, path)
    facts = official_name_facts(path)
    for name, given in (("version", version), ("variant", variant)):
        if given is not None and facts.get(name) not in (None, given):
            LOG.warning(
                "%s: file name implies %s=%s, using the explicit %s=%s",
                path,
                name,
                facts[name],
                name,
                given,
            )
    version = version or facts.get("version")
    variant = variant or facts.get("variant")
    if version is None:
        raise CheckpointError(
            f"{path}: Depth Anything V1 and V2 state_dicts have identical keys, so the version "
            f"cannot be read from the file; pass version='v1' or version='v2' "
            f"(and variant='relative' or 'metric', with max_depth for "
            f"metric models)"
        )
    if variant is None:
        raise CheckpointError(
            f"{path}: relative and metric state_dicts have identical keys; "
            f"pass variant='relative' or "
            f"variant='metric' (with max_depth=<metres>, 20 for Hypersim and 80 for VKITTI2 models)"
        )
    if variant == "metric":
        max_depth = max_depth if max_depth is not None else facts.get("max_depth")
        if max_depth is None:
            raise CheckpointError(
                f"{path}: a metric model needs max_depth; pass max_depth=<metres> "
                f"(20 for Hypersim, 80 for VKITTI2 models)"
            )
    else:
        max_depth = None
    focal = facts.get("canonical_focal") if variant == "metric" else None
    try:
        return ModelConfig.preset(
            arch["encoder"],
            version=version,
            variant=variant,
            max_depth=max_depth,
            input_size=input_size or 518,
            canonical_focal=focal,
            focal_origin=TRAINING_CAMERA if focal is not None else None,
        )
    except ValueError as error:
        raise CheckpointError(f"{path}: {error}") from error


def _our_config(
    path: Path,
    metadata: Mapping[str, str],
    version: str | None,
    variant: str | None,
    max_depth: float | None,
    input_size: int | None,
) -> ModelConfig:
    try:
        config = ModelConfig.from_dict(json.loads(metadata["config"]))
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(
            f"{path}: metadata 'config' is missing or invalid ({error})"
        ) from error
    if config.input_size % 14:
        raise CheckpointError(f"{path}: metadata input_size {config.input_size} is not a "
                              "multiple of 14 (the ViT patch size); the file is damaged")
    for name, given in (("version", version), ("variant", variant)):
        if given is not None and given != getattr(config, name):
            raise CheckpointError(
                f"{path}: metadata says {name}={getattr(config, name)!r} but {name}={given!r} "
                f"was passed; drop the argument or use a matching checkpoint"
            )
    changes: dict[str, Any] = {}
    if max_depth is not None and config.variant == "metric" and max_depth != config.max_depth:
        LOG.info("%s: overriding max_depth %s with %s", path, config.max_depth, max_depth)
        changes["max_depth"] = max_depth
    if input_size is not None:
        changes["input_size"] = input_size
    try:
        return config.replace(**changes) if changes else config
    except ValueError as error:
        raise CheckpointError(f"{path}: {error}") from error


def config_from_file_facts(
    path: PathLike,
    metadata: Mapping[str, str],
    shapes: Mapping[str, tuple[int, ...]],
    *,
    version: str | None = None,
    variant: str | None = None,
    max_depth: float | None = None,
    input_size: int | None = None,
) -> ModelConfig:
    """The config of a file that is not a checkpoint (an ONNX/OpenVINO export): from our
    metadata when it has it, else from its weight shapes and the arguments, with the same rules
    and errors as for our .safetensors and official state_dicts."""
    path = Path(path)
    if metadata.get("format") == FORMAT:
        return _our_config(path, metadata, version, variant, max_depth, input_size)
    return _official_config(path, shapes, version, variant, max_depth, input_size)


def _resolve(
    path: Path,
    version: str | None,
    variant: str | None,
    max_depth: float | None,
    input_size: int | None,
    with_tensors: bool,
) -> tuple[ModelConfig, dict[str, Any]]:
    """(config, state) for any supported file; state holds shapes unless with_tensors."""
    if path.is_dir():
        if not is_hf_directory(path):
            raise CheckpointError(
                f"{path}: a directory must hold a Hugging Face config.json and {HF_WEIGHTS}"
            )
        config = hf_model_config(
            path, version=version, variant=variant, max_depth=max_depth, input_size=input_size
        )
        weights = path / HF_WEIGHTS
        if not weights.exists():
            raise CheckpointError(
                f"{weights}: no such file (sharded or .bin HF checkpoints are not supported)"
            )
        tensors, _ = read_safetensors(weights)
        return config, hf_to_official(tensors, weights)
    if path.suffix.lower() == ".safetensors":
        if with_tensors:
            state, metadata = read_safetensors(path)
        else:
            state, metadata = read_safetensors_header(path)
        if metadata.get("format") == FORMAT:
            return _our_config(path, metadata, version, variant, max_depth, input_size), state
        shapes = state if not with_tensors else shapes_of(state)
        return _official_config(path, shapes, version, variant, max_depth, input_size), state
    state = read_torch_state_dict(path)
    return _official_config(path, shapes_of(state), version, variant, max_depth, input_size), state


def _check_layout(config: ModelConfig, shapes: Mapping[str, tuple[int, ...]], path: Path) -> None:
    mismatch = describe_mismatch(expected_shapes(config), shapes)
    if mismatch:
        raise CheckpointError(f"{path}: does not match the {config.encoder} layout: {mismatch}")


def inspect_checkpoint(
    path: PathLike,
    *,
    version: str | None = None,
    variant: str | None = None,
    max_depth: float | None = None,
    input_size: int | None = None,
) -> ModelConfig:
    """The ModelConfig a checkpoint would load with; keys and shapes are checked too."""
    path = Path(path)
    require_existing(path, "no such file or directory")
    config, state = _resolve(path, version, variant, max_depth, input_size, with_tensors=False)
    shapes = {
        k: tuple(v.shape) if isinstance(v, torch.Tensor) else tuple(v) for k, v in state.items()
    }
    shapes.setdefault("pretrained.mask_token", (1, config.embed_dim))
    _check_layout(config, shapes, path)
    return config


def model_from_state(
    config: ModelConfig,
    state: dict[str, torch.Tensor],
    path: PathLike,
    map_location: str | torch.device = "cpu",
) -> DepthAnything:
    """Build `config`'s network around `state` (strict: same keys and shapes), in eval mode."""
    path = Path(path)
    state = dict(state)
    # mask_token is a training-only parameter some exports (HF use_mask_token=False) omit.
    state.setdefault("pretrained.mask_token", torch.zeros(1, config.embed_dim))
    _check_layout(config, shapes_of(state), path)
    with torch.device("meta"):
        model = DepthAnything(config)
    for key, value in state.items():  # strict about values too: a wrong model must not load
        if not value.is_floating_point():
            raise CheckpointError(f"{path}: {key} holds {value.dtype} values; weights must be "
                                  "floating point")
        if not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{path}: {key} holds NaN or infinite values (a diverged "
                                  "training run?)")
    state = {k: v.float().contiguous() for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=True)
    return model.to(map_location).eval()


def load_model(
    path: PathLike,
    *,
    version: str | None = None,
    variant: str | None = None,
    max_depth: float | None = None,
    input_size: int | None = None,
    map_location: str | torch.device = "cpu",
) -> DepthAnything:
    """Load any supported checkpoint strictly; see the module docstring."""
    path = Path(path)
    require_existing(path, "no such file or directory")
    config, state = _resolve(path, version, variant, max_depth, input_size, with_tensors=True)
    model = model_from_state(config, state, path, map_location)
    LOG.info("%s: loaded %s %s %s model", path, config.encoder, config.version, config.variant)
    return model


def save_model(model: DepthAnything, path: PathLike, *, provenance: dict | None = None,
               dtype: torch.dtype | None = None) -> None:
    """Write our .safetensors (weights + JSON config, provenance) atomically (tmp + os.replace).

    `dtype` (e.g. torch.float16) stores floating tensors smaller, for a shipped model; loading
    always casts back to float32.
    """
    from safetensors.torch import save_file

    path = Path(path)
    state = {}
    for key, value in model.state_dict().items():
        value = value.detach().to("cpu", copy=True)
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        state[key] = value.contiguous()
    metadata = {
        "format": FORMAT,
        "config": json.dumps(model.config.to_dict(), sort_keys=True),
        "provenance": json.dumps(provenance or {}, sort_keys=True, default=str),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, durable=True) as tmp:
        save_file(state, str(tmp), metadata=metadata)


def read_provenance(path: PathLike) -> dict[str, Any]:
    """The provenance dict stored by save_model ({} for other formats)."""
    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        return {}
    _, metadata = read_safetensors_header(path)
    try:
        return json.loads(metadata.get("provenance", "{}"))
    except json.JSONDecodeError as error:
        raise CheckpointError(
            f"{path}: metadata 'provenance' is not valid JSON ({error})"
        ) from error


def load_dinov2_backbone(model: DepthAnything, path: PathLike) -> None:
    """Initialise `model.pretrained` from a DINOv2 backbone state_dict (hub keys, no prefix).

    Also accepts a full Depth Anything state_dict (its `pretrained.*` part). The encoder size must
    match; `mask_token` may be absent (kept as is); register tokens (DINOv2-reg) do not fit.
    """
    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        state, _ = read_safetensors(path)
    else:
        state = read_torch_state_dict(path)
    if any(k.startswith("pretrained.") for k in state):
        state = {
            k[len("pretrained.") :]: v for k, v in state.items() if k.startswith("pretrained.")
        }
    if "register_tokens" in state:
        raise CheckpointError(
            f"{path}: has register_tokens (DINOv2 with registers); Depth Anything's encoder "
            f"has none"
        )
    expected = shapes_of(model.pretrained.state_dict())
    found = shapes_of(state)
    found.setdefault("mask_token", expected["mask_token"])
    mismatch = describe_mismatch(expected, found)
    if mismatch:
        raise CheckpointError(
            f"{path}: does not fit the {model.config.encoder} encoder: {mismatch}"
        )
    missing_ok = [] if "mask_token" in state else ["mask_token"]
    with torch.no_grad():
        result = model.pretrained.load_state_dict(state, strict=False)
    if result.missing_keys != missing_ok or result.unexpected_keys:
        raise CheckpointError(f"{path}: encoder keys differ: {result}")


def default_weights_path() -> Path:
    """The shipped model: models/ of a source checkout, else the installed share directory."""
    root = Path(__file__).resolve().parents[2]
    if (root / "package.xml").is_file() and (root / "setup.py").is_file():
        return root / DEFAULT_WEIGHTS
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            return Path(get_package_share_directory(PACKAGE)) / DEFAULT_WEIGHTS
        except PackageNotFoundError:
            pass
    except ImportError:
        pass
    return Path(sys.prefix) / "share" / PACKAGE / DEFAULT_WEIGHTS
