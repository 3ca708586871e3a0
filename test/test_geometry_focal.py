"""Focal awareness: the normalised focal, checkpoints that declare theirs, and the estimator's
f/f_c correction (Metric3D's canonical camera, REFERENCE.md §14)."""
import math

import numpy as np
import pytest
import torch

from depth_anything_ros.geometry.focal import (CANONICAL, OFFICIAL_TRAINING_CAMERAS,
                                               TRAINING_CAMERA, corrects_focal, fx_from_hfov,
                                               normalised_focal)
from depth_anything_ros.inference import DepthEstimator
from depth_anything_ros.model import (DepthAnything, ModelConfig, inspect_checkpoint, load_model,
                                      save_model)

INPUT_SIZE = 56


def metric_model(focal=None, origin=None, seed=0) -> DepthAnything:
    torch.manual_seed(seed)
    config = ModelConfig.preset("vitpico", variant="metric", max_depth=20.0,
                                input_size=INPUT_SIZE, canonical_focal=focal, focal_origin=origin)
    return DepthAnything(config).eval()


def rgb(height=30, width=40, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_normalised_focal_is_fx_over_the_shorter_side_so_resizes_and_crops_keep_it():
    assert normalised_focal(517.3, 640, 480) == pytest.approx(517.3 / 480)
    # the same sensor cropped to a square: the network sees identical pixels, identical focal
    assert normalised_focal(517.3, 480, 480) == normalised_focal(517.3, 640, 480)
    # resized by 0.35: fx scales with the image
    assert normalised_focal(517.3 * 0.35, 224, 168) == pytest.approx(517.3 / 480)
    assert normalised_focal(fx_from_hfov(90.0, 100), 100, 100) == pytest.approx(0.5)
    assert OFFICIAL_TRAINING_CAMERAS["hypersim"].focal == pytest.approx(886.81 / 768)
    assert OFFICIAL_TRAINING_CAMERAS["vkitti"].focal == pytest.approx(725.0087 / 375)
    for bad in (0.0, -3.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="fx"):
            normalised_focal(bad, 640, 480)


def test_correction_policy_auto_corrects_canonical_checkpoints_only():
    assert corrects_focal("auto", CANONICAL)
    assert not corrects_focal("auto", TRAINING_CAMERA)
    assert corrects_focal("on", TRAINING_CAMERA) and corrects_focal("on", CANONICAL)
    assert not corrects_focal("off", CANONICAL)
    assert not corrects_focal("on", None)
    with pytest.raises(ValueError, match="focal_correction"):
        corrects_focal("yes", CANONICAL)


def test_canonical_focal_survives_save_and_load(tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(metric_model(0.7, CANONICAL), path)
    for config in (inspect_checkpoint(path), load_model(path).config):
        assert (config.canonical_focal, config.focal_origin) == (0.7, CANONICAL)


def test_model_config_refuses_inconsistent_focal_declarations():
    with pytest.raises(ValueError, match="both set or both None"):
        ModelConfig.preset("vitpico", variant="metric", max_depth=20.0, canonical_focal=0.7)
    with pytest.raises(ValueError, match="metric models only"):
        ModelConfig.preset("vitpico", canonical_focal=0.7, focal_origin=CANONICAL)
    with pytest.raises(ValueError, match="focal_origin"):
        ModelConfig.preset("vitpico", variant="metric", max_depth=20.0, canonical_focal=0.7,
                           focal_origin="guess")


def test_official_metric_files_declare_their_training_camera(tmp_path):
    torch.manual_seed(0)
    state = metric_model().state_dict()
    for name, camera in (("hypersim", "hypersim"), ("vkitti", "vkitti")):
        path = tmp_path / f"depth_anything_v2_metric_{name}_vits.pth"
        torch.save(state, path)
        config = inspect_checkpoint(path)
        assert config.focal_origin == TRAINING_CAMERA
        assert config.canonical_focal == pytest.approx(OFFICIAL_TRAINING_CAMERAS[camera].focal)
    relative = tmp_path / "depth_anything_v2_vits.pth"
    torch.save(DepthAnything(ModelConfig.preset("vitpico")).state_dict(), relative)
    assert inspect_checkpoint(relative).canonical_focal is None


@pytest.mark.parametrize("height, width", [(30, 40), (40, 30), (32, 32)])
def test_estimator_multiplies_by_f_over_fc_for_a_canonical_model(height, width):
    estimator = DepthEstimator(metric_model(0.7, CANONICAL), device="cpu")
    image = rgb(height, width)
    plain = estimator.predict(image)
    fx = 25.0
    corrected = estimator.predict(image, fx=fx)
    expected = (fx / min(height, width)) / 0.7
    assert plain.focal_scale == 1.0
    assert corrected.focal_scale == pytest.approx(expected)
    np.testing.assert_allclose(corrected.values, plain.values * expected, rtol=1e-6)
    # the same pixels from a lens of half the focal length show a scene half as far away
    wide = estimator.predict(image, fx=fx / 2)
    np.testing.assert_allclose(wide.values, corrected.values / 2, rtol=1e-6)


def test_policy_and_checkpoint_decide_whether_fx_is_used():
    image = rgb()
    official_like = metric_model(886.81 / 768, TRAINING_CAMERA)
    auto = DepthEstimator(official_like, device="cpu")
    assert not auto.corrects_focal
    np.testing.assert_array_equal(auto.predict(image, fx=30.0).values, auto.predict(image).values)
    on = DepthEstimator(official_like, device="cpu", focal_correction="on")
    assert on.predict(image, fx=30.0).focal_scale == pytest.approx((30.0 / 30) / (886.81 / 768))
    off = DepthEstimator(metric_model(0.7, CANONICAL), device="cpu", focal_correction="off")
    assert off.predict(image, fx=30.0).focal_scale == 1.0
    with pytest.raises(ValueError, match="declares none"):
        DepthEstimator(metric_model(), device="cpu", focal_correction="on")
    with pytest.raises(ValueError, match="focal_correction"):
        DepthEstimator(metric_model(), device="cpu", focal_correction="maybe")


def test_batch_takes_one_focal_per_frame_and_none_where_unknown():
    estimator = DepthEstimator(metric_model(0.5, CANONICAL), device="cpu")
    images = np.stack([rgb(seed=0), rgb(seed=1), rgb(seed=2)])
    plain = estimator.predict_batch(images).values
    result = estimator.predict_batch(images, fx=[15.0, None, 45.0])
    np.testing.assert_allclose(result.focal_scale, [1.0, 1.0, 3.0], rtol=1e-6)
    np.testing.assert_allclose(result.values, plain * np.array([1.0, 1.0, 3.0])[:, None, None],
                               rtol=1e-6)
    with pytest.raises(ValueError, match="fx"):
        estimator.predict_batch(images, fx=[15.0])
    with pytest.raises(ValueError, match="fx"):
        estimator.predict(images[0], fx=-1.0)


def test_batch_focal_may_be_a_numpy_array_of_one_per_frame():
    """An array of focals (as a caller holding per-frame fx in numpy has) is one per frame,
    exactly as the list is, not one focal for every frame."""
    estimator = DepthEstimator(metric_model(0.5, CANONICAL), device="cpu")
    images = np.stack([rgb(seed=0), rgb(seed=1), rgb(seed=2)])
    from_list = estimator.predict_batch(images, fx=[15.0, 30.0, 45.0])
    from_array = estimator.predict_batch(images, fx=np.array([15.0, 30.0, 45.0]))
    np.testing.assert_allclose(from_array.focal_scale, [1.0, 2.0, 3.0], rtol=1e-6)
    np.testing.assert_array_equal(from_array.values, from_list.values)
    one = estimator.predict_batch(images, fx=np.array(30.0))  # a 0-d array: one for all
    np.testing.assert_allclose(one.focal_scale, [2.0, 2.0, 2.0], rtol=1e-6)
