"""DINOv2 ViT encoder with the official module names, so official state_dicts load strictly.

Numerics follow DA2 depth_anything_v2/dinov2.py (REFERENCE.md §1): patch 14, LayerScale,
qkv bias, LayerNorm eps 1e-6, fused SwiGLU for vitg, a 37×37 position grid trained at 518,
and the official bicubic position-embedding interpolation. Attention runs through
`F.scaled_dot_product_attention`, which is numerically the official softmax(q·kᵀ/√d)·v.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

PATCH_SIZE = 14
PRETRAIN_SIZE = 518  # the position grid is PRETRAIN_SIZE / PATCH_SIZE = 37 per side
INTERPOLATE_OFFSET = 0.1  # official work-around for float error (facebookresearch/dino #8)

PosEmbedInterp = Literal["official", "size"]


class PatchEmbed(nn.Module):
    """Non-overlapping 14×14 patches → tokens (B, N, C)."""

    def __init__(self, embed_dim: int, patch_size: int = PATCH_SIZE) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention with one fused qkv projection (official key `attn.qkv`)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = (
            self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        )
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    """The 4× GELU MLP of vits/vitb/vitl."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SwiGLUFused(nn.Module):
    """vitg's FFN: one fused input projection `w12` split into gate and value halves."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        hidden = (int(hidden * 2 / 3) + 7) // 8 * 8  # official rounding: 4·1536 → 4096
        self.w12 = nn.Linear(dim, 2 * hidden)
        self.w3 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, value = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(gate) * value)


class LayerScale(nn.Module):
    """Per-channel residual scale; official key `gamma`, initialised to 1.0 in DA."""

    def __init__(self, dim: int, init_value: float = 1.0) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Block(nn.Module):
    """Pre-norm transformer block: x + ls1(attn(norm1 x)), then x + ls2(mlp(norm2 x))."""

    def __init__(self, dim: int, num_heads: int, ffn: str) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = SwiGLUFused(dim, 4 * dim) if ffn == "swiglu" else Mlp(dim, 4 * dim)
        self.ls2 = LayerScale(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


def interpolate_pos_embed(
    pos_embed: torch.Tensor,
    rows: int,
    cols: int,
    height: int,
    width: int,
    mode: PosEmbedInterp = "official",
) -> torch.Tensor:
    """Resample the (1, 1+G², C) position table to a rows×cols patch grid.

    "official": DINOv2/DA code — bicubic with scale_factor ((rows+0.1)/G, (cols+0.1)/G), no
    antialias, in float32; the table is returned untouched only when the grid size matches and
    the image is square. "size": transformers' Dinov2 — bicubic to size=(rows, cols), which gives
    slightly different numbers; HF checkpoints use it so they reproduce transformers exactly.
    """
    grid_tokens = pos_embed.shape[1] - 1
    if torch.jit.is_tracing():  # sizes arrive as tensors; a trace is for one shape anyway
        rows, cols, height, width = int(rows), int(cols), int(height), int(width)
    symbolic = isinstance(rows, torch.SymInt) or isinstance(cols, torch.SymInt)
    if not symbolic and grid_tokens == rows * cols and height == width:
        return pos_embed
    grid = int(math.sqrt(grid_tokens))
    dim = pos_embed.shape[-1]
    table = pos_embed.float()
    patch_table = table[:, 1:].reshape(1, grid, grid, dim).permute(0, 3, 1, 2)
    if symbolic:  # a dynamic-shape export (torch.export with symbolic H, W)
        patch_table = _bicubic_resize_symbolic(patch_table, rows, cols, mode)
    elif mode == "official":
        scale = ((rows + INTERPOLATE_OFFSET) / grid, (cols + INTERPOLATE_OFFSET) / grid)
        patch_table = F.interpolate(
            patch_table, scale_factor=scale, mode="bicubic", antialias=False
        )
    elif mode == "size":
        patch_table = F.interpolate(
            patch_table, size=(rows, cols), mode="bicubic", align_corners=False
        )
    else:
        raise ValueError(f"pos_embed_interp must be 'official' or 'size', got {mode!r}")
    if patch_table.shape[-2:] != (rows, cols):
        raise RuntimeError(
            f"position grid resized to {tuple(patch_table.shape[-2:])}, expected {(rows, cols)}"
        )
    patch_table = patch_table.permute(0, 2, 3, 1).reshape(1, rows * cols, dim)
    return torch.cat((table[:, :1], patch_table), dim=1).to(pos_embed.dtype)


def _cubic_weights_matrix(out_size, in_size: int, scale) -> torch.Tensor:
    """(out_size, in_size) matrix of torch's bicubic resampling along one axis (a = -0.75,
    half-pixel centres, edge clamping); `scale` = output/input as F.interpolate takes it."""
    a = -0.75
    src = (torch.arange(out_size, dtype=torch.float32) + 0.5) * (1.0 / scale) - 0.5
    base = torch.floor(src)
    t = src - base
    u = 1.0 - t
    w0 = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a
    w1 = ((a + 2) * t - (a + 3)) * t * t + 1
    w2 = ((a + 2) * u - (a + 3)) * u * u + 1
    weights = (w0, w1, w2, 1.0 - w0 - w1 - w2)
    columns = torch.arange(in_size, dtype=torch.float32)
    matrix = torch.zeros(out_size, in_size)
    for k, w in enumerate(weights):
        index = torch.clamp(base + (k - 1), 0, in_size - 1)
        matrix = matrix + w[:, None] * (index[:, None] == columns[None, :]).float()
    return matrix


def _bicubic_resize_symbolic(table: torch.Tensor, rows, cols, mode: PosEmbedInterp
                             ) -> torch.Tensor:
    """The bicubic resize of `interpolate_pos_embed` written as two matrix products, so an
    export keeps rows and cols symbolic. (F.interpolate with a scale_factor derived from the
    input size has its output size traced as a constant: a dynamic ONNX would silently use the
    grid of the example input.) Equal to F.interpolate within float rounding (~1e-6)."""
    grid_rows, grid_cols = table.shape[-2:]
    if mode == "official":
        row_scale = (rows + INTERPOLATE_OFFSET) / grid_rows
        col_scale = (cols + INTERPOLATE_OFFSET) / grid_cols
    else:
        row_scale, col_scale = rows / grid_rows, cols / grid_cols
    row_matrix = _cubic_weights_matrix(rows, grid_rows, row_scale)
    col_matrix = _cubic_weights_matrix(cols, grid_cols, col_scale)
    return torch.einsum("rg,bcgh,sh->bcrs", row_matrix, table, col_matrix)


class DinoVisionTransformer(nn.Module):
    """DINOv2 backbone as DA builds it (`block_chunks=0`, no registers, init_values 1.0)."""

    def __init__(
        self,
        embed_dim: int,
        depth: int,
        num_heads: int,
        ffn: str = "mlp",
        pos_embed_interp: PosEmbedInterp = "official",
    ) -> None:
        super().__init__()
        grid = PRETRAIN_SIZE // PATCH_SIZE
        self.embed_dim = embed_dim
        self.patch_size = PATCH_SIZE
        self.pos_embed_interp = pos_embed_interp
        self.patch_embed = PatchEmbed(embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, embed_dim))
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, ffn) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.mask_token = nn.Parameter(
            torch.zeros(1, embed_dim)
        )  # unused at inference; official key
        self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        """Official timm-style init: matters for training from scratch, not for loading."""
        if self.pos_embed.is_meta:
            return
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    def prepare_tokens(self, x: torch.Tensor) -> torch.Tensor:
        _, _, height, width = x.shape
        rows, cols = height // self.patch_size, width // self.patch_size
        tokens = self.patch_embed(x)
        tokens = torch.cat(
            (self.cls_token.expand(tokens.shape[0], -1, -1).to(tokens.dtype), tokens), dim=1
        )
        pos = interpolate_pos_embed(
            self.pos_embed, rows, cols, height, width, self.pos_embed_interp
        )
        return tokens + pos.to(tokens.dtype)

    def get_intermediate_layers(
        self, x: torch.Tensor, taps: tuple[int, ...] | list[int]
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(patch tokens (B, N, C), cls token (B, C)) after the final norm, per tapped block."""
        if x.shape[-2] % self.patch_size or x.shape[-1] % self.patch_size:
            raise ValueError(
                f"input height and width must be multiples of {self.patch_size}, "
                f"got {tuple(x.shape[-2:])}"
            )
        wanted = set(taps)
        last = max(taps)
        tokens = self.prepare_tokens(x)
        taken: dict[int, torch.Tensor] = {}
        for index, block in enumerate(self.blocks):
            tokens = block(tokens)
            if index in wanted:
                taken[index] = tokens
            if index == last:
                break
        outputs = []
        for index in taps:
            normed = self.norm(taken[index])
            outputs.append((normed[:, 1:], normed[:, 0]))
        return outputs
