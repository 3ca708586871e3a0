"""Student perturbations keep pseudo-labels aligned and repeat exactly per generator seed."""

import pytest
import torch

from depth_anything_ros.training.data.perturbations import (
    StrongPerturbation,
    colour_jitter,
    cutmix,
    gaussian_blur,
    mix_like,
)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _constant_batch(n=6, h=24, w=32):
    """Image i is the constant grey i/10 and its pseudo-label the constant 10·i: any pixel's
    source image can be read off both."""
    values = torch.arange(n, dtype=torch.float32) / 10
    images = values.view(n, 1, 1, 1).expand(n, 3, h, w).clone()
    labels = (values * 100).view(n, 1, 1).expand(n, h, w).clone()
    return images, labels


def test_cutmix_applies_the_same_mask_and_partner_to_images_and_pseudo_labels():
    images, labels = _constant_batch()
    result = cutmix(images, _gen(3), p=1.0)
    mixed_labels = mix_like(labels, result.mask, result.partner)
    torch.testing.assert_close(mixed_labels, result.images[:, 0] * 100)
    # own image where M = 1, the partner's where M = 0
    m = result.mask[:, 0]
    own, theirs = labels, labels[result.partner]
    torch.testing.assert_close(mixed_labels, torch.where(m > 0, own, theirs))
    assert (result.partner != torch.arange(6)).all()
    assert set(result.mask.unique().tolist()) == {0.0, 1.0}


def test_cutmix_never_pairs_an_image_with_itself_whatever_the_seed():
    # A self-partner pastes an image onto itself: the student would get no CutMix at all for
    # that batch. With 4 images a zero shift would come up in about 1 seed in 4.
    images, _ = _constant_batch(4, 8, 8)
    for seed in range(50):
        result = cutmix(images, _gen(seed), p=1.0)
        assert (result.partner != torch.arange(4)).all(), f"seed {seed}: {result.partner}"
        assert (result.mask.amin(dim=(1, 2, 3)) == 0).all(), f"seed {seed}: an image kept whole"


def test_cutmix_box_area_is_within_its_range_and_gives_the_region_weights():
    images, _ = _constant_batch(8, 40, 40)
    result = cutmix(images, _gen(1), p=1.0, area=(0.1, 0.3))
    pasted = 1 - result.mask.mean(dim=(1, 2, 3))  # Σ(1 − M)/HW per image
    assert ((pasted > 0.05) & (pasted < 0.36)).all()
    kept = result.mask.sum(dim=(1, 2, 3)) / (40 * 40)
    torch.testing.assert_close(kept + pasted, torch.ones(8))


def test_cutmix_probability_zero_or_a_single_image_changes_nothing():
    images, _ = _constant_batch()
    for batch, p in ((images, 0.0), (images[:1], 1.0)):
        result = cutmix(batch, _gen(0), p=p)
        torch.testing.assert_close(result.images, batch)
        assert (result.mask == 1).all()


def test_cutmix_mixes_about_half_the_images_at_p_one_half():
    images, _ = _constant_batch(200, 8, 8)
    result = cutmix(images, _gen(7), p=0.5)
    mixed = (result.mask.amin(dim=(1, 2, 3)) == 0).float().mean()
    assert 0.35 < float(mixed) < 0.65


def test_mix_like_works_for_channel_labels_and_rejects_other_shapes():
    images, labels = _constant_batch()
    result = cutmix(images, _gen(2), p=1.0)
    torch.testing.assert_close(
        mix_like(labels[:, None], result.mask, result.partner)[:, 0],
        mix_like(labels, result.mask, result.partner),
    )
    with pytest.raises(ValueError, match="do not match the CutMix mask"):
        mix_like(labels[:, :10], result.mask, result.partner)


def test_colour_jitter_and_blur_keep_geometry_and_leave_inputs_untouched():
    images = torch.zeros(4, 3, 32, 32)
    images[:, :, 10:20, 12:22] = torch.tensor([0.9, 0.5, 0.2]).view(3, 1, 1)
    original = images.clone()
    jittered = colour_jitter(images, _gen(0), p=1.0, grayscale_p=0.0)
    blurred = gaussian_blur(images, _gen(0), p=1.0, sigma=(1.0, 2.0))
    torch.testing.assert_close(images, original)
    for out in (jittered, blurred):
        assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1
        # the bright square stays where it was: its centre of mass does not move
        weight = (out - out.amin(dim=(2, 3), keepdim=True)).sum(dim=1)
        ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
        total = weight.sum(dim=(1, 2))
        torch.testing.assert_close(
            ((weight * ys).sum(dim=(1, 2)) / total), torch.full((4,), 14.5), atol=1e-3, rtol=0
        )
        torch.testing.assert_close(
            ((weight * xs).sum(dim=(1, 2)) / total), torch.full((4,), 16.5), atol=1e-3, rtol=0
        )
    assert not torch.allclose(jittered, images) and not torch.allclose(blurred, images)


def test_perturbations_repeat_exactly_for_the_same_generator_seed():
    images = torch.rand(5, 3, 16, 16, generator=_gen(9))
    a = StrongPerturbation(cutmix_p=1.0)(images, _gen(4))
    b = StrongPerturbation(cutmix_p=1.0)(images, _gen(4))
    c = StrongPerturbation(cutmix_p=1.0)(images, _gen(5))
    torch.testing.assert_close(a.images, b.images, rtol=0, atol=0)
    torch.testing.assert_close(a.mask, b.mask, rtol=0, atol=0)
    assert not torch.equal(a.images, c.images)


def test_wrong_image_layout_is_rejected():
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        cutmix(torch.zeros(2, 16, 16, 3), _gen())
