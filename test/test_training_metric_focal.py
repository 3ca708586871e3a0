"""The metric stage in canonical-focal space with real frames mixed in, and what `evaluate`
reports for focal effects: raw, focal-corrected, median-oracle and the scale's jitter."""
import json

import cv2
import numpy as np
import pytest
import torch

from depth_anything_ros.geometry.focal import CANONICAL
from depth_anything_ros.model import DepthAnything, ModelConfig, load_model, save_model
from depth_anything_ros.training.__main__ import main
from depth_anything_ros.training.config import ConfigError, load_config
from depth_anything_ros.training.loop import RunOptions, StepBatches, train
from depth_anything_ros.training.stages.evaluate import evaluate_weights, format_table
from depth_anything_ros.training.stages.metric import metric_spec

NARROW = "synthetic:indoor:train?n=4&size=42&cache=0&hfov=90"  # f = 0.5 exactly (square)
WIDE = "synthetic:indoor:train?n=4&size=42&cache=0&hfov=120"


def _config(tmp_path, *extra):
    return load_config(None, [
        f"out_dir={tmp_path}", "device=cpu", "model.encoder=vitpico", "data.crop=42",
        f"data.metric_train={NARROW}", "metric.batch_size=2", "metric.steps=3",
        "metric.lr_encoder=1e-3", "metric.lr_decoder=3e-3", "metric.schedule=constant",
        "metric.checkpoint_every=100", "metric.log_every=1", *extra])


def _first_batch(config):
    spec = metric_spec(config, None)
    return spec, StepBatches(spec.sources, 0, 0, 1)[0]


def test_canonical_targets_are_depth_times_fc_over_each_samples_focal(tmp_path):
    _, plain = _first_batch(_config(tmp_path))
    spec, canonical = _first_batch(_config(tmp_path, "metric.canonical_focal=0.25"))
    valid = plain["metric"]["valid"]
    assert valid.any()
    np.testing.assert_array_equal(canonical["metric"]["valid"], valid)
    ratio = canonical["metric"]["depth"][valid] / plain["metric"]["depth"][valid]
    np.testing.assert_allclose(ratio, 0.25 / 0.5, rtol=1e-6)  # f_c / f, f = 0.5 at 90°
    assert (spec.model.config.canonical_focal, spec.model.config.focal_origin) == (0.25, CANONICAL)
    # a 120° lens (f = 0.5 / tan 60°): its targets are scaled by its own focal
    _, wide = _first_batch(_config(tmp_path, f"data.metric_train={WIDE}",
                                   "metric.canonical_focal=0.25"))
    _, wide_plain = _first_batch(_config(tmp_path, f"data.metric_train={WIDE}"))
    v = wide_plain["metric"]["valid"]
    np.testing.assert_allclose(wide["metric"]["depth"][v] / wide_plain["metric"]["depth"][v],
                               0.25 / (0.5 / np.tan(np.radians(60))), rtol=1e-5)


def test_data_without_intrinsics_cannot_be_canonicalised(tmp_path):
    root = tmp_path / "folder"
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    for stem in ("a", "b"):
        cv2.imwrite(str(root / "rgb" / f"{stem}.png"), np.full((42, 42, 3), 90, np.uint8))
        np.save(root / "depth" / f"{stem}.npy", np.full((42, 42), 2.0, np.float32))
    config = _config(tmp_path / "run", f"data.metric_train=folder:{root}",
                     "metric.canonical_focal=0.7")
    spec = metric_spec(config, None)
    with pytest.raises(ValueError, match=f"folder:{root}.*has no intrinsics.*canonical_focal"):
        StepBatches(spec.sources, 0, 0, 1)[0]


def test_mixed_source_joins_every_step_and_the_exported_model_declares_its_focal(tmp_path):
    config = _config(tmp_path, f"data.metric_mix={WIDE}", "metric.mix_batch_size=1",
                     "metric.canonical_focal=0.7")
    spec, batch = _first_batch(config)
    assert [s.name for s in spec.sources] == ["metric", "metric_mix"]
    assert batch["metric"]["image"].shape[0] == 2 and batch["metric_mix"]["image"].shape[0] == 1
    spec.model.eval()
    with torch.no_grad():
        loss, _ = spec.compute_loss(spec.model, batch)
        only_main, _ = metric_spec(_config(tmp_path, "metric.canonical_focal=0.7"), None) \
            .compute_loss(spec.model, {"metric": batch["metric"]})
    assert float(loss) != pytest.approx(float(only_main))  # the mixed frames count in the loss
    model = train(spec, RunOptions(device="cpu", progress=False))
    out = tmp_path / "m.safetensors"
    save_model(model, out)
    config = load_model(out).config
    assert (config.canonical_focal, config.focal_origin) == (0.7, CANONICAL)


