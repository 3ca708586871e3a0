"""Checkpoints load strictly and safely, and every bad file is refused with its name and reason."""

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import depth_anything_ros
from depth_anything_ros.model import (
    CheckpointError,
    DepthAnything,
    ModelConfig,
    default_weights_path,
    inspect_checkpoint,
    load_dinov2_backbone,
    load_model,
    save_model,
)
from depth_anything_ros.model.checkpoints import official_name_facts, read_provenance

X = torch.randn(1, 3, 70, 98, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def pico():
    torch.manual_seed(0)
    return DepthAnything(ModelConfig.preset("vitpico", "v2", "metric", 20.0)).eval()


def output(model):
    with torch.no_grad():
        return model(X)


def official_pth(model, path):
    torch.save(model.state_dict(), path)
    return path


def test_save_and_load_round_trip_is_bit_exact_with_config_and_provenance(tmp_path, pico):
    path = tmp_path / "model.safetensors"
    save_model(pico, path, provenance={"trained_on": "synthetic", "steps": 3})
    loaded = load_model(path)
    assert loaded.config == pico.config
    assert torch.equal(output(loaded), output(pico))
    assert read_provenance(path) == {"trained_on": "synthetic", "steps": 3}
    assert inspect_checkpoint(path) == pico.config
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model.safetensors"
    ]  # no temporary left behind


def test_half_precision_save_is_half_the_size_loads_as_float32_and_is_world_readable(
    tmp_path, pico
):
    full, half = tmp_path / "full.safetensors", tmp_path / "half.safetensors"
    save_model(pico, full)
    save_model(pico, half, dtype=torch.float16)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    assert half.stat().st_mode & 0o777 == 0o644
    loaded = load_model(half)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    reference = output(pico)
    assert (output(loaded) - reference).abs().max() <= 2e-3 * reference.abs().max()


def test_save_replaces_an_existing_file_whole(tmp_path, pico):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"old contents")
    save_model(pico, path)
    assert torch.equal(output(load_model(path)), output(pico))


def test_failed_save_leaves_the_destination_untouched_and_no_temporary(tmp_path, pico):
    destination = tmp_path / "model.safetensors"
    destination.mkdir()  # os.replace cannot put a file over a non-empty directory
    (destination / "keep.txt").write_text("kept")
    with pytest.raises(OSError):
        save_model(pico, destination)
    assert (destination / "keep.txt").read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


def test_official_file_names_imply_version_variant_and_max_depth():
    assert official_name_facts(Path("depth_anything_vitl14.pth")) == {
        "version": "v1",
        "variant": "relative",
    }
    assert official_name_facts(Path("depth_anything_v2_vitb.pth")) == {
        "version": "v2",
        "variant": "relative",
    }
    assert official_name_facts(Path("depth_anything_v2_metric_hypersim_vits.pth")) == {
        "version": "v2",
        "variant": "metric",
        "max_depth": 20.0,
        "canonical_focal": pytest.approx(886.81 / 768),  # Hypersim's training camera
    }
    assert (
        official_name_facts(Path("depth_anything_v2_metric_vkitti_vitl.pth"))["max_depth"] == 80.0
    )
    assert official_name_facts(Path("my_weights.pth")) == {}


def test_official_state_dict_loads_strictly_with_facts_from_its_file_name(tmp_path, pico):
    path = official_pth(pico, tmp_path / "depth_anything_v2_metric_vkitti_vits.pth")
    model = load_model(path)
    assert (
        model.config.encoder,
        model.config.version,
        model.config.variant,
        model.config.max_depth,
    ) == ("vitpico", "v2", "metric", 80.0)
    with torch.no_grad():
        assert torch.allclose(
            model(X), output(pico) * 4.0, rtol=1e-6
        )  # same sigmoid, max_depth 80 vs 20


