"""Each stage on tiny synthetic data: it trains (loss goes down), stores what the next stage reads,
and the exported model loads in DepthEstimator. vitpico at 42-px crops keeps each test to seconds."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from training_helpers import DATA
from training_helpers import tiny_stage_config as _config

from depth_anything_ros.inference import DepthEstimator
from depth_anything_ros.model import load_model, read_provenance
from depth_anything_ros.training.__main__ import main
from depth_anything_ros.training.config import load_config
from depth_anything_ros.training.loop import RunOptions, StepBatches, train
from depth_anything_ros.training.stages.export import export_model
from depth_anything_ros.training.stages.metric import metric_spec
from depth_anything_ros.training.stages.pseudo_label import read_manifest, run_pseudo_label
from depth_anything_ros.training.stages.student import student_spec
from depth_anything_ros.training.stages.common import export_stage_model
from depth_anything_ros.training.stages.teacher import teacher_spec

CONFIGS = Path(__file__).resolve().parents[1] / "training" / "configs"


def _loss_on_first_batch(spec, model):
    batch = StepBatches(spec.sources, 0, 0, 1)[0]
    model.eval()
    with torch.no_grad():
        loss, logs = spec.compute_loss(model, batch)
    return float(loss), logs


RUN = RunOptions(device="cpu", progress=False)


def _train_and_compare(spec):
    before, _ = _loss_on_first_batch(spec, spec.model)
    model = train(spec, RUN)
    after, logs = _loss_on_first_batch(spec, model)
    return before, after, logs, model


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    """A trained teacher and its pseudo-labels, shared by the later stages' tests."""
    tmp = tmp_path_factory.mktemp("pipe")
    config = _config(tmp, steps=12)
    spec = teacher_spec(config)
    before, after, _, model = _train_and_compare(spec)
    weights = export_stage_model(model, config, "teacher", {"labeled": config.data.labeled})
    manifest = run_pseudo_label(config, teacher_weights=weights, device="cpu")
    return config, weights, manifest, before, after


def test_teacher_lowers_the_affine_invariant_loss_and_saves_its_model(teacher_run):
    config, weights, _, before, after = teacher_run
    assert after < before
    assert load_model(weights).config.variant == "relative"
    assert (config.out_dir and (weights.parent / "loss.png").is_file()
            and (weights.parent / "samples.png").is_file())


def test_pseudo_labels_cover_every_unlabeled_image_and_a_rerun_skips_them(teacher_run):
    config, weights, manifest, *_ = teacher_run
    data = read_manifest(manifest)
    assert data["count"] == 8 and data["source"] == config.data.unlabeled
    first = manifest.parent / data["items"][0]["file"]
    label = np.load(first)
    assert label.shape == (56, 56) and label.dtype == np.float16 and np.isfinite(label).all()
    stamp = first.stat().st_mtime_ns
    run_pseudo_label(config, teacher_weights=weights, device="cpu")
    assert first.stat().st_mtime_ns == stamp  # resumable: done items are not relabelled


def test_labels_of_another_unlabeled_set_or_teacher_are_made_again(teacher_run, tmp_path):
    # Resuming skipped every item whose file existed, whatever it was made from, and rewrote
    # the manifest to name the new set: a student then trained on another set's labels.
    import dataclasses

    from depth_anything_ros.training.stages.common import open_data

    config, weights, *_ = teacher_run
    out = tmp_path / "labels"
    run_pseudo_label(config, teacher_weights=weights, out_dir=out, device="cpu")
    other_set = DATA.format("indoor", "test")
    other = dataclasses.replace(config, data=dataclasses.replace(config.data, unlabeled=other_set))
    run_pseudo_label(other, teacher_weights=weights, out_dir=out, device="cpu")
    estimator = DepthEstimator(load_model(weights), device="cpu", input_size=42)
    expected = estimator.predict(open_data(other_set)[0]["image"]).values
    np.testing.assert_allclose(np.load(out / "0000000.npy").astype(np.float32), expected,
                               rtol=2e-3, atol=1e-3)
    assert read_manifest(out / "manifest.json")["source"] == other_set
    # a teacher retrained into the same file: its bytes differ, so the labels are made again
    first = out / "0000000.npy"
    stamp = first.stat().st_mtime_ns
    retrained = tmp_path / "teacher.safetensors"
    retrained.write_bytes(weights.read_bytes())
    run_pseudo_label(other, teacher_weights=retrained, out_dir=out, device="cpu")
    assert first.stat().st_mtime_ns == stamp  # same bytes, another path: still valid
    model = load_model(retrained)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.01)
    from depth_anything_ros.model import save_model
    save_model(model, retrained)
    run_pseudo_label(other, teacher_weights=retrained, out_dir=out, device="cpu")
    assert first.stat().st_mtime_ns != stamp


