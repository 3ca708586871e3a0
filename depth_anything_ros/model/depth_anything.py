"""Depth Anything = DINOv2 encoder + DPT head; sizes and variants as data.

`ModelConfig` says everything needed to rebuild a network and interpret its output, and is
what our checkpoints store as metadata. V1 and V2 differ only in the encoder taps (V1: the
last four blocks; V2: the per-size taps of REFERENCE.md §1) and in post-processing (V1
upsamples with align_corners False); V2 metric differs from relative only in the last
activation: sigmoid × max_depth (metres) instead of ReLU (non-negative disparity).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from depth_anything_ros.geometry.focal import CANONICAL, TRAINING_CAMERA

from .dinov2 import PATCH_SIZE, DinoVisionTransformer
from .dpt import DPTHead


@dataclass(frozen=True)
class EncoderPreset:
    """One encoder size with its official DPT head (REFERENCE.md §1)."""

    embed_dim: int
    depth: int
    num_heads: int
    ffn: str
    v2_taps: tuple[int, int, int, int]
    features: int
    out_channels: tuple[int, int, int, int]
    official: bool = True


ENCODER_PRESETS: dict[str, EncoderPreset] = {
    "vits": EncoderPreset(384, 12, 6, "mlp", (2, 5, 8, 11), 64, (48, 96, 192, 384)),
    "vitb": EncoderPreset(768, 12, 12, "mlp", (2, 5, 8, 11), 128, (96, 192, 384, 768)),
    "vitl": EncoderPreset(1024, 24, 16, "mlp", (4, 11, 17, 23), 256, (256, 512, 1024, 1024)),
    "vitg": EncoderPreset(1536, 40, 24, "swiglu", (9, 19, 29, 39), 384, (1536, 1536, 1536, 1536)),
    # Not official: small sizes for the shipped robot model and for fast tests.
    "vitt": EncoderPreset(192, 12, 3, "mlp", (2, 5, 8, 11), 32, (24, 48, 96, 192), official=False),
    "vitpico": EncoderPreset(64, 4, 2, "mlp", (0, 1, 2, 3), 16, (16, 32, 64, 64), official=False),
}

VERSIONS = ("v1", "v2")
FOCAL_ORIGINS = (CANONICAL, TRAINING_CAMERA)
VARIANTS = ("relative", "metric")
POS_EMBED_INTERPS = ("official", "size")


def last_four_taps(depth: int) -> tuple[int, int, int, int]:
    """V1's taps: the last four blocks (DA1 `get_intermediate_layers(x, 4)`)."""
    return (depth - 4, depth - 3, depth - 2, depth - 1)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture + output semantics of one Depth Anything network (JSON-safe via to_dict)."""

    encoder: str
    embed_dim: int
    depth: int
    num_heads: int
    ffn: str
    taps: tuple[int, int, int, int]
    features: int
    out_channels: tuple[int, int, int, int]
    version: str = "v2"
    variant: str = "relative"
    max_depth: float | None = None
    input_size: int = 518
    pos_embed_interp: str = "official"
    # Metric models: the normalised focal (fx / shorter image side) whose depths the network
    # outputs, and where it came from ("canonical": trained on d·f_c/f targets; "training_camera":
    # trained on one camera). None = unknown: no focal correction is possible.
    canonical_focal: float | None = None
    focal_origin: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "taps", tuple(int(t) for t in self.taps))
        object.__setattr__(self, "out_channels", tuple(int(c) for c in self.out_channels))
        if self.max_depth is not None:
            object.__setattr__(self, "max_depth", float(self.max_depth))
        if self.canonical_focal is not None:
            object.__setattr__(self, "canonical_focal", float(self.canonical_focal))
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the field when the combination cannot be built or interpreted."""
        if self.version not in VERSIONS:
            raise ValueError(f"version must be one of {VERSIONS}, got {self.version!r}")
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.variant == "metric" and not (self.max_depth and self.max_depth > 0):
            raise ValueError(
                "max_depth must be a positive number of metres for a metric model, "
                f"got {self.max_depth!r}"
            )
        if self.ffn not in ("mlp", "swiglu"):
            raise ValueError(f"ffn must be 'mlp' or 'swiglu', got {self.ffn!r}")
        if self.pos_embed_interp not in POS_EMBED_INTERPS:
            raise ValueError(
                f"pos_embed_interp must be one of {POS_EMBED_INTERPS}, "
                f"got {self.pos_embed_interp!r}"
            )
        if len(self.taps) != 4 or not all(0 <= t < self.depth for t in self.taps):
            raise ValueError(f"taps must be 4 block indices in [0, {self.depth}), got {self.taps}")
        if len(self.out_channels) != 4:
            raise ValueError(f"out_channels must hold 4 ints, got {self.out_channels}")
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}"
            )
        if self.input_size < PATCH_SIZE:
            raise ValueError(f"input_size must be at least {PATCH_SIZE}, got {self.input_size}")
        self._validate_focal()

    def _validate_focal(self) -> None:
        if (self.canonical_focal is None) != (self.focal_origin is None):
            raise ValueError(
                "canonical_focal and focal_origin go together: both set or both None, got "
                f"{self.canonical_focal!r} and {self.focal_origin!r}"
            )
        if self.canonical_focal is None:
            return
        if self.variant != "metric":
            raise ValueError("canonical_focal is meaningful for metric models only")
        if not (math.isfinite(self.canonical_focal) and self.canonical_focal > 0):
            raise ValueError(
                f"canonical_focal must be a normalised focal > 0, got {self.canonical_focal!r}"
            )
        if self.focal_origin not in FOCAL_ORIGINS:
            raise ValueError(
                f"focal_origin must be one of {FOCAL_ORIGINS}, got {self.focal_origin!r}"
            )

    @classmethod
    def preset(
        cls,
        encoder: str,
        version: str = "v2",
        variant: str = "relative",
        max_depth: float | None = None,
        input_size: int = 518,
        pos_embed_interp: str = "official",
        canonical_focal: float | None = None,
        focal_origin: str | None = None,
    ) -> "ModelConfig":
        """The official (or small test) configuration of `encoder` for one version/variant."""
        if encoder not in ENCODER_PRESETS:
            raise ValueError(f"unknown encoder {encoder!r}; presets: {', '.join(ENCODER_PRESETS)}")
        p = ENCODER_PRESETS[encoder]
        taps = last_four_taps(p.depth) if version == "v1" else p.v2_taps
        return cls(
            encoder=encoder,
            embed_dim=p.embed_dim,
            depth=p.depth,
            num_heads=p.num_heads,
            ffn=p.ffn,
            taps=taps,
            features=p.features,
            out_channels=p.out_channels,
            version=version,
            variant=variant,
            max_depth=max_depth,
            input_size=input_size,
            pos_embed_interp=pos_embed_interp,
            canonical_focal=canonical_focal,
            focal_origin=focal_origin,
        )

    def replace(self, **changes: Any) -> "ModelConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["taps"] = list(self.taps)
        data["out_channels"] = list(self.out_channels)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        """Inverse of to_dict; unknown keys are an error so a typo cannot pass silently."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown ModelConfig fields {unknown}")
        missing = sorted(
            n
            for n in (
                "encoder",
                "embed_dim",
                "depth",
                "num_heads",
                "ffn",
                "taps",
                "features",
                "out_channels",
            )
            if n not in data
        )
        if missing:
            raise ValueError(f"ModelConfig is missing fields {missing}")
        return cls(**data)


class DepthAnything(nn.Module):
    """The network: `pretrained` (encoder) and `depth_head`, so keys equal the official ones."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.pretrained = DinoVisionTransformer(
            config.embed_dim, config.depth, config.num_heads, config.ffn, config.pos_embed_interp
        )
        self.depth_head = DPTHead(config.embed_dim, config.features, config.out_channels)

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B,3,H,W) normalised, H,W multiples of 14 → (depth (B,H,W), features (B,C,H/14,W/14)).

        The features are the last tap's patch tokens after the final norm (for feature alignment).
        """
        rows, cols = x.shape[-2] // PATCH_SIZE, x.shape[-1] // PATCH_SIZE
        taps = self.pretrained.get_intermediate_layers(x, self.config.taps)
        raw = self.depth_head([patch for patch, _cls in taps], rows, cols)
        if self.config.variant == "metric":
            depth = torch.sigmoid(raw) * self.config.max_depth
        else:
            depth = F.relu(raw)
        last = taps[-1][0]
        features = last.transpose(1, 2).reshape(last.shape[0], last.shape[-1], rows, cols)
        return depth.squeeze(1), features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B,3,H,W) normalised, H,W multiples of 14 → (B,H,W) metres or relative disparity."""
        return self.forward_with_features(x)[0]