def test_a_state_dict_saved_from_distributed_data_parallel_loads_like_the_plain_one(
    tmp_path, pico
):
    # Multi-GPU training (DDP) saves every key as "module.<name>": such a checkpoint must run on
    # the robot with the same weights, not fail as a model with only unexpected keys.
    path = tmp_path / "depth_anything_v2_metric_hypersim_vits.pth"
    torch.save({f"module.{k}": v for k, v in pico.state_dict().items()}, path)
    model = load_model(path)
    assert model.config.max_depth == 20.0
    assert torch.equal(output(model), output(pico))


def test_unknown_file_name_needs_version_then_variant_then_max_depth(tmp_path, pico):
    path = official_pth(pico, tmp_path / "weights.pth")
    with pytest.raises(
        CheckpointError, match=r"weights\.pth: .*identical keys.*version='v1' or version='v2'"
    ):
        load_model(path)
    with pytest.raises(
        CheckpointError, match=r"weights\.pth: .*variant='relative' or variant='metric'"
    ):
        load_model(path, version="v2")
    with pytest.raises(CheckpointError, match=r"weights\.pth: a metric model needs max_depth"):
        load_model(path, version="v2", variant="metric")
    model = load_model(path, version="v2", variant="metric", max_depth=20.0)
    assert torch.equal(output(model), output(pico))


def test_version_argument_contradicting_our_metadata_is_refused(tmp_path, pico):
    path = tmp_path / "model.safetensors"
    save_model(pico, path)
    with pytest.raises(
        CheckpointError, match="metadata says version='v2' but version='v1' was passed"
    ):
        load_model(path, version="v1")
    assert load_model(path, input_size=364).config.input_size == 364


def test_explicit_max_depth_overrides_the_one_in_our_metadata(tmp_path, pico):
    # A model fine-tuned indoors (20 m) is deployed outdoors with --max-depth 40: the argument
    # must reach the head, or every range is silently half what the operator asked for.
    path = tmp_path / "model.safetensors"
    save_model(pico, path)
    model = load_model(path, max_depth=40.0)
    assert model.config.max_depth == 40.0
    assert inspect_checkpoint(path, max_depth=40.0).max_depth == 40.0
    assert torch.allclose(output(model), output(pico) * 2.0, rtol=1e-6)  # same sigmoid, 40 vs 20


def test_malicious_pickle_is_refused_and_its_code_never_runs(tmp_path):
    target = tmp_path / "pwned"

    class CreatesFile:
        def __reduce__(self):
            return (open, (str(target), "w"))

    zipped = tmp_path / "evil.pth"
    torch.save({"pretrained.cls_token": torch.zeros(1), "payload": CreatesFile()}, zipped)
    raw = tmp_path / "evil_raw.pth"
    raw.write_bytes(pickle.dumps({"payload": CreatesFile()}, protocol=2))
    for path in (zipped, raw):
        with pytest.raises(CheckpointError, match=str(path.name)):
            load_model(path, version="v2", variant="relative")
        assert not target.exists()
    with pytest.raises(CheckpointError, match="refused to load"):
        load_model(zipped, version="v2", variant="relative")


def test_an_image_or_safetensors_passed_as_pth_is_named_for_what_it_is(tmp_path, pico):
    import cv2

    png = tmp_path / "photo.pth"
    png.write_bytes(cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))[1].tobytes())
    with pytest.raises(CheckpointError, match=r"photo\.pth: not a PyTorch checkpoint \(a PNG image\)"):
        load_model(png, version="v2", variant="relative")
    ours = tmp_path / "ours.safetensors"
    save_model(pico, ours)
    renamed = tmp_path / "ours.pth"
    renamed.write_bytes(ours.read_bytes())
    with pytest.raises(CheckpointError, match="a safetensors file"):
        load_model(renamed, version="v2", variant="relative")


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_missing_empty_and_truncated_files_fail_naming_the_file(tmp_path, pico, suffix):
    with pytest.raises(CheckpointError, match=r"absent\S*: no such file"):
        load_model(tmp_path / f"absent{suffix}")
    empty = tmp_path / f"empty{suffix}"
    empty.touch()
    with pytest.raises(CheckpointError, match=rf"empty\{suffix}: file is empty"):
        load_model(empty, version="v2", variant="relative")
    whole = tmp_path / f"whole{suffix}"
    if suffix == ".pth":
        official_pth(pico, whole)
    else:
        save_model(pico, whole)
    truncated = tmp_path / f"truncated{suffix}"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=rf"truncated\{suffix}: .*(corrupt|not a readable)"):
        load_model(truncated, version="v2", variant="relative")