@pytest.mark.parametrize("overrides, message", [
    (["metric.canonical_focal=0"], "metric.canonical_focal"),
    (["data.metric_mix=synthetic:indoor:test"], "metric_mix and metric.mix_batch_size"),
    (["metric.mix_batch_size=2"], "metric_mix and metric.mix_batch_size"),
])
def test_config_refuses_half_configured_focal_and_mix(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def _constant_model(path, metres=2.5, **focal):
    """A metric model whose head outputs sigmoid(b)·20 = ``metres`` everywhere."""
    model = DepthAnything(ModelConfig.preset("vitpico", variant="metric", max_depth=20.0,
                                             input_size=28, **focal))
    with torch.no_grad():
        last = model.depth_head.scratch.output_conv2[2]
        last.weight.zero_()
        p = metres / 20.0
        last.bias.fill_(float(np.log(p / (1 - p))))
    save_model(model, path)
    return path


def _folder(root, depths, fx):
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    (root / "camera.json").write_text(json.dumps({"fx": fx, "fy": fx, "cx": 27.5, "cy": 27.5}))
    for stem, metres in depths.items():  # 56 px: 3 scan lines × 7 columns = 21 anchors
        cv2.imwrite(str(root / "rgb" / f"{stem}.png"), np.full((56, 56, 3), 90, np.uint8))
        np.save(root / "depth" / f"{stem}.npy", np.full((56, 56), metres, np.float32))
    return f"folder:{root}"


def test_evaluate_reports_raw_focal_oracle_and_scale_jitter_on_hand_made_frames(tmp_path):
    """Canonical 2.5 m everywhere, f_c = 0.5; camera fx = 56 px on 56 px frames (f = 1): the
    focal correction doubles it to 5 m. Ground truth: 4 m and 10 m. The simulated scan lines
    anchor each frame to its truth: factors 0.8 and 2.0."""
    weights = _constant_model(tmp_path / "c.safetensors", canonical_focal=0.5,
                              focal_origin=CANONICAL)
    data = _folder(tmp_path / "data", {"a": 4.0, "b": 10.0}, fx=56.0)
    m = evaluate_weights(weights, data, device="cpu", depth_range=(1e-3, 20.0))
    assert m["deployed"] == "focal"
    anchored = m["anchored"]
    assert anchored["n_refused"] == 0 and anchored["abs_rel"] == pytest.approx(0.0, abs=1e-5)
    assert anchored["applied_scale"] == pytest.approx(np.sqrt(0.8 * 2.0), rel=1e-5)
    assert anchored["applied_scale_jitter"] == pytest.approx((np.log(2.0) - np.log(0.8)) / 2,
                                                             rel=1e-5)
    assert anchored["scale"] == pytest.approx(1.0, rel=1e-5)
    assert m["raw"]["abs_rel"] == pytest.approx((1.5 / 4 + 7.5 / 10) / 2, rel=1e-5)
    assert m["focal"]["abs_rel"] == pytest.approx((1.0 / 4 + 5.0 / 10) / 2, rel=1e-5)
    assert m["abs_rel"] == m["focal"]["abs_rel"]
    assert m["median_oracle"]["abs_rel"] == pytest.approx(0.0, abs=1e-6)
    assert m["raw"]["scale"] == pytest.approx(np.sqrt(1.6 * 4.0), rel=1e-5)
    assert m["focal"]["scale"] == pytest.approx(np.sqrt(0.8 * 2.0), rel=1e-5)
    jitter = (np.log(4.0) - np.log(1.6)) / 2  # std of two logs
    assert m["raw"]["scale_jitter"] == pytest.approx(jitter, rel=1e-5)
    assert m["focal"]["scale_jitter"] == pytest.approx(jitter, rel=1e-5)
    table = format_table(m)
    assert table.splitlines()[1].split()[0] == "raw" and "focal" in table
    off = evaluate_weights(weights, data, device="cpu", depth_range=(1e-3, 20.0),
                           focal_correction="off")
    assert off["focal"] is None and off["deployed"] == "raw"
    assert off["median_oracle"] == m["median_oracle"]  # a per-frame rescale hides any focal


def test_evaluate_cli_json_has_the_columns_and_a_model_without_focal_reports_raw(tmp_path, capsys):
    weights = _constant_model(tmp_path / "plain.safetensors")
    data = _folder(tmp_path / "data", {"a": 2.5, "b": 5.0}, fx=28.0)
    assert main(["evaluate", "--weights", str(weights), "--data", data, "--json", "--device",
                 "cpu", "--max-depth", "20"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["deployed"] == "raw" and m["focal"] is None
    assert m["raw"]["scale_jitter"] == pytest.approx(np.log(2.0) / 2, rel=1e-5)
    assert m["abs_rel"] == pytest.approx(0.25, rel=1e-5)
