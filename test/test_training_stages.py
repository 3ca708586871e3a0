"""Each stage on tiny synthetic data: it trains (loss goes down), stores what the next stage reads,
and the exported model loads in DepthEstimator. vitpico at 42-px crops keeps each test to seconds."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

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

DATA = "synthetic:{}:{}?n=8&size=56&cache=0"
CONFIGS = Path(__file__).resolve().parents[1] / "training" / "configs"
OPTIM = "steps={},batch_size=2,lr_encoder=1e-3,lr_decoder=3e-3,schedule=constant,checkpoint_every=100,log_every=1"


def _config(tmp_path, steps=8, **extra):
    overrides = [
        f"out_dir={tmp_path}", "device=cpu", "model.encoder=vitpico", "data.crop=42",
        f"data.labeled={DATA.format('indoor', 'train')}",
        f"data.unlabeled={DATA.format('outdoor', 'train')}",
        f"data.metric_train={DATA.format('indoor', 'train')}",
        f"data.eval_relative={DATA.format('outdoor', 'test')}",
        f"data.metric_eval={DATA.format('indoor', 'test')}", "data.max_depth=20",
    ]
    for section in ("teacher", "student", "metric"):
        overrides += [f"{section}.{kv}" for kv in OPTIM.format(steps).split(",")]
    overrides += [f"{k}={v}" for k, v in extra.items()]
    return load_config(None, overrides)


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


def test_labeled_crops_resize_depth_nearest_so_no_depth_value_is_invented(tmp_path):
    # Robot depth has holes (stored as 0 before resizing) and sharp object edges; a bilinear
    # resize would blend valid depth with the zeros and across edges, teaching depths that
    # were never measured. Every cropped depth must be one of the recorded values.
    import cv2

    from depth_anything_ros.training.stages.common import labeled_source

    rng = np.random.default_rng(0)
    (tmp_path / "rgb").mkdir()
    (tmp_path / "depth").mkdir()
    rgb = rng.integers(0, 256, (30, 45, 3), dtype=np.uint8)  # upscaled to the 42-px crop
    depth = rng.choice(np.float32([0.7, 1.3, 2.9, 6.1]), (30, 45))
    depth[5:12, 8:20] = np.nan  # a hole in the depth, next to valid pixels
    cv2.imwrite(str(tmp_path / "rgb" / "frame.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    np.save(tmp_path / "depth" / "frame.npy", depth)
    config = _config(tmp_path / "run")
    source = labeled_source(config, "teacher", f"folder:{tmp_path}", 1)
    for seed in range(4):
        crop = source.load(0, np.random.default_rng(seed))
        assert crop["depth"].shape == (42, 42)
        assert crop["valid"].any() and not crop["valid"].all()
        recorded = set(np.unique(depth[np.isfinite(depth)]))
        assert set(np.unique(crop["depth"][crop["valid"]])) <= recorded
        assert (crop["depth"][~crop["valid"]] == 0).all()


def test_teacher_loss_scales_the_gradient_matching_term_by_its_weight():
    # teacher.gradient_matching_weight trades sharp depth edges against the affine-invariant
    # fit (V2 uses 2); someone tuning it for their robot's scenes must get the weight they set.
    from depth_anything_ros.training.losses import affine_invariant_loss, gradient_matching_loss
    from depth_anything_ros.training.stages.teacher import relative_loss

    rng = np.random.default_rng(5)
    pred = torch.from_numpy(rng.uniform(0.1, 2.0, (2, 16, 16)).astype(np.float32))
    part = {"disparity": torch.from_numpy(rng.uniform(0.2, 5.0, (2, 16, 16)).astype(np.float32)),
            "valid": torch.from_numpy(rng.uniform(size=(2, 16, 16)) > 0.2)}
    ssi = float(affine_invariant_loss(pred, part["disparity"], part["valid"]))
    gm = float(gradient_matching_loss(pred, part["disparity"], part["valid"]))
    assert gm > 0.1 * ssi  # the term is large enough for its weight to show
    for weight in (0.5, 2.0):
        loss, logs = relative_loss(pred, part, weight)
        assert float(loss) == pytest.approx(ssi + weight * gm, rel=1e-6)
        assert float(logs["loss_ssi"]) == pytest.approx(ssi)
        assert float(logs["loss_gm"]) == pytest.approx(gm)
    loss, logs = relative_loss(pred, part, 0.0)  # V1: off
    assert float(loss) == pytest.approx(ssi) and "loss_gm" not in logs


def test_student_supervises_the_pasted_cutmix_box_with_its_partners_pseudo_label(tmp_path):
    # CutMix pastes a box of another unlabeled image into each one; that box shows the other
    # image, so it must be scored against the other image's pseudo-label. Scoring it against
    # the image's own label teaches the student depth that is not in the picture.
    from depth_anything_ros.training.data.perturbations import StrongPerturbation
    from depth_anything_ros.training.data.transforms import normalize_images
    from depth_anything_ros.training.losses import cutmix_affine_invariant_loss
    from depth_anything_ros.training.stages.common import network_input
    from depth_anything_ros.training.stages.pseudo_label import item_file

    config = _config(tmp_path, steps=1,
                     **{"student.cutmix_p": "1.0", "student.feature_alignment": "false"})
    labels = tmp_path / "pseudo_labels"
    labels.mkdir()
    y, x = np.mgrid[0:56, 0:56] / 55.0
    for i in range(8):  # a different pseudo-disparity for every image: ramps in 8 directions
        angle = 2 * np.pi * i / 8
        ramp = 1.0 + np.cos(angle) * x + np.sin(angle) * y
        np.save(labels / item_file(i), ramp.astype(np.float16))
    manifest = labels / "manifest.json"
    items = [{"index": i, "file": item_file(i)} for i in range(8)]
    manifest.write_text(json.dumps({"source": config.data.unlabeled, "num_unlabeled": None,
                                    "items": items}))
    spec = student_spec(config, tmp_path / "teacher.safetensors", manifest)
    batch = StepBatches(spec.sources, 0, 0, 1)[0]
    model = spec.model.eval()
    with torch.no_grad():
        _, logs = spec.compute_loss(model, batch)

        unl = batch["unlabeled"]
        clean = unl["image"].permute(0, 3, 1, 2).float() / 255.0
        generator = torch.Generator().manual_seed(int(unl["seed"][0]))
        mixed = StrongPerturbation(cutmix_p=1.0)(clean, generator)
        cut, partner, pseudo = mixed.mask[:, 0] > 0.5, mixed.partner, unl["pseudo"].float()
        assert (~cut).any() and (partner != torch.arange(len(partner))).all()  # boxes were pasted
        depth, _ = model.forward_with_features(
            torch.cat([network_input(batch["labeled"]["image"]), normalize_images(mixed.images)]))
        pred_u = depth[len(batch["labeled"]["image"]):].float()
        expected = float(cutmix_affine_invariant_loss(pred_u, pseudo, pseudo[partner], cut))
        own_label_only = float(cutmix_affine_invariant_loss(pred_u, pseudo, pseudo, cut))
    assert abs(expected - own_label_only) > 0.01 * expected  # the two labellings differ
    assert float(logs["loss_unlabeled"]) == pytest.approx(expected, rel=1e-5)


def test_metric_init_head_true_starts_the_head_from_the_source_checkpoint(tmp_path):
    # metric.init_head=true is how someone continues from a metric model (e.g. one already
    # fine-tuned on their robot); the head it learned must be the starting point, not a random
    # one. The default (false) keeps DA2's recipe: encoder copied, head random.
    from depth_anything_ros.model import DepthAnything, ModelConfig, save_model

    torch.manual_seed(7)
    source_path = tmp_path / "source.safetensors"
    save_model(DepthAnything(ModelConfig.preset("vitpico", variant="metric", max_depth=20.0,
                                                input_size=42)), source_path)
    source = load_model(source_path).state_dict()
    head_keys = [k for k in source if k.startswith("depth_head.")]
    assert head_keys
    with_head = metric_spec(_config(tmp_path / "a", **{"metric.init_head": "true"}), source_path)
    state = with_head.model.state_dict()
    assert all(torch.equal(state[k], source[k]) for k in source)
    without = metric_spec(_config(tmp_path / "b"), source_path).model.state_dict()
    qkv = "pretrained.blocks.0.attn.qkv.weight"
    assert torch.equal(without[qkv], source[qkv])
    last = "depth_head.scratch.output_conv2.2.weight"
    assert last in head_keys and not torch.equal(without[last], source[last])


def test_labels_made_at_another_crop_size_are_made_again(tmp_path):
    # The teacher labels at input_size = data.crop, and its predictions change with the input
    # size. After changing data.crop, resuming into the same folder must not hand the student
    # labels made at the old size (nor a manifest claiming the new one).
    from depth_anything_ros.model import DepthAnything, ModelConfig, save_model
    from depth_anything_ros.training.stages.common import open_data

    torch.manual_seed(3)
    teacher = tmp_path / "teacher.safetensors"
    save_model(DepthAnything(ModelConfig.preset("vitpico", input_size=42)), teacher)
    out = tmp_path / "labels"
    run_pseudo_label(_config(tmp_path, **{"data.num_unlabeled": 2}), teacher_weights=teacher,
                     out_dir=out, device="cpu")
    at_42 = np.load(out / "0000000.npy").astype(np.float32)
    config = _config(tmp_path, **{"data.num_unlabeled": 2, "data.crop": 28})
    manifest = run_pseudo_label(config, teacher_weights=teacher, out_dir=out, device="cpu")
    image = open_data(config.data.unlabeled)[0]["image"]
    estimator = DepthEstimator(load_model(teacher), device="cpu", input_size=28)
    expected = estimator.predict(image).values
    assert np.abs(expected - at_42).max() > 0.2 * np.abs(expected).max()  # the sizes disagree
    np.testing.assert_allclose(np.load(out / "0000000.npy").astype(np.float32), expected,
                               rtol=2e-3, atol=1e-4)  # float16 storage
    assert read_manifest(manifest)["input_size"] == 28


def test_re_export_provenance_replaces_what_the_source_file_recorded(tmp_path):
    # Re-exporting a model after evaluating it on the robot's own data must record the new
    # numbers: a model card showing the source file's old evaluation would misreport the model.
    from depth_anything_ros.model import DepthAnything, ModelConfig, save_model

    source = tmp_path / "metric.safetensors"
    model = DepthAnything(ModelConfig.preset("vitpico", variant="metric", max_depth=20.0,
                                             input_size=28))
    save_model(model, source, provenance={"stage": "metric", "evaluation": {"abs_rel": 0.9}})
    out = export_model(source, tmp_path / "exported.safetensors",
                       provenance={"evaluation": {"abs_rel": 0.1}})
    prov = read_provenance(out)
    assert prov["evaluation"] == {"abs_rel": 0.1}
    assert prov["stage"] == "metric" and prov["exported_from"] == str(source)  # the rest is kept