def test_renamed_key_fails_listing_the_missing_and_unexpected_keys(tmp_path, pico):
    state = pico.state_dict()
    state["depth_head.scratch.refinenet1.out_conv.kernel"] = state.pop(
        "depth_head.scratch.refinenet1.out_conv.weight"
    )
    path = tmp_path / "depth_anything_v2_vits.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as error:
        load_model(path)
    message = str(error.value)
    assert str(path) in message
    assert "missing keys, first: ['depth_head.scratch.refinenet1.out_conv.weight']" in message
    assert "unexpected keys, first: ['depth_head.scratch.refinenet1.out_conv.kernel']" in message


def test_wrong_shape_fails_naming_the_key_and_both_shapes(tmp_path, pico):
    state = pico.state_dict()
    state["pretrained.blocks.2.attn.qkv.weight"] = torch.zeros(100, 64)
    path = tmp_path / "depth_anything_v2_vits.pth"
    torch.save(state, path)
    with pytest.raises(
        CheckpointError,
        match=r"pretrained\.blocks\.2\.attn\.qkv\.weight: expected \(192, 64\), "
        r"file has \(100, 64\)",
    ):
        load_model(path)


def test_encoder_and_head_of_different_sizes_fit_no_preset(tmp_path, pico):
    state = pico.state_dict()
    state["pretrained.cls_token"] = torch.zeros(1, 1, 384)
    path = tmp_path / "depth_anything_v2_vits.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="encoder width 384, 4 blocks.*match no preset"):
        load_model(path)


def test_state_dict_of_something_else_is_refused(tmp_path):
    path = tmp_path / "depth_anything_v2_vits.pth"
    torch.save({"conv.weight": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match=r"no 'pretrained\.cls_token'.*\['conv\.weight'\]"):
        load_model(path)
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match="expected a non-empty state_dict"):
        load_model(path)


def test_metadata_less_safetensors_is_treated_as_an_official_state_dict(tmp_path, pico):
    path = tmp_path / "converted.safetensors"
    save_file({k: v.contiguous() for k, v in pico.state_dict().items()}, str(path))
    with pytest.raises(CheckpointError, match="version='v1' or version='v2'"):
        inspect_checkpoint(path)
    assert torch.equal(
        output(load_model(path, version="v2", variant="metric", max_depth=20)), output(pico)
    )


def test_dinov2_backbone_initialises_the_encoder_only(tmp_path, pico):
    backbone = {k: v for k, v in pico.pretrained.state_dict().items() if k != "mask_token"}
    path = tmp_path / "dinov2_vitpico14_pretrain.pth"
    torch.save(backbone, path)
    torch.manual_seed(1)
    fresh = DepthAnything(pico.config)
    head_before = {k: v.clone() for k, v in fresh.depth_head.state_dict().items()}
    load_dinov2_backbone(fresh, path)
    for key, value in backbone.items():
        assert torch.equal(fresh.pretrained.state_dict()[key], value), key
    for key, value in fresh.depth_head.state_dict().items():
        assert torch.equal(value, head_before[key]), key