def test_pseudo_labels_are_the_teachers_prediction_on_the_clean_image(teacher_run):
    config, weights, manifest, *_ = teacher_run
    from depth_anything_ros.training.stages.common import open_data

    image = open_data(config.data.unlabeled)[3]["image"]
    expected = DepthEstimator(load_model(weights), device="cpu", input_size=42).predict(image).values
    stored = np.load(manifest.parent / "0000003.npy").astype(np.float32)
    np.testing.assert_allclose(stored, expected, rtol=2e-3, atol=1e-3)


def test_student_with_perturbations_and_feature_alignment_lowers_its_loss(teacher_run):
    config, weights, manifest, *_ = teacher_run
    spec = student_spec(config, weights, manifest)
    assert [s.batch_size for s in spec.sources] == [2, 4]  # labeled : unlabeled = 1 : 2
    before, after, logs, _ = _train_and_compare(spec)
    assert after < before
    assert {"loss_labeled", "loss_unlabeled", "loss_feature"} <= set(logs)


def test_student_is_reinitialised_not_the_teacher(teacher_run):
    config, weights, manifest, *_ = teacher_run
    spec = student_spec(config, weights, manifest)
    teacher = load_model(weights).state_dict()
    student = spec.model.state_dict()
    assert not torch.equal(teacher["depth_head.scratch.output_conv2.2.weight"],
                           student["depth_head.scratch.output_conv2.2.weight"])


def test_naive_self_training_switch_drops_perturbation_and_feature_alignment(teacher_run, tmp_path):
    config, weights, manifest, *_ = teacher_run
    naive = _config(config.out_dir, steps=2, **{"student.perturb": "false", "student.feature_alignment": "false"})
    spec = student_spec(naive, weights, manifest)
    assert spec.frozen == []
    _, logs = _loss_on_first_batch(spec, spec.model)
    assert "loss_feature" not in logs


def test_metric_stage_lowers_silog_and_starts_from_the_student_encoder(teacher_run):
    config, weights, *_ = teacher_run
    spec = metric_spec(config, weights)  # any relative checkpoint can seed it
    source = load_model(weights).state_dict()
    state = spec.model.state_dict()
    assert torch.equal(state["pretrained.blocks.0.attn.qkv.weight"], source["pretrained.blocks.0.attn.qkv.weight"])
    assert spec.model.config.variant == "metric" and spec.model.config.max_depth == 20.0
    before, after, logs, _ = _train_and_compare(spec)
    assert after < before and "loss_silog" in logs


def test_export_writes_provenance_and_the_file_loads_in_depth_estimator(teacher_run, tmp_path):
    _, weights, *_ = teacher_run
    out = export_model(weights, tmp_path / "exported.safetensors", provenance={"evaluation": {"abs_rel": 0.5}})
    prov = read_provenance(out)
    assert prov["stage"] == "teacher" and prov["steps"] == 12 and prov["evaluation"]["abs_rel"] == 0.5
    assert "config" in prov and prov["data"]["labeled"].startswith("synthetic:indoor:train")
    result = DepthEstimator.from_weights(out, device="cpu").predict(np.zeros((30, 40, 3), np.uint8))
    assert result.values.shape == (30, 40)


