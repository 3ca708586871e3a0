"""The network has the official layout and numerics (REFERENCE.md §1-2).

The expected layout below is written from the reference tables, independently of the model
code, so a renamed module or a wrong width fails here. Big sizes are built on the meta device.
"""

import json
import math

import pytest
import torch

from depth_anything_ros.model import ENCODER_PRESETS, DepthAnything, ModelConfig
from depth_anything_ros.model.dinov2 import _bicubic_resize_symbolic, interpolate_pos_embed

OFFICIAL = {  # size: (dim, depth, ffn, features, out_channels, keys, params) — REFERENCE.md §1-2
    "vits": (384, 12, "mlp", 64, (48, 96, 192, 384), 239, 24_785_089),
    "vitb": (768, 12, "mlp", 128, (96, 192, 384, 768), 239, 97_470_785),
    "vitl": (1024, 24, "mlp", 256, (256, 512, 1024, 1024), 407, 335_315_649),
    "vitg": (1536, 40, "swiglu", 384, (1536, 1536, 1536, 1536), 631, 1_258_132_225),
}


def official_layout(dim, depth, ffn, features, out_channels):
    """Key → shape of an official Depth Anything state_dict, from the documented structure."""
    keys = {
        "pretrained.cls_token": (1, 1, dim),
        "pretrained.pos_embed": (1, 37 * 37 + 1, dim),
        "pretrained.mask_token": (1, dim),
        "pretrained.patch_embed.proj.weight": (dim, 3, 14, 14),
        "pretrained.patch_embed.proj.bias": (dim,),
        "pretrained.norm.weight": (dim,),
        "pretrained.norm.bias": (dim,),
    }
    swiglu_hidden = (int(4 * dim * 2 / 3) + 7) // 8 * 8
    for i in range(depth):
        b = f"pretrained.blocks.{i}."
        keys.update(
            {
                b + "norm1.weight": (dim,),
                b + "norm1.bias": (dim,),
                b + "norm2.weight": (dim,),
                b + "norm2.bias": (dim,),
                b + "attn.qkv.weight": (3 * dim, dim),
                b + "attn.qkv.bias": (3 * dim,),
                b + "attn.proj.weight": (dim, dim),
                b + "attn.proj.bias": (dim,),
                b + "ls1.gamma": (dim,),
                b + "ls2.gamma": (dim,),
            }
        )
        if ffn == "mlp":
            keys.update(
                {
                    b + "mlp.fc1.weight": (4 * dim, dim),
                    b + "mlp.fc1.bias": (4 * dim,),
                    b + "mlp.fc2.weight": (dim, 4 * dim),
                    b + "mlp.fc2.bias": (dim,),
                }
            )
        else:
            keys.update(
                {
                    b + "mlp.w12.weight": (2 * swiglu_hidden, dim),
                    b + "mlp.w12.bias": (2 * swiglu_hidden,),
                    b + "mlp.w3.weight": (dim, swiglu_hidden),
                    b + "mlp.w3.bias": (dim,),
                }
            )
    h, f, oc = "depth_head.", features, out_channels
    for i, c in enumerate(oc):
        keys[f"{h}projects.{i}.weight"] = (c, dim, 1, 1)
        keys[f"{h}projects.{i}.bias"] = (c,)
        keys[f"{h}scratch.layer{i + 1}_rn.weight"] = (f, c, 3, 3)
    keys.update(
        {
            h + "resize_layers.0.weight": (oc[0], oc[0], 4, 4),
            h + "resize_layers.0.bias": (oc[0],),
            h + "resize_layers.1.weight": (oc[1], oc[1], 2, 2),
            h + "resize_layers.1.bias": (oc[1],),
            h + "resize_layers.3.weight": (oc[3], oc[3], 3, 3),
            h + "resize_layers.3.bias": (oc[3],),
            h + "scratch.output_conv1.weight": (f // 2, f, 3, 3),
            h + "scratch.output_conv1.bias": (f // 2,),
            h + "scratch.output_conv2.0.weight": (32, f // 2, 3, 3),
            h + "scratch.output_conv2.0.bias": (32,),
            h + "scratch.output_conv2.2.weight": (1, 32, 1, 1),
            h + "scratch.output_conv2.2.bias": (1,),
        }
    )
    for r in range(1, 5):
        n = f"{h}scratch.refinenet{r}."
        keys[n + "out_conv.weight"], keys[n + "out_conv.bias"] = (f, f, 1, 1), (f,)
        for unit in (1, 2):
            for conv in (1, 2):
                keys[f"{n}resConfUnit{unit}.conv{conv}.weight"] = (f, f, 3, 3)
                keys[f"{n}resConfUnit{unit}.conv{conv}.bias"] = (f,)
    return keys


def meta_model(config):
    with torch.device("meta"):
        return DepthAnything(config)


@pytest.mark.parametrize("size", list(OFFICIAL))
def test_state_dict_keys_shapes_and_param_count_equal_official_layout(size):
    dim, depth, ffn, features, out_channels, n_keys, n_params = OFFICIAL[size]
    model = meta_model(ModelConfig.preset(size))
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    expected = official_layout(dim, depth, ffn, features, out_channels)
    assert len(expected) == n_keys
    assert ours == expected
    assert sum(p.numel() for p in model.parameters()) == n_params


def test_v1_taps_are_last_four_blocks_and_v2_taps_are_the_official_presets():
    assert ModelConfig.preset("vits", "v1").taps == (8, 9, 10, 11)
    assert ModelConfig.preset("vitl", "v1").taps == (20, 21, 22, 23)
    assert ModelConfig.preset("vits", "v2").taps == (2, 5, 8, 11)
    assert ModelConfig.preset("vitb", "v2").taps == (2, 5, 8, 11)
    assert ModelConfig.preset("vitl", "v2").taps == (4, 11, 17, 23)
    assert ModelConfig.preset("vitg", "v2").taps == (9, 19, 29, 39)


def test_small_presets_have_documented_sizes():
    assert (
        ENCODER_PRESETS["vitt"].embed_dim,
        ENCODER_PRESETS["vitt"].depth,
        ENCODER_PRESETS["vitt"].num_heads,
        ENCODER_PRESETS["vitt"].features,
        ENCODER_PRESETS["vitt"].out_channels,
    ) == (192, 12, 3, 32, (24, 48, 96, 192))
    assert (
        ENCODER_PRESETS["vitpico"].embed_dim,
        ENCODER_PRESETS["vitpico"].depth,
        ENCODER_PRESETS["vitpico"].num_heads,
        ENCODER_PRESETS["vitpico"].features,
        ENCODER_PRESETS["vitpico"].out_channels,
    ) == (64, 4, 2, 16, (16, 32, 64, 64))


def test_relative_output_is_nonnegative_disparity_at_network_resolution():
    torch.manual_seed(0)
    model = DepthAnything(ModelConfig.preset("vitpico")).eval()
    with torch.no_grad():
        depth, features = model.forward_with_features(torch.randn(2, 3, 28 * 3, 14 * 5))
    assert depth.shape == (2, 84, 70)
    assert depth.min() >= 0
    assert features.shape == (2, 64, 6, 5)


def test_metric_output_is_metres_between_zero_and_max_depth():
    torch.manual_seed(0)
    model = DepthAnything(ModelConfig.preset("vitpico", variant="metric", max_depth=20.0)).eval()
    with torch.no_grad():
        torch.nn.init.normal_(model.depth_head.scratch.output_conv2[2].weight, std=5.0)
        depth = model(torch.randn(1, 3, 70, 98))
    assert depth.shape == (1, 70, 98)
    assert 0 < depth.min() < depth.max() < 20.0
    assert depth.max() - depth.min() > 1.0  # the sigmoid is not stuck: output spans metres


def test_input_not_a_multiple_of_14_is_refused_with_the_size():
    model = DepthAnything(ModelConfig.preset("vitpico")).eval()
    with pytest.raises(ValueError, match=r"multiples of 14.*\(70, 100\)"):
        model(torch.randn(1, 3, 70, 100))


def test_metric_config_without_max_depth_is_refused():
    with pytest.raises(ValueError, match="max_depth"):
        ModelConfig.preset("vits", variant="metric")
    with pytest.raises(ValueError, match="version"):
        ModelConfig.preset("vits", version="v3")


def test_config_round_trips_through_json_and_rejects_unknown_fields():
    config = ModelConfig.preset("vitb", "v2", "metric", 80, input_size=700, pos_embed_interp="size")
    again = ModelConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    with pytest.raises(ValueError, match="unknown ModelConfig fields.*'colour'"):
        ModelConfig.from_dict({**config.to_dict(), "colour": "red"})


def test_pos_embed_is_untouched_only_for_the_square_pretraining_grid():
    table = torch.randn(1, 37 * 37 + 1, 8)
    for mode in ("official", "size"):
        assert interpolate_pos_embed(table, 37, 37, 518, 518, mode) is table
        assert interpolate_pos_embed(table, 19, 19, 266, 266, mode).shape == (1, 19 * 19 + 1, 8)


def test_official_interpolation_differs_from_size_mode_on_non_square_input():
    torch.manual_seed(0)
    table = torch.randn(1, 37 * 37 + 1, 8)
    official = interpolate_pos_embed(table, 19, 26, 266, 364, "official")
    by_size = interpolate_pos_embed(table, 19, 26, 266, 364, "size")
    assert official.shape == by_size.shape == (1, 19 * 26 + 1, 8)
    assert torch.equal(official[:, 0], table[:, 0])  # the cls position is never resampled
    diff = (official - by_size).abs().max().item()
    print(f"official vs size pos-embed max|diff| at 266x364: {diff:.4f} (table std 1.0)")
    assert diff > 1e-3


def test_official_interpolation_keeps_rows_as_rows_on_non_square_input():
    """The official code names rows `w`; a table varying only down the rows must stay so."""
    grid = torch.linspace(-1, 1, 37).view(37, 1).expand(37, 37)
    table = torch.cat([torch.zeros(1, 1), grid.reshape(-1, 1)]).view(1, -1, 1)
    out = interpolate_pos_embed(table, 19, 26, 266, 364, "official")[0, 1:, 0].view(19, 26)
    assert torch.allclose(out, out[:, :1].expand(19, 26), atol=1e-6)
    assert out[0, 0] < out[-1, 0]


def test_position_interpolation_happens_in_float32_and_returns_the_input_dtype():
    table = torch.randn(1, 37 * 37 + 1, 8)
    half = interpolate_pos_embed(table.bfloat16(), 19, 26, 266, 364, "official")
    full = interpolate_pos_embed(table.bfloat16().float(), 19, 26, 266, 364, "official")
    assert half.dtype == torch.bfloat16
    assert torch.equal(half, full.bfloat16())


@pytest.mark.parametrize("mode", ["official", "size"])
@pytest.mark.parametrize("rows, cols", [(19, 26), (46, 61), (37, 50)])
def test_symbolic_position_resize_of_dynamic_exports_equals_the_eager_bicubic(mode, rows, cols):
    # A dynamic ONNX/OpenVINO export resizes the position table with hand-written cubic weight
    # matrices (F.interpolate would freeze the example grid); they must match torch's bicubic
    # (a = -0.75, half-pixel centres) exactly, or exports drift from the PyTorch model.
    torch.manual_seed(0)
    table = torch.randn(1, 37 * 37 + 1, 8)
    eager = interpolate_pos_embed(table, rows, cols, 14 * rows, 14 * cols, mode)
    eager = eager[0, 1:].view(rows, cols, 8).permute(2, 0, 1)
    grid = table[:, 1:].reshape(1, 37, 37, 8).permute(0, 3, 1, 2)
    symbolic = _bicubic_resize_symbolic(grid, rows, cols, mode)[0]
    assert symbolic.shape == eager.shape == (8, rows, cols)
    torch.testing.assert_close(symbolic, eager, rtol=0, atol=3e-5)  # float rounding ~1e-5


def test_vitg_uses_fused_swiglu_with_official_hidden_width():
    model = meta_model(ModelConfig.preset("vitg"))
    mlp = model.pretrained.blocks[0].mlp
    assert tuple(mlp.w12.weight.shape) == (8192, 1536) and tuple(mlp.w3.weight.shape) == (
        1536,
        4096,
    )
    assert math.isclose(model.pretrained.blocks[0].norm1.eps, 1e-6)


def test_alignment_features_hold_the_last_taps_token_of_each_patch_at_its_place():
    """Feature alignment (P1 Eq. 9) compares the student's and the frozen encoder's feature of
    the same patch: [:, :, r, c] must be the last tap's normed token of patch (r, c)."""
    torch.manual_seed(0)
    model = DepthAnything(ModelConfig.preset("vitpico", input_size=56)).eval()
    rows, cols = 3, 5
    x = torch.randn(1, 3, 14 * rows, 14 * cols)
    with torch.no_grad():
        _, features = model.forward_with_features(x)
        tokens, _ = model.pretrained.get_intermediate_layers(x, (model.config.taps[-1],))[0]
    assert features.shape == (1, 64, rows, cols)
    for r, c in ((0, 0), (0, 4), (1, 2), (2, 1), (2, 4)):
        torch.testing.assert_close(features[0, :, r, c], tokens[0, r * cols + c])