def test_dinov2_backbone_of_another_size_or_with_registers_is_refused(tmp_path, pico):
    torch.manual_seed(0)
    other = DepthAnything(ModelConfig.preset("vitt")).pretrained.state_dict()
    path = tmp_path / "dinov2_vitt.pth"
    torch.save(other, path)
    with pytest.raises(
        CheckpointError,
        match=r"dinov2_vitt\.pth: does not fit the vitpico encoder.*cls_token: "
        r"expected \(1, 1, 64\), file has \(1, 1, 192\)",
    ):
        load_dinov2_backbone(pico, path)
    with_registers = dict(pico.pretrained.state_dict(), register_tokens=torch.zeros(1, 4, 64))
    torch.save(with_registers, path)
    with pytest.raises(CheckpointError, match="register_tokens"):
        load_dinov2_backbone(pico, path)


def test_inspect_reads_config_without_building_the_model(tmp_path, pico):
    path = official_pth(pico, tmp_path / "depth_anything_vits14.pth")
    config = inspect_checkpoint(path)
    assert (config.version, config.variant, config.taps, config.max_depth) == (
        "v1",
        "relative",
        (0, 1, 2, 3),
        None,
    )


def test_directory_without_hf_config_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="config.json"):
        load_model(tmp_path)


def test_default_weights_path_is_models_default_in_a_source_checkout():
    root = Path(depth_anything_ros.__file__).resolve().parents[1]
    assert (root / "package.xml").exists()  # this test runs from the source tree
    assert default_weights_path() == root / "models" / "default.safetensors"


def test_our_metadata_is_plain_json(tmp_path, pico):
    from safetensors import safe_open

    path = tmp_path / "model.safetensors"
    save_model(pico, path, provenance={"source": "test"})
    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata()
    assert metadata["format"] == "depth_anything_ros"
    assert json.loads(metadata["config"])["max_depth"] == 20.0
    assert json.loads(metadata["provenance"]) == {"source": "test"}


@pytest.mark.parametrize("damage, message", [
    (lambda t: t.long(), "holds torch.int64 values; weights must be floating point"),
    (lambda t: t.fill_(float("nan")), "holds NaN or infinite values"),
])
def test_weights_of_the_wrong_kind_or_not_finite_are_refused_by_name(tmp_path, pico, damage,
                                                                     message):
    # an int64 tensor passed the shape check and failed in load_state_dict (traceback); NaN
    # weights loaded and every prediction was NaN
    state = {k: v.clone() for k, v in pico.state_dict().items()}
    state["depth_head.scratch.output_conv2.2.bias"] = damage(
        state["depth_head.scratch.output_conv2.2.bias"])
    path = tmp_path / "depth_anything_v2_metric_hypersim_vitpico.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=rf"output_conv2\.2\.bias {message}"):
        load_model(path, version="v2", variant="metric", max_depth=20.0)


def test_damaged_metadata_upper_case_suffix_and_unreadable_files(tmp_path, pico):
    import os

    path = tmp_path / "model.SAFETENSORS"  # our file, upper-case suffix
    save_model(pico, path)
    assert load_model(path).config == pico.config
    header, metadata = path, json.loads(read_header_metadata(path)["config"])
    metadata["input_size"] = 71
    bad = tmp_path / "bad.safetensors"
    save_file({k: v.contiguous() for k, v in pico.state_dict().items()}, str(bad),
              metadata={**read_header_metadata(header), "config": json.dumps(metadata)})
    with pytest.raises(CheckpointError, match="metadata input_size 71 is not a multiple of 14"):
        load_model(bad)
    if os.geteuid() != 0:  # root reads everything
        bad.chmod(0)
        with pytest.raises(CheckpointError, match="not readable"):
            load_model(bad)
    loop = tmp_path / "loop.safetensors"
    loop.symlink_to(loop)
    with pytest.raises(CheckpointError, match="a symlink to nothing"):
        load_model(loop)


def read_header_metadata(path):
    from depth_anything_ros.model.state_dicts import read_safetensors_header

    return read_safetensors_header(path)[1]
