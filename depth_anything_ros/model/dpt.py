"""DPT head with the official module names (`projects`, `resize_layers`, `scratch.*`).

Follows DA2 depth_anything_v2/dpt.py and util/blocks.py with `use_bn=False`,
`use_clstoken=False` (REFERENCE.md §1). The final activation (ReLU for relative disparity,
sigmoid × max_depth for metric) is applied by `DepthAnything`, because it is the only place
the variants differ and it carries no weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

HEAD_HIDDEN = 32  # channels between output_conv2.0 and output_conv2.2 (official head_features_2)


class ResidualConvUnit(nn.Module):
    """Pre-activation residual unit: x + conv2(relu(conv1(relu(x))))."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(features, features, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(x))
        out = self.conv2(F.relu(out))
        return out + x


class FeatureFusionBlock(nn.Module):
    """RefineNet step: add the skip (through resConfUnit1), refine, upsample, 1×1 projection."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.out_conv = nn.Conv2d(features, features, kernel_size=1)
        self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(
        self, x: torch.Tensor, skip: torch.Tensor | None = None, size: tuple[int, int] | None = None
    ) -> torch.Tensor:
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        if size is None:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        else:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=True)
        return self.out_conv(x)


class DPTHead(nn.Module):
    """Four token maps at 1/14 → one-channel map at network input resolution (pre-activation)."""

    def __init__(
        self, in_channels: int, features: int, out_channels: tuple[int, int, int, int]
    ) -> None:
        super().__init__()
        self.projects = nn.ModuleList(
            nn.Conv2d(in_channels, c, kernel_size=1) for c in out_channels
        )
        self.resize_layers = nn.ModuleList(
            [
                nn.ConvTranspose2d(out_channels[0], out_channels[0], kernel_size=4, stride=4),
                nn.ConvTranspose2d(out_channels[1], out_channels[1], kernel_size=2, stride=2),
                nn.Identity(),
                nn.Conv2d(out_channels[3], out_channels[3], kernel_size=3, stride=2, padding=1),
            ]
        )
        scratch = nn.Module()
        for index, channels in enumerate(out_channels, start=1):
            setattr(
                scratch,
                f"layer{index}_rn",
                nn.Conv2d(channels, features, kernel_size=3, padding=1, bias=False),
            )
        for index in range(1, 5):
            setattr(scratch, f"refinenet{index}", FeatureFusionBlock(features))
        scratch.output_conv1 = nn.Conv2d(features, features // 2, kernel_size=3, padding=1)
        scratch.output_conv2 = nn.Sequential(
            nn.Conv2d(features // 2, HEAD_HIDDEN, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(HEAD_HIDDEN, 1, kernel_size=1),
        )
        self.scratch = scratch

    def forward(self, tokens: list[torch.Tensor], rows: int, cols: int) -> torch.Tensor:
        """tokens: four (B, rows·cols, C) patch-token maps → (B, 1, 14·rows, 14·cols)."""
        layers = []
        for index, x in enumerate(tokens):
            x = x.transpose(1, 2).reshape(x.shape[0], x.shape[-1], rows, cols)
            layers.append(self.resize_layers[index](self.projects[index](x)))
        s = self.scratch
        layer1, layer2, layer3, layer4 = (
            s.layer1_rn(layers[0]),
            s.layer2_rn(layers[1]),
            s.layer3_rn(layers[2]),
            s.layer4_rn(layers[3]),
        )
        path4 = s.refinenet4(layer4, size=layer3.shape[2:])
        path3 = s.refinenet3(path4, layer3, size=layer2.shape[2:])
        path2 = s.refinenet2(path3, layer2, size=layer1.shape[2:])
        path1 = s.refinenet1(path2, layer1)
        out = s.output_conv1(path1)
        out = F.interpolate(out, (rows * 14, cols * 14), mode="bilinear", align_corners=True)
        return s.output_conv2(out)
