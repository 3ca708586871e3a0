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
    random_crop,
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


def test_hflip_mirrors_the_valid_mask_with_the_depth():
    # The loss reads depth only where valid is True: a mask left unflipped would point it at
    # the mirrored pixels. NaNs in an asymmetric pattern give a mask that differs from its mirror.
    depth = np.arange(3 * 5, dtype=np.float32).reshape(3, 5) + 1
    depth[0, 0] = depth[1, 1] = depth[2, 3] = np.nan
    sample = make_sample(np.zeros((3, 5, 3), np.uint8), "x", depth, [10, 10, 2.0, 1.0])
    assert not np.array_equal(sample["valid"], sample["valid"][:, ::-1])
    out = hflip(sample)
    np.testing.assert_array_equal(out["valid"], sample["valid"][:, ::-1])
    np.testing.assert_array_equal(out["valid"], np.isfinite(out["depth"]))


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


# --- exact intrinsics: every transform must move the principal point with the pixels --------
# Checked on the intrinsics themselves (≤ 1e-4 px), by projecting 3-D points: a pixel that shows
# a point before a transform must show it after, at the position the transform moved it to.

TIGHT_PX = 1e-4
POINTS = np.random.default_rng(3).uniform([-1.0, -0.8, 1.0], [1.0, 0.8, 6.0], (50, 3))


def _project(intrinsics, points=POINTS):
    fx, fy, cx, cy = np.asarray(intrinsics, np.float64)
    return np.stack([fx * points[:, 0] / points[:, 2] + cx,
                     fy * points[:, 1] / points[:, 2] + cy], axis=1)


def _sample(width=64, height=48, intrinsics=(57.3, 55.1, 30.7, 22.9)):
    return make_sample(np.zeros((height, width, 3), np.uint8), "frame",
                       np.ones((height, width), np.float32), intrinsics)


@pytest.mark.parametrize("top,left", [(0, 0), (3, 0), (0, 7), (5, 11)])
def test_crop_moves_the_principal_point_by_exactly_the_offset(top, left):
    sample = _sample()
    out = crop(sample, top, left, 30, 40)
    np.testing.assert_allclose(_project(out["intrinsics"]),
                               _project(sample["intrinsics"]) - [left, top], atol=TIGHT_PX, rtol=0)
    np.testing.assert_allclose(out["intrinsics"], [57.3, 55.1, 30.7 - left, 22.9 - top],
                               atol=TIGHT_PX, rtol=0)


def test_random_crop_reaches_every_offset_including_the_last_row_and_column():
    # A 10x12 sample cropped to 8 has tops 0..2 and lefts 0..4; the crop shifts the principal
    # point by exactly the offset, so each draw's (top, left) can be read back from it.
    sample = _sample(width=12, height=10, intrinsics=(20.0, 20.0, 6.0, 5.0))
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(300):
        _, _, cx, cy = random_crop(sample, 8, rng)["intrinsics"]
        seen.add((int(round(5.0 - cy)), int(round(6.0 - cx))))
    assert seen == {(top, left) for top in range(3) for left in range(5)}


@pytest.mark.parametrize("size", [24, 32, 37, 96])
def test_resize_scales_intrinsics_about_pixel_centres_exactly(size):
    # cv2.resize maps pixel centres: x_dst = (x_src + 0.5)·s − 0.5 with s = dst/src per axis.
    sample = _sample()
    out = resize_lower_bound(sample, size)
    new_h, new_w = out["image"].shape[:2]
    sx, sy = new_w / 64, new_h / 48
    expected = (_project(sample["intrinsics"]) + 0.5) * [sx, sy] - 0.5
    np.testing.assert_allclose(_project(out["intrinsics"]), expected, atol=TIGHT_PX, rtol=0)


def test_hflip_mirrors_the_principal_point_exactly():
    sample = _sample()
    out = hflip(sample)
    # The flipped image shows the mirrored world (X → −X) at u' = W − 1 − u.
    expected = _project(sample["intrinsics"]) * [-1, 1] + [64 - 1, 0]
    np.testing.assert_allclose(_project(out["intrinsics"], POINTS * [-1, 1, 1]), expected,
                               atol=TIGHT_PX, rtol=0)


def test_train_transform_crop_and_flip_intrinsics_are_exact_for_the_window_it_took():
    # No resize (size = shorter side): the depth map encodes each pixel's source (u, v), so the
    # window and the flip the random transform chose can be read back from its output.
    height, width = 30, 50
    v, u = np.mgrid[0:height, 0:width]
    coded = (1 + u + 1000 * v).astype(np.float32)
    sample = make_sample(np.zeros((height, width, 3), np.uint8), "coded", coded,
                         (41.0, 43.0, 24.3, 14.6))
    flips = set()
    for seed in range(12):
        out = TrainTransform(size=30, normalize=False)(sample, np.random.default_rng(seed))
        corner, next_right = int(out["depth"][0, 0]), int(out["depth"][0, 1])
        flipped = next_right < corner
        top, left = divmod(corner - 1, 1000)
        if flipped:
            left -= 29
        flips.add(flipped)
        pixels = _project(sample["intrinsics"]) - [left, top]
        if flipped:
            pixels[:, 0] = 29 - pixels[:, 0]
            world = POINTS * [-1, 1, 1]
        else:
            world = POINTS
        np.testing.assert_allclose(_project(out["intrinsics"].numpy(), world), pixels,
                                   atol=TIGHT_PX, rtol=0)
    assert flips == {True, False}
