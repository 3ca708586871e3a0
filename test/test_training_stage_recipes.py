"""Details of each stage's recipe that a loss going down would not show: nearest-neighbour
depth in crops, the gradient-matching weight, CutMix boxes' pseudo-labels, metric.init_head,
pseudo-labels remade at another crop size, a re-export's provenance."""
import json

import numpy as np
import pytest
import torch
from training_helpers import tiny_stage_config as _config

from depth_anything_ros.inference import DepthEstimator
from depth_anything_ros.model import load_model, read_provenance
from depth_anything_ros.training.loop import StepBatches
from depth_anything_ros.training.stages.export import export_model
from depth_anything_ros.training.stages.metric import metric_spec
from depth_anything_ros.training.stages.pseudo_label import read_manifest, run_pseudo_label
from depth_anything_ros.training.stages.student import student_spec


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
