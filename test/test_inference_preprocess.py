"""Preprocessing matches the official Depth Anything pipeline (REFERENCE.md § 3)."""
import cv2
import numpy as np
import pytest
import torch

from depth_anything_ros.inference.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    network_size,
    prepare_batch,
    prepare_batch_cv2,
    prepare_batch_torch,
)


@pytest.mark.parametrize(
    ("width", "height", "net_width", "net_height"),
    [
        (640, 480, 686, 518),
        (1280, 720, 924, 518),
        (1242, 375, 1722, 518),
        (848, 480, 910, 518),
        (1920, 1080, 924, 518),
        (518, 518, 518, 518),
        (480, 640, 518, 686),  # portrait: the width becomes the short side
    ],
)
def test_network_size_follows_official_lower_bound_rule(width, height, net_width, net_height):
    assert network_size(height, width) == (net_height, net_width)


def test_network_size_sides_are_multiples_of_14_and_never_below_input_size():
    for height, width in [(100, 333), (719, 1281), (37, 370), (150, 15)]:
        for input_size in (266, 364, 518):
            h, w = network_size(height, width, input_size)
            assert h % 14 == 0 and w % 14 == 0
            assert min(h, w) >= input_size
            assert min(h, w) - input_size < 14


def test_a_strip_beyond_10_to_1_is_refused_before_it_costs_minutes():
    # a 4×400 strip made the shipped model see 168×16800 tokens' worth (35 s for one image)
    with pytest.raises(ValueError, match=r"image 400x4 \(WxH\) is more than 10:1.*crop it"):
        network_size(4, 400, 168)
    assert network_size(48, 480, 168) == (168, 1680)  # 10:1 still runs


def test_network_size_rejects_input_size_not_multiple_of_patch():
    with pytest.raises(ValueError, match="multiple of 14"):
        network_size(480, 640, input_size=500)


def official_numpy_preprocess(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The official order written out: float64 /255, cv2 INTER_CUBIC, mean/std, CHW float32."""
    scaled = image.astype(np.float64) / 255.0
    resized = cv2.resize(scaled, (size[1], size[0]), interpolation=cv2.INTER_CUBIC)
    normalised = (resized - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    return np.ascontiguousarray(normalised.transpose(2, 0, 1)).astype(np.float32)


def test_cv2_path_equals_official_float64_pipeline():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 48, 64, 3), dtype=np.uint8)
    size = network_size(48, 64, input_size=56)
    batch = prepare_batch_cv2(images, size)
    assert batch.shape == (2, 3, *size) and batch.dtype == torch.float32
    for i in range(2):
        expected = official_numpy_preprocess(images[i], size)
        np.testing.assert_allclose(batch[i].numpy(), expected, rtol=0, atol=2e-5)


def test_torch_path_is_close_to_cv2_on_cpu_tensors():
    """The GPU path's resize (F.interpolate bicubic, no antialias) vs cv2 INTER_CUBIC.

    Measured on CPU tensors: up- and down-scaling differ by < 1e-4 in normalised units
    (about 0.006 grey levels of 255), far below the 1/255 step of the input.
    """
    rng = np.random.default_rng(1)
    for shape, size in [((60, 80), (98, 126)), ((108, 192), (70, 126)), ((108, 192), (28, 56))]:
        images = rng.integers(0, 256, size=(1, *shape, 3), dtype=np.uint8)
        reference = prepare_batch_cv2(images, size)
        on_device = prepare_batch_torch(images, size, "cpu")
        diff = (reference - on_device).abs()
        assert diff.max().item() < 2e-4, f"{shape}->{size}: max |diff| {diff.max().item():.2e}"
        assert diff.mean().item() < 2e-5


def test_torch_path_accepts_uint8_tensor_and_skips_resize_at_network_size():
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(1, 28, 42, 3), dtype=np.uint8)
    from_tensor = prepare_batch_torch(torch.from_numpy(images), (28, 42))
    expected = (images[0].astype(np.float32) / 255.0 - np.array(IMAGENET_MEAN, np.float32)) / np.array(
        IMAGENET_STD, np.float32
    )
    np.testing.assert_allclose(from_tensor[0].permute(1, 2, 0).numpy(), expected, atol=1e-6)


def test_prepare_batch_auto_uses_exact_cv2_path_on_cpu():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(1, 30, 40, 3), dtype=np.uint8)
    assert torch.equal(prepare_batch(images, (42, 56), "cpu"), prepare_batch_cv2(images, (42, 56)))


def test_preprocessing_never_modifies_the_input():
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, size=(1, 30, 40, 3), dtype=np.uint8)
    before = images.copy()
    prepare_batch_cv2(images, (42, 56))
    prepare_batch_torch(images, (42, 56))
    prepare_batch_torch(images, (30, 40))
    np.testing.assert_array_equal(images, before)


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((1, 8, 8, 3), np.float32), "uint8"),
        (np.zeros((1, 8, 8, 4), np.uint8), r"\(B, H, W, 3\)"),
        (np.zeros((0, 8, 8, 3), np.uint8), "empty"),
    ],
)
def test_bad_batches_are_rejected_with_the_reason(images, message):
    with pytest.raises((TypeError, ValueError), match=message):
        prepare_batch_cv2(images, (14, 14))
    with pytest.raises((TypeError, ValueError), match=message):
        prepare_batch_torch(images, (14, 14))


def test_unknown_method_is_rejected():
    with pytest.raises(ValueError, match="unknown preprocessing method 'pil'"):
        prepare_batch(np.zeros((1, 8, 8, 3), np.uint8), (14, 14), "cpu", method="pil")