def test_evaluate_cli_prints_every_metric_as_json(teacher_run, capsys):
    _, weights, *_ = teacher_run
    assert main(["evaluate", "--weights", str(weights), "--data", DATA.format("outdoor", "test"),
                 "--num", "3", "--json", "--device", "cpu"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    for key in ("abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog", "delta1", "delta2", "delta3"):
        assert np.isfinite(metrics[key])
    assert metrics["n_images"] == 3 and 0 <= metrics["delta1"] <= 1


def test_config_rejects_unknown_keys_and_bad_crops_by_name(tmp_path):
    from depth_anything_ros.training.config import ConfigError

    with pytest.raises(ConfigError, match="student.*alpah"):
        load_config(None, ["student.alpah=0.5"])
    with pytest.raises(ConfigError, match="data.crop"):
        load_config(None, ["data.crop=100"])
    with pytest.raises(ConfigError, match="teacher.steps"):
        load_config(None, ["teacher.steps=many"])


def _shard_worker(rank, world, store, config, weights, out_dir):
    torch.distributed.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    run_pseudo_label(config, teacher_weights=weights, out_dir=out_dir, device="cpu")
    torch.distributed.destroy_process_group()


def test_pseudo_labelling_shards_across_two_ranks_and_matches_one_process(teacher_run, tmp_path):
    import torch.multiprocessing as mp

    config, weights, manifest, *_ = teacher_run
    out = tmp_path / "sharded"
    mp.spawn(_shard_worker, args=(2, str(tmp_path / "store"), config, weights, out), nprocs=2, join=True)
    sharded = read_manifest(out / "manifest.json")
    assert sharded["count"] == 8
    for item in sharded["items"]:
        np.testing.assert_allclose(np.load(out / item["file"]).astype(np.float32),
                                   np.load(manifest.parent / item["file"]).astype(np.float32),
                                   rtol=1e-3, atol=1e-3)


def test_evaluate_scores_a_constant_metric_model_on_hand_made_depth(tmp_path, capsys):
    """A metric model whose head outputs sigmoid(b)·20 = 2.5 m everywhere, scored on two
    hand-made depth maps: 2 m (with a NaN hole) and 4 m (with a 30 m patch outside the range)."""
    import cv2

    from depth_anything_ros.model import DepthAnything, ModelConfig, save_model

    model = DepthAnything(ModelConfig.preset("vitpico", variant="metric", max_depth=20.0, input_size=28))
    with torch.no_grad():
        last = model.depth_head.scratch.output_conv2[2]
        last.weight.zero_()
        last.bias.fill_(float(np.log(0.125 / 0.875)))  # sigmoid = 0.125 → 2.5 m
    weights = tmp_path / "constant.safetensors"
    save_model(model, weights)
    root = tmp_path / "data"
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    first = np.full((28, 28), 2.0, np.float32)
    first[:5] = np.nan
    second = np.full((28, 28), 4.0, np.float32)
    second[10:, 10:] = 30.0
    for stem, depth in (("a", first), ("b", second)):
        cv2.imwrite(str(root / "rgb" / f"{stem}.png"), np.full((28, 28, 3), 90, np.uint8))
        np.save(root / "depth" / f"{stem}.npy", depth)
    common = ["evaluate", "--weights", str(weights), "--data", f"folder:{root}", "--json",
              "--device", "cpu"]
    # the scoring range by default (to the model's 20 m), given, and with only one end given
    for given, scored in (([], (1e-3, 20.0)), (["--max-depth", "20"], (1e-3, 20.0)),
                          (["--min-depth", "0.5"], (0.5, 20.0))):
        assert main(common + given) == 0
        m = json.loads(capsys.readouterr().out)
        assert m["n_images"] == 2 and (m["min_depth"], m["max_depth"]) == scored
        assert m["abs_rel"] == pytest.approx((0.5 / 2 + 1.5 / 4) / 2, rel=1e-5)
        assert m["rmse"] == pytest.approx((0.5 + 1.5) / 2, rel=1e-5)
        assert m["delta1"] == 0.0 and m["delta2"] == pytest.approx(0.5)  # ratios 1.25 and 1.6
        assert m["delta3"] == 1.0


def test_pipeline_cli_runs_every_stage_and_exports_an_evaluated_metric_model(tmp_path, capsys):
    data = "synthetic:{}:{}?n=4&size=56&cache=0"
    args = ["pipeline", "--config", str(CONFIGS / "tiny.yaml"), "--out", str(tmp_path), "--device", "cpu",
            "--workers", "0", "model.encoder=vitpico", "data.crop=42", "evaluate.num=2",
            f"data.labeled={data.format('indoor', 'train')}", f"data.unlabeled={data.format('outdoor', 'train')}",
            f"data.metric_train={data.format('indoor', 'train')}",
            f"data.eval_relative={data.format('outdoor', 'test')}", f"data.metric_eval={data.format('indoor', 'test')}"]
    for section in ("teacher", "student", "metric"):
        args += [f"{section}.steps=2", f"{section}.batch_size=2", f"{section}.warmup_steps=0"]
    assert main(args) == 0
    summary = json.loads((tmp_path / "evaluation.json").read_text())
    assert set(summary["evaluation"]) == {"teacher", "student", "metric"}
    assert summary["evaluation"]["metric"]["n_images"] == 2
    for stage in ("teacher", "student", "metric"):
        assert (tmp_path / stage / "model.safetensors").is_file() and (tmp_path / stage / "loss.png").is_file()
    prov = read_provenance(tmp_path / "model.safetensors")
    assert prov["stage"] == "metric" and prov["pipeline"]["steps"] == {"teacher": 2, "student": 2, "metric": 2}
    assert prov["pipeline"]["evaluation"]["metric"]["abs_rel"] == summary["evaluation"]["metric"]["abs_rel"]
    estimator = DepthEstimator.from_weights(tmp_path / "model.safetensors", device="cpu")
    assert estimator.config.variant == "metric" and estimator.config.max_depth == 20.0


def test_shipped_configs_load_and_paper_configs_follow_the_recipe():
    for path in sorted(CONFIGS.glob("*.yaml")):
        load_config(path)
    for size in ("vits", "vitb", "vitl"):
        c = load_config(CONFIGS / f"paper_{size}.yaml")
        assert c.model.encoder == size and c.data.crop == 518
        assert (c.student.lr_encoder, c.student.lr_decoder) == (5e-6, 5e-5)
        assert (c.metric.lr_encoder, c.metric.lr_decoder, c.metric.schedule) == (5e-6, 5e-5, "poly")
        assert c.student.unlabeled_ratio == 2 and c.student.alpha == 0.85 and c.student.cutmix_p == 0.5
        assert c.student.perturb and c.student.feature_alignment and c.student.frozen_encoder


def test_student_ablation_run_reuses_another_runs_teacher_and_pseudo_labels(teacher_run, tmp_path):
    from depth_anything_ros.training.stages.student import run_student

    _, weights, manifest, *_ = teacher_run
    naive = _config(tmp_path, steps=1, **{"student.perturb": "false", "student.feature_alignment": "false",
                                          "student.teacher_weights": str(weights),
                                          "student.pseudo_labels": str(manifest)})
    out = run_student(naive, RUN)
    prov = read_provenance(out)
    assert out == tmp_path / "student" / "model.safetensors"
    assert prov["data"]["perturb"] is False and prov["data"]["pseudo_labels"] == str(manifest)


def test_a_run_from_our_checkpoint_keeps_that_files_provenance_and_info_prints_it(
        teacher_run, tmp_path, capsys):
    """Fine-tuning a file and shipping the result in its place must not lose where the file
    came from: the path in `data.init` names what is then the new file."""
    from depth_anything_ros.cli import main as cli_main
    from depth_anything_ros.training.stages.metric import run_metric

    _, weights, *_ = teacher_run
    out = run_metric(_config(tmp_path, steps=1), RUN, init_weights=weights)
    prov = read_provenance(out)
    assert prov["data"]["init"] == str(weights)
    assert prov["init_provenance"] == read_provenance(weights)  # the teacher's whole record
    assert cli_main(["info", "--weights", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("provenance:"))
    assert "stage metric" in lines[start]
    assert lines[start + 1].startswith("  init: stage teacher, steps 12")
