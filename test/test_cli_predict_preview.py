"""`predict`'s preview: input | depth with a scale bar; with --gt also the error and its abs_rel."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from picture_helpers import assert_near_red_far_blue, panel

from depth_anything_ros.cli import main
from depth_anything_ros.metrics import depth_metrics
from depth_anything_ros.model import DepthAnything, ModelConfig, save_model
from depth_anything_ros.previews import enlargement
from depth_anything_ros.scale_bar import scale_bar
from depth_anything_ros.visualize import color_range, colorize_error

H, W = 48, 64


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = DepthAnything(ModelConfig.preset("vitpico", variant="metric", max_depth=10.0,
                                             input_size=56))
    path = tmp_path_factory.mktemp("weights") / "metric.safetensors"
    save_model(model, path)
    return path


@pytest.fixture
def image(tmp_path) -> Path:
    rgb = np.random.default_rng(3).integers(0, 256, (H, W, 3), dtype=np.uint8)
    path = tmp_path / "cam.png"
    cv2.imwrite(str(path), rgb)
    return path


def predict(*args) -> int:
    return main(["predict", *map(str, args), "--device", "cpu"])


def test_preview_shows_the_input_beside_depth_drawn_near_red_far_blue(tmp_path, weights, image):
    assert predict(image, "--weights", weights, "--out", tmp_path / "out") == 0
    depth = np.load(tmp_path / "out" / "cam.npy")
    preview = cv2.imread(str(tmp_path / "out" / "cam_preview.png"))
    f = enlargement(H)
    np.testing.assert_array_equal(panel(preview, H, W, 0, f), cv2.imread(str(image)))
    assert_near_red_far_blue(panel(preview, H, W, 1, f), depth, "predict preview")
    bar = scale_bar(H * f, *color_range(depth))
    assert preview.shape[1] == 2 * W * f + bar.shape[1]  # no error panel without --gt
    np.testing.assert_array_equal(preview[-H * f:, 2 * W * f:], bar)


def write_gt_mm(path: Path, depth: np.ndarray, units_per_metre: float = 1000.0) -> np.ndarray:
    """A 16-bit PNG; returns the metres a reader must see (NaN where 0)."""
    units = np.round(depth * units_per_metre).astype(np.uint16)
    cv2.imwrite(str(path), units)
    return np.where(units > 0, units / units_per_metre, np.nan)


def test_gt_adds_the_error_panel_and_prints_the_frames_abs_rel(tmp_path, weights, image, capsys):
    rng = np.random.default_rng(5)
    gt_m = rng.uniform(1.0, 6.0, (H, W))
    gt_m[:5] = 0.0  # no ground truth in the top rows
    expected_gt = write_gt_mm(tmp_path / "gt.png", gt_m)
    assert predict(image, "--weights", weights, "--out", tmp_path / "out",
                   "--gt", tmp_path / "gt.png") == 0
    pred = np.load(tmp_path / "out" / "cam.npy").astype(np.float64)
    valid = np.isfinite(expected_gt)
    abs_rel = depth_metrics(pred, expected_gt, valid)["abs_rel"]
    by_hand = np.mean(np.abs(expected_gt[valid] - pred[valid]) / expected_gt[valid])
    assert abs_rel == pytest.approx(by_hand)
    line = capsys.readouterr().out.splitlines()[0]
    assert line == f"{image}: |d - gt| / gt   abs_rel {abs_rel:.3f} ({valid.sum()} px)"
    preview = cv2.imread(str(tmp_path / "out" / "cam_preview.png"))
    f = enlargement(H)
    depth_width = W * f + scale_bar(H * f, *color_range(pred)).shape[1]
    errors = panel(preview, H, W, 0, f, left=W * f + depth_width)
    relative = np.where(valid, np.abs(expected_gt - pred) / expected_gt, np.nan)
    np.testing.assert_array_equal(errors, colorize_error(relative))
    error_bar = scale_bar(H * f, 0.0, 1.0, kind="error")
    assert preview.shape[1] == W * f + depth_width + W * f + error_bar.shape[1]


def test_gt_scale_reads_tum_style_pngs_and_npy_is_metres(tmp_path, weights, image, capsys):
    gt_m = np.random.default_rng(6).uniform(0.5, 6.0, (H, W))
    write_gt_mm(tmp_path / "tum.png", gt_m, units_per_metre=5000.0)
    np.save(tmp_path / "gt.npy", gt_m.astype(np.float32))
    for extra in (["--gt", tmp_path / "tum.png", "--gt-scale", "5000"], ["--gt", tmp_path / "gt.npy"]):
        assert predict(image, "--weights", weights, "--out", tmp_path / "o", *extra) == 0
    first, _, second, _ = capsys.readouterr().out.splitlines()
    pred = np.load(tmp_path / "o" / "cam.npy")
    abs_rel = depth_metrics(pred, gt_m)["abs_rel"]
    assert f"abs_rel {abs_rel:.3f}" in first and f"abs_rel {abs_rel:.3f}" in second


def test_gt_mistakes_are_user_errors_naming_the_file(tmp_path, weights, image, capsys):
    cv2.imwrite(str(tmp_path / "small.png"), np.full((10, 10), 1000, np.uint16))
    cv2.imwrite(str(tmp_path / "rgb.png"), np.zeros((H, W, 3), np.uint8))
    cases = [
        (["--gt", tmp_path / "small.png"], "small.png: ground truth is 10x10 but the prediction is 64x48"),
        (["--gt", tmp_path / "rgb.png"], "rgb.png: depth PNG must be single-channel 16-bit"),
        (["--gt", tmp_path / "none.png"], "none.png: no such ground-truth file"),
        (["--gt", tmp_path / "small.png", "--gt", tmp_path / "small.png"], "give one ground truth per IMAGE"),
        (["--gt", tmp_path / "small.png", "--gt-scale", "0"], "--gt-scale must be positive"),
    ]
    for extra, message in cases:
        assert predict(image, "--weights", weights, "--out", tmp_path / "o", *extra) == 2
        assert message in capsys.readouterr().err
