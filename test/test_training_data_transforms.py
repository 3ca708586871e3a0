"""Transforms: geometry and intrinsics stay consistent, normalisation equals inference's."""

import numpy as np
import pytest
import torch

from depth_anything_ros.inference.preprocess import prepare_batch_cv2
from depth_anything_ros.training.data.primitives import Rect, Sphere
from depth_anything_ros.training.data.samples import DepthDataset, make_sample
from depth_anything_ros.training.data.scene import CameraPose, Scene, intrinsics_from_fov
from depth_anything_ros.training.data.textures import Material
from depth_anything_ros.training.data.transforms import (
    EvalTransform,
    TrainTransform,
    TransformedDataset,
    crop,
    hflip,
    resize_lower_bound,
    to_tensors,
)

GREY = Material("tiles", (0.5, 0.5, 0.5), (0.8, 0.7, 0.6))
SCENE = Scene(
    "test",
    0,
    [
        Rect((0, 0, 0), (1, 0, 0), (0, 1, 0), np.inf, np.inf, GREY),
        Rect((6, 0, 0), (0, 1, 0), (0, 0, 1), np.inf, np.inf, GREY),
        Sphere((4, 0.5, 1.2), 0.7, GREY),
    ],
    ambient=(1, 1, 1),
)
POSE = CameraPose.from_yaw_pitch((0, 0, 1.5), 0.1, -0.2)


def _rendered(width, height, intrinsics):
    rgb, depth = SCENE.render(POSE, intrinsics, width, height)
    return make_sample(rgb, "frame", depth, intrinsics)


def test_resize_and_crop_keep_depth_consistent_with_the_updated_intrinsics():
    sample = _rendered(64, 48, intrinsics_from_fov(64, 48, 75.0))
    out = crop(resize_lower_bound(sample, 32), 0, 5, 32, 32)
    assert out["image"].shape == (32, 32, 3) and out["image"].dtype == np.float32
    assert out["depth"].shape == (32, 32) and out["valid"].dtype == bool
    # The scene rendered directly with the transformed intrinsics has (nearly) the same depth.
    _, expected = SCENE.render(POSE, out["intrinsics"], 32, 32)
    rel = np.abs(out["depth"] - expected) / expected
    assert np.nanmedian(rel) < 0.01
    assert set(np.unique(out["depth"])) <= set(np.unique(sample["depth"]))  # nearest: no new depths


def test_resize_lower_bound_makes_the_shorter_side_the_target():
    sample = make_sample(
        np.zeros((30, 40, 3), np.uint8), "x", np.ones((30, 40), np.float32), [40, 40, 19.5, 14.5]
    )
    out = resize_lower_bound(sample, 60)
    assert out["image"].shape[:2] == (60, 80)
    np.testing.assert_allclose(out["intrinsics"], [80, 80, 39.5, 29.5])


def test_hflip_mirrors_pixels_and_principal_point():
    image = np.arange(2 * 5 * 3, dtype=np.uint8).reshape(2, 5, 3)
    depth = np.arange(10, dtype=np.float32).reshape(2, 5) + 1
    out = hflip(make_sample(image, "x", depth, [10, 10, 1.0, 0.5]))
    np.testing.assert_array_equal(out["image"], image[:, ::-1])
    np.testing.assert_array_equal(out["depth"], depth[:, ::-1])
    np.testing.assert_allclose(out["intrinsics"], [10, 10, 3.0, 0.5])


def test_crop_outside_the_image_is_rejected_with_the_sample_name():
    sample = make_sample(np.zeros((4, 4, 3), np.uint8), "frame_7")
    with pytest.raises(ValueError, match="frame_7: crop 3x3 at \\(2, 0\\)"):
        crop(sample, 2, 0, 3, 3)


def test_tensor_normalisation_equals_inference_preprocessing():
    rgb = np.random.default_rng(0).integers(0, 256, (14, 28, 3), dtype=np.uint8)
    ours = EvalTransform()(make_sample(rgb, "x"))["image"]
    reference = prepare_batch_cv2(rgb[None], (14, 28))[0]
    torch.testing.assert_close(ours, reference, atol=1e-6, rtol=0)
    raw = to_tensors(make_sample(rgb, "x"), normalize=False)["image"]
    torch.testing.assert_close(raw, torch.from_numpy(rgb).permute(2, 0, 1).float() / 255)


def test_invalid_depth_becomes_zero_with_a_false_mask():
    depth = np.array([[1.0, np.nan], [np.inf, 2.0]], np.float32)
    out = to_tensors(make_sample(np.zeros((2, 2, 3), np.uint8), "x", depth))
    torch.testing.assert_close(out["depth"], torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
    assert out["valid"].tolist() == [[True, False], [False, True]]


class _Frames(DepthDataset):
    labeled = True

    def __len__(self):
        return 3

    def __getitem__(self, index):
        return _rendered(40, 30, intrinsics_from_fov(40, 30, 60.0 + index))


def test_augmentation_repeats_per_seed_epoch_and_index_and_changes_with_the_epoch():
    a = TransformedDataset(_Frames(), TrainTransform(size=20), seed=5)
    b = TransformedDataset(_Frames(), TrainTransform(size=20), seed=5)
    torch.testing.assert_close(a[1]["image"], b[1]["image"])
    torch.testing.assert_close(a[1]["depth"], b[1]["depth"])
    batch = torch.utils.data.default_collate([a[i] for i in range(3)])
    assert batch["image"].shape == (3, 3, 20, 20) and batch["valid"].shape == (3, 20, 20)
    crops = set()
    for epoch in range(6):
        a.set_epoch(epoch)
        crops.add(tuple(a[1]["intrinsics"].tolist()))
    assert len(crops) > 1
