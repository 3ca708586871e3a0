"""Our network reproduces transformers' DepthAnythingForDepthEstimation loaded from its own files.

transformers is an independent implementation (separate q/k/v, its own neck and fusion order),
so equal outputs on a non-square input prove the architecture, the key mapping, the taps and
both activations. Weights are random but spread out so every part of the network matters.
"""

import json
import math

import pytest
import torch
from safetensors.torch import save_file

from depth_anything_ros.model import CheckpointError, inspect_checkpoint, load_model, save_model

transformers = pytest.importorskip("transformers")
try:  # transformers 5 imports tqdm.contrib.logging (tqdm 4.60+) but declares tqdm>=4.27:
    # with Ubuntu 22.04's python3-tqdm 4.57 its model classes fail to import
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config
except ImportError as exc:
    pytest.skip(f"transformers' model classes do not import here: {exc} "
                f"(cause: {exc.__cause__ or exc})", allow_module_level=True)

TOLERANCE = 1e-4  # relative to max |reference|, fp32


def randomize_(model, seed):
    """Spread-out random weights: near-zero init would leave the output flat and the test blind."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2 and "embed" not in name and "token" not in name:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))
            elif name.endswith("weight") or "lambda" in name:
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))


def hf_model(
    out_indices,
    kind="relative",
    max_depth=1,
    hidden=384,
    layers=12,
    heads=6,
    neck=(48, 96, 192, 384),
    fusion=64,
    swiglu=False,
    seed=0,
):
    backbone = Dinov2Config(
        image_size=518,
        patch_size=14,
        hidden_size=hidden,
        num_attention_heads=heads,
        num_hidden_layers=layers,
        out_indices=list(out_indices),
        use_swiglu_ffn=swiglu,
        reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=hidden,
        neck_hidden_sizes=list(neck),
        fusion_hidden_size=fusion,
        depth_estimation_type=kind,
        max_depth=max_depth,
    )
    model = DepthAnythingForDepthEstimation(config).eval()
    randomize_(model, seed)
    return model


def tiny_hf_model(**kwargs):
    return hf_model(
        kwargs.pop("out_indices", (1, 2, 3, 4)),
        hidden=64,
        layers=kwargs.pop("layers", 4),
        heads=2,
        neck=(16, 32, 64, 64),
        fusion=16,
        **kwargs,
    )


def reference(model, x):
    with torch.no_grad():
        return model(pixel_values=x).predicted_depth


def compare(ours, ref):
    with torch.no_grad():
        diff = (ours - ref).abs().max().item()
    return diff, ref.abs().max().item()


NON_SQUARE = torch.randn(1, 3, 266, 364, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize(
    "out_indices, kind, max_depth, version",
    [
        ((9, 10, 11, 12), "relative", 1, "v1"),
        ((3, 6, 9, 12), "relative", 1, "v2"),
        ((3, 6, 9, 12), "metric", 20, "v2"),
    ],
)
def test_vits_loaded_from_hf_directory_matches_transformers_on_non_square_input(
    tmp_path, out_indices, kind, max_depth, version
):
    hf = hf_model(out_indices, kind, max_depth)
    hf.save_pretrained(tmp_path)
    ref = reference(hf, NON_SQUARE)
    ours = load_model(tmp_path)
    assert (ours.config.encoder, ours.config.version, ours.config.variant) == (
        "vits",
        version,
        kind,
    )
    assert ours.config.max_depth == (max_depth if kind == "metric" else None)
    diff, scale = compare(ours(NON_SQUARE), ref)
    print(
        f"HF fidelity vits {version} {kind} 266x364: max|diff| {diff:.3g}, max|ref| {scale:.4g}, "
        f"relative {diff / scale:.3g}"
    )
    assert ref.std() > 0.01 * scale  # the reference is not flat, so the comparison can fail
    assert diff <= TOLERANCE * scale


def test_swiglu_backbone_and_current_transformers_key_names_load_equally(tmp_path):
    hf = tiny_hf_model(swiglu=True, kind="metric", max_depth=80)
    hf.save_pretrained(
        tmp_path / "saved"
    )  # on-disk (Hub) names: attention.attention.query, mlp.weights_in
    (tmp_path / "memory").mkdir()  # in-memory names: attention.q_proj, mlp.gate_proj/up_proj
    (tmp_path / "memory" / "config.json").write_text(
        (tmp_path / "saved" / "config.json").read_text()
    )
    save_file(
        {k: v.contiguous() for k, v in hf.state_dict().items()},
        str(tmp_path / "memory" / "model.safetensors"),
    )
    ref = reference(hf, NON_SQUARE)
    for name in ("saved", "memory"):
        ours = load_model(tmp_path / name)
        assert ours.config.ffn == "swiglu" and ours.config.encoder == "custom"
        diff, scale = compare(ours(NON_SQUARE), ref)
        assert diff <= TOLERANCE * scale, name


def test_official_interpolation_changes_hf_output_only_off_the_square_518_grid(tmp_path):
    hf = tiny_hf_model()  # the vitpico preset, whose V1 and V2 taps coincide
    hf.save_pretrained(tmp_path)
    ours = load_model(tmp_path, version="v2")
    assert ours.config.pos_embed_interp == "size"
    square = torch.randn(1, 3, 518, 518, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        size_square, size_wide = ours(square), ours(NON_SQUARE)
        ours.pretrained.pos_embed_interp = "official"
        official_square, official_wide = ours(square), ours(NON_SQUARE)
    assert torch.equal(size_square, official_square)
    assert (size_wide - official_wide).abs().max() > 1e-3 * size_wide.abs().max()


def test_hf_model_resaved_in_our_format_keeps_size_interpolation_and_outputs(tmp_path):
    hf = tiny_hf_model()
    hf.save_pretrained(tmp_path / "hf")
    ours = load_model(tmp_path / "hf", version="v2")
    save_model(ours, tmp_path / "ours.safetensors")
    again = load_model(tmp_path / "ours.safetensors")
    assert again.config == ours.config and again.config.pos_embed_interp == "size"
    with torch.no_grad():
        assert torch.equal(again(NON_SQUARE), ours(NON_SQUARE))


def test_hf_taps_that_fit_neither_version_need_an_explicit_version(tmp_path):
    tiny_hf_model(out_indices=(1, 2, 4, 5), layers=5).save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="version='v1' or version='v2'"):
        inspect_checkpoint(tmp_path)
    assert inspect_checkpoint(tmp_path, version="v2").taps == (0, 1, 3, 4)


def test_hf_directory_without_weights_or_with_foreign_config_is_refused(tmp_path):
    tiny_hf_model().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "model.safetensors").rename(tmp_path / "elsewhere.safetensors")
    with pytest.raises(CheckpointError, match=r"model\.safetensors: no such file"):
        load_model(tmp_path, version="v1")
    (tmp_path / "elsewhere.safetensors").rename(tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text(json.dumps({**config, "model_type": "dpt"}))
    with pytest.raises(CheckpointError, match=r"config\.json: model_type is 'dpt'"):
        load_model(tmp_path)


def test_hf_weights_with_an_unknown_key_are_refused_naming_it(tmp_path):
    hf = tiny_hf_model()
    hf.save_pretrained(tmp_path)
    state = {k: v.contiguous() for k, v in hf.state_dict().items()}
    state["head.extra_conv.weight"] = torch.zeros(1)
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError, match="unknown key 'head.extra_conv.weight'"):
        load_model(tmp_path, version="v2")


def test_hf_directory_refuses_a_contradicting_variant_and_malformed_values(tmp_path):
    # a metric folder asked for as relative loaded as relative (output 0–0.24 instead of metres)
    tiny_hf_model(kind="metric", max_depth=20).save_pretrained(tmp_path)
    assert inspect_checkpoint(tmp_path, version="v2").variant == "metric"
    with pytest.raises(CheckpointError, match="depth_estimation_type is 'metric', but variant "
                                              "'relative' was asked for"):
        inspect_checkpoint(tmp_path, version="v2", variant="relative")
    config = json.loads((tmp_path / "config.json").read_text())
    for change in ({"backbone_config": "dinov2"}, {"fusion_hidden_size": "sixteen"}):
        (tmp_path / "config.json").write_text(json.dumps({**config, **change}))
        with pytest.raises(CheckpointError, match=r"config\.json: a value has the wrong type"):
            inspect_checkpoint(tmp_path, version="v2")
    (tmp_path / "config.json").write_text(json.dumps({**config, "max_depth": -3}))
    with pytest.raises(CheckpointError, match=r"max_depth > 0 metres \(config.json has -3\)"):
        inspect_checkpoint(tmp_path, version="v2")
