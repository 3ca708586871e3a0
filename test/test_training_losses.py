"""Training losses against float64 numpy references (REFERENCE.md §4–5) and their invariances."""
import numpy as np
import pytest
import torch

from depth_anything_ros.training.losses import (affine_invariant_loss, cutmix_affine_invariant_loss,
                             feature_alignment_loss, gradient_matching_loss, normalize_disparity,
                             silog_loss)


def _np_normalize(d, m):
    v = np.sort(d[m])
    med = v[(v.size - 1) // 2]  # lower median, torch.median convention
    s = np.mean(np.abs(d[m] - med))
    return (d - med) / s


def _np_affine(pred, target, mask):
    losses = []
    for p, t, m in zip(pred, target, mask):
        if m.any():
            losses.append(np.mean(np.abs(_np_normalize(p, m)[m] - _np_normalize(t, m)[m])))
    return float(np.mean(losses))


@pytest.fixture
def maps():
    rng = np.random.default_rng(3)
    pred = rng.uniform(0.1, 2.0, (3, 9, 11))
    target = rng.uniform(0.1, 5.0, (3, 9, 11))
    mask = rng.uniform(size=(3, 9, 11)) > 0.3
    return pred, target, mask


def t(x):
    return torch.from_numpy(np.asarray(x))


def test_affine_invariant_loss_matches_float64_reference(maps):
    pred, target, mask = maps
    got = affine_invariant_loss(t(pred), t(target), t(mask)).item()
    assert got == pytest.approx(_np_affine(pred, target, mask), rel=1e-10)


def test_affine_invariant_loss_ignores_scale_and_shift_of_either_input(maps):
    pred, target, mask = maps
    base = affine_invariant_loss(t(pred), t(target), t(mask)).item()
    assert affine_invariant_loss(t(7.5 * pred - 3.0), t(target), t(mask)).item() == pytest.approx(base, rel=1e-9)
    assert affine_invariant_loss(t(pred), t(0.01 * target + 9.0), t(mask)).item() == pytest.approx(base, rel=1e-9)
    assert base > 0.1


def test_affine_invariant_loss_is_zero_for_an_affine_copy_and_ignores_masked_pixels(maps):
    pred, target, mask = maps
    garbage = np.where(mask, 2.0 * target + 1.0, 1e6)
    assert affine_invariant_loss(t(garbage), t(target), t(mask)).item() == pytest.approx(0.0, abs=1e-12)


def test_normalized_disparity_has_zero_median_and_unit_mean_absolute_deviation(maps):
    pred, _, mask = maps
    n = normalize_disparity(t(pred), t(mask)).numpy()
    for img, m in zip(n, mask):
        assert np.mean(np.abs(img[m])) == pytest.approx(1.0, rel=1e-9)
        assert np.sort(img[m])[(m.sum() - 1) // 2] == pytest.approx(0.0, abs=1e-12)


def test_affine_invariant_loss_gives_gradients_to_the_prediction(maps):
    pred, target, mask = maps
    p = t(pred).requires_grad_(True)
    affine_invariant_loss(p, t(target), t(mask)).backward()
    assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    assert (p.grad[~t(mask)] == 0).all()


def test_cutmix_loss_weights_each_region_by_its_area_against_its_own_pseudo_label(maps):
    pred, target_a, valid = maps
    target_b = np.random.default_rng(5).uniform(0.2, 3.0, pred.shape)
    cut = np.zeros(pred.shape, bool)
    cut[:, 2:7, 3:9] = True
    got = cutmix_affine_invariant_loss(t(pred), t(target_a), t(target_b), t(cut), t(valid)).item()
    ref = []
    hw = cut.shape[1] * cut.shape[2]
    for p, a, b, m, v in zip(pred, target_a, target_b, cut, valid):
        la = np.mean(np.abs(_np_normalize(p, m & v)[m & v] - _np_normalize(a, m & v)[m & v]))
        lb = np.mean(np.abs(_np_normalize(p, ~m & v)[~m & v] - _np_normalize(b, ~m & v)[~m & v]))
        ref.append(m.sum() / hw * la + (~m).sum() / hw * lb)
    assert got == pytest.approx(float(np.mean(ref)), rel=1e-10)


def test_cutmix_loss_without_a_cut_equals_the_plain_loss(maps):
    pred, target, valid = maps
    full = np.ones(pred.shape, bool)
    got = cutmix_affine_invariant_loss(t(pred), t(target), t(target * 0 + 1), t(full), t(valid)).item()
    assert got == pytest.approx(affine_invariant_loss(t(pred), t(target), t(valid)).item(), rel=1e-12)


def test_feature_alignment_matches_reference_and_skips_pixels_above_the_margin():
    rng = np.random.default_rng(0)
    frozen = rng.normal(size=(2, 8, 4, 5))
    student = frozen + rng.normal(scale=0.9, size=frozen.shape)
    a = student.transpose(0, 2, 3, 1).reshape(-1, 8)
    b = frozen.transpose(0, 2, 3, 1).reshape(-1, 8)
    cos = np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert (cos > 0.85).any() and (cos <= 0.85).any()
    got = feature_alignment_loss(t(student), t(frozen), alpha=0.85).item()
    assert got == pytest.approx(np.mean(1 - cos[cos <= 0.85]), rel=1e-9)
    assert feature_alignment_loss(t(student), t(frozen), alpha=1.0).item() == pytest.approx(np.mean(1 - cos), rel=1e-9)


def test_feature_alignment_is_zero_when_every_pixel_is_already_aligned_and_frozen_gets_no_grad():
    f = torch.randn(1, 6, 3, 3, dtype=torch.float64)
    s = (2.0 * f).requires_grad_(True)
    frozen = f.clone().requires_grad_(True)
    loss = feature_alignment_loss(s, frozen)
    assert loss.item() == 0.0
    loss2 = feature_alignment_loss(torch.randn(1, 6, 3, 3, dtype=torch.float64, requires_grad=True), frozen, alpha=1.0)
    loss2.backward()
    assert frozen.grad is None


def test_silog_matches_the_da2_formula_over_the_valid_range():
    rng = np.random.default_rng(1)
    gt = rng.uniform(0.0, 25.0, (2, 6, 7))
    gt[0, 0, :3] = 0.0
    pred = rng.uniform(0.5, 20.0, gt.shape)
    valid = (gt >= 1e-3) & (gt <= 20.0)
    d = np.log(gt[valid]) - np.log(pred[valid])
    ref = np.sqrt(np.mean(d**2) - 0.5 * np.mean(d) ** 2)
    got = silog_loss(t(pred), t(gt), max_depth=20.0).item()
    assert got == pytest.approx(ref, rel=1e-10)


def test_silog_is_small_but_not_zero_for_a_global_scale_error():
    gt = torch.rand(1, 5, 5, dtype=torch.float64) * 10 + 0.5
    exact = silog_loss(gt, gt).item()
    scaled = silog_loss(gt * 2.0, gt).item()
    assert exact < 1e-5
    # a pure log-scale offset c gives sqrt(c² − 0.5c²) = |c|/√2
    assert scaled == pytest.approx(np.log(2.0) / np.sqrt(2.0), rel=1e-6)


def test_gradient_matching_matches_reference_and_ignores_affine_changes(maps):
    pred, target, mask = maps
    got = gradient_matching_loss(t(pred), t(target), t(mask), scales=2).item()
    ref = 0.0
    res = np.stack([_np_normalize(p, m) - _np_normalize(q, m) for p, q, m in zip(pred, target, mask)])
    res = np.where(mask, res, 0.0)
    for k in range(2):
        s = 2**k
        r, m = res[:, ::s, ::s], mask[:, ::s, ::s]
        mx, my = m[:, :, 1:] & m[:, :, :-1], m[:, 1:] & m[:, :-1]
        g = np.sum(np.abs(np.diff(r, axis=2)) * mx) + np.sum(np.abs(np.diff(r, axis=1)) * my)
        ref += g / m.sum()
    assert got == pytest.approx(ref, rel=1e-10)
    assert gradient_matching_loss(t(3 * pred + 1), t(target), t(mask), scales=2).item() == pytest.approx(got, rel=1e-9)


def test_affine_invariant_loss_leaves_out_an_image_without_a_valid_pixel(maps):
    """An image with nothing valid (a blank label, a crop of sky) has no loss: averaging it in as
    0 would shrink the loss, and the gradient, of every other image in the batch."""
    pred, target, mask = maps
    mask = mask.copy()
    mask[1] = False
    got = affine_invariant_loss(t(pred), t(target), t(mask)).item()
    assert got == pytest.approx(_np_affine(pred, target, mask), rel=1e-10)


def test_silog_leaves_out_infinite_ground_truth_when_no_max_depth_caps_the_range():
    """Sky rendered at +inf depth is no valid pixel, not an infinite loss that ends the run."""
    rng = np.random.default_rng(4)
    gt = rng.uniform(0.5, 10.0, (2, 5, 6))
    gt[0, 0, :2] = np.inf
    pred = rng.uniform(0.5, 10.0, gt.shape)
    valid = np.isfinite(gt)
    d = np.log(gt[valid]) - np.log(pred[valid])
    ref = np.sqrt(np.mean(d**2) - 0.5 * np.mean(d) ** 2)
    assert silog_loss(t(pred), t(gt)).item() == pytest.approx(ref, rel=1e-10)
