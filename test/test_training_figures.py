"""Training pictures: sample grids and the evaluation figure, in the one colour convention."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from picture_helpers import (
    ERROR_HIGH_BGR,
    ERROR_LOW_BGR,
    FAR_BGR,
    NEAR_BGR,
    assert_colour,
    assert_near_red_far_blue,
)

from depth_anything_ros.inference import DepthEstimator
from depth_anything_ros.model import DepthAnything, ModelConfig, save_model
from depth_anything_ros.training.__main__ import main
from depth_anything_ros.training.figures import EvaluationFigure, stamp_seconds
from depth_anything_ros.training.plots import (
    colour_bar,
    loss_curves,
    plt,
    sample_grid,
    sample_grid_figure,
)
from depth_anything_ros.training.stages.evaluate import evaluate_estimator
from depth_anything_ros.visualize import color_range, scale_ticks, tick_labels

H, W = 30, 40
GT = np.tile(np.linspace(1.0, 4.0, W, dtype=np.float32), (H, 1))  # near on the left


def drawn_bgr(ax) -> np.ndarray:
    """The pixels an image axes shows (RGB as given to imshow) back as BGR."""
    return np.asarray(ax.get_images()[0].get_array())[..., ::-1]


def colour_bars(fig) -> list:
    return [ax for ax in fig.get_axes() if ax.get_label() == "<colorbar>"]


def tick_texts(cbar_ax) -> list[str]:
    return [t.get_text() for t in cbar_ax.get_yticklabels()]


def test_metric_sample_grid_draws_target_and_prediction_near_red_on_one_scale_in_metres(tmp_path):
    rgb = np.zeros((H, W, 3), np.uint8)
    # The prediction: the target shifted 10 columns left, then 9 m (beyond the target's range).
    pred = np.concatenate([GT[:, 10:], np.full((H, 10), 9.0, np.float32)], axis=1)
    fig = sample_grid_figure([(rgb, GT, pred)], kind="depth")
    try:
        axes = fig.get_axes()
        target_bgr, pred_bgr = drawn_bgr(axes[1]), drawn_bgr(axes[2])
        assert_near_red_far_blue(target_bgr, GT, "target")
        np.testing.assert_array_equal(pred_bgr[:, :-10], target_bgr[:, 10:])  # one scale
        assert (pred_bgr[:, -10:] == np.array(FAR_BGR, np.uint8)).all()
        lo, hi = color_range(GT)
        (bar,) = colour_bars(fig)
        assert tick_texts(bar) == tick_labels(scale_ticks(lo, hi), "m")
    finally:
        plt.close(fig)
    sample_grid([(rgb, GT, pred)], tmp_path / "samples.png", kind="depth")
    assert cv2.imread(str(tmp_path / "samples.png")) is not None


def test_relative_sample_grid_draws_high_disparity_near_red():
    fig = sample_grid_figure([(np.zeros((H, W, 3), np.uint8), 1.0 / GT, 2.0 / GT + 1.0)])
    try:
        for ax in fig.get_axes()[1:3]:
            assert_near_red_far_blue(drawn_bgr(ax), GT, "disparity panel")
        (bar,) = colour_bars(fig)
        assert tick_texts(bar) == ["near", "far"]
    finally:
        plt.close(fig)


@pytest.mark.parametrize("kind, bottom_bgr, top_bgr", [
    ("depth", NEAR_BGR, FAR_BGR), ("disparity", NEAR_BGR, FAR_BGR),
    ("error", ERROR_LOW_BGR, ERROR_HIGH_BGR),
])
def test_colour_bar_is_drawn_in_the_colours_of_the_panels(kind, bottom_bgr, top_bgr):
    """The bar is the key to the panels, which are BGR pictures: matplotlib wants RGB, so the
    bar's bottom must be the panels' near dark red (or 0-error purple) and its top their far
    violet-blue (or high-error yellow), not the same colours with red and blue swapped."""
    fig, ax = plt.subplots()
    try:
        bar = colour_bar(fig, ax, 1.0, 4.0, kind=kind)
        bgr = lambda rgba: np.round(np.asarray(rgba[:3]) * 255)[::-1]
        assert_colour(bgr(bar.cmap(0.0)), bottom_bgr, what=f"{kind} bar bottom")
        assert_colour(bgr(bar.cmap(1.0)), top_bgr, what=f"{kind} bar top")
    finally:
        plt.close(fig)


def test_loss_curves_draw_the_losses_and_nothing_else_that_was_logged(tmp_path):
    """The log also holds learning rates and other numbers; drawn on the loss axes they would
    squash the curves and crowd the legend. Adding them to the log leaves the picture as it
    was, while a change in a loss does change it."""
    def log(path, extra, scale=1.0):
        lines = [json.dumps({"stage": "toy", "step": s, "time_s": 0.1 * s, "grad_norm": 3.0,
                             "loss": scale / (s + 1), "loss_grad": 0.5 / (s + 1), **extra(s)})
                 for s in range(0, 60, 5)]
        path.write_text("\n".join(lines) + "\n")
        return path

    def drawn(name, extra, scale=1.0):
        loss_curves(log(tmp_path / f"{name}.jsonl", extra, scale), tmp_path / f"{name}.png", "toy")
        return cv2.imread(str(tmp_path / f"{name}.png"))

    plain = drawn("plain", lambda s: {})
    with_lr = drawn("lr", lambda s: {"lr_encoder": 1e-5 * s, "lr_decoder": 1e-4, "valid": 0.9})
    np.testing.assert_array_equal(with_lr, plain)
    assert not np.array_equal(drawn("scaled", lambda s: {}, scale=2.0), plain)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Four frames of different images over the same ground-truth ramp."""
    root = tmp_path_factory.mktemp("eval")
    (root / "rgb").mkdir()
    (root / "depth").mkdir()
    for i in range(4):
        rgb = np.random.default_rng(i).integers(0, 256, (H, W, 3), dtype=np.uint8)
        cv2.imwrite(str(root / "rgb" / f"f{i}.png"), rgb)
        np.save(root / "depth" / f"f{i}.npy", GT)
    return root


def save_pico(path: Path, variant: str) -> Path:
    torch.manual_seed(0)
    config = ModelConfig.preset("vitpico", variant=variant, input_size=42,
                                max_depth=10.0 if variant == "metric" else None)
    save_model(DepthAnything(config), path)
    return path


def test_evaluation_figure_shows_worst_median_best_histogram_and_scale_over_time(folder, tmp_path):
    weights = save_pico(tmp_path / "metric.safetensors", "metric")
    estimator = DepthEstimator.from_weights(weights, device="cpu")
    recorder = EvaluationFigure()
    result = evaluate_estimator(estimator, f"folder:{folder}", on_frame=recorder)
    abs_rels = [f.abs_rel for f in recorder.frames]
    assert np.mean(abs_rels) == pytest.approx(result["abs_rel"])
    labels, chosen = zip(*recorder.chosen())
    assert labels == ("worst", "median", "best")
    assert [f.abs_rel for f in chosen] == [max(abs_rels), sorted(abs_rels)[1], min(abs_rels)]
    lo, hi = result["min_depth"], result["max_depth"]
    expected_scales = []
    for i in range(4):
        rgb = cv2.cvtColor(cv2.imread(str(folder / "rgb" / f"f{i}.png")), cv2.COLOR_BGR2RGB)
        pred = np.clip(estimator.predict(rgb).values, lo, hi)
        expected_scales.append(np.median(GT / pred))

    fig = recorder.figure("test")
    try:
        axes = fig.get_axes()
        image_axes = [ax for ax in axes if ax.get_images()]
        assert len(image_axes) == 12  # 3 rows × RGB | prediction | ground truth | error
        for row in range(3):
            assert_near_red_far_blue(drawn_bgr(image_axes[4 * row + 2]), GT, f"ground truth {row}")
        depth_bar, error_bar = colour_bars(fig)
        assert tick_texts(depth_bar) == tick_labels(scale_ticks(*recorder.shared_range()), "m")
        assert tick_texts(error_bar) == ["0.0", "0.5", "1.0"]
        histogram = next(ax for ax in axes if ax.get_title().startswith("per-image abs_rel"))
        assert sum(p.get_height() for p in histogram.patches) == 4
        scale_ax = next(ax for ax in axes if ax.get_title().startswith("per-frame scale"))
        np.testing.assert_allclose(scale_ax.get_lines()[0].get_ydata(), expected_scales,
                                   rtol=1e-4)
        assert scale_ax.get_xlabel() == "frame"  # names are not stamps
    finally:
        plt.close(fig)


def test_relative_evaluation_figure_has_no_scale_plot(folder, tmp_path):
    estimator = DepthEstimator.from_weights(save_pico(tmp_path / "rel.safetensors", "relative"),
                                            device="cpu")
    recorder = EvaluationFigure()
    evaluate_estimator(estimator, f"folder:{folder}", num=3, on_frame=recorder)
    fig = recorder.figure()
    try:
        titles = [ax.get_title() for ax in fig.get_axes()]
        assert "prediction (scale/shift fitted)" in titles
        plots = [ax for ax in fig.get_axes()
                 if not ax.get_images() and ax.get_label() != "<colorbar>"]
        assert [ax.get_title() for ax in plots] == ["per-image abs_rel (3 images)"]
    finally:
        plt.close(fig)


def test_evaluate_cli_writes_the_figure_png(folder, tmp_path, capsys):
    weights = save_pico(tmp_path / "metric.safetensors", "metric")
    out = tmp_path / "figs" / "eval.png"
    out.parent.mkdir()
    assert main(["evaluate", "--weights", str(weights), "--data", f"folder:{folder}",
                 "--device", "cpu", "--figure", str(out)]) == 0
    picture = cv2.imread(str(out))
    assert picture is not None and picture.shape[0] > 500 and picture.shape[1] > 500
    assert "abs_rel" in capsys.readouterr().out
    assert sorted(p.name for p in out.parent.iterdir()) == ["eval.png"]  # atomic, no leftovers


def test_frame_names_that_are_stamps_give_seconds():
    assert stamp_seconds("1305031910.765238") == pytest.approx(1305031910.765238)
    assert stamp_seconds("1700000000_000000001") == pytest.approx(1700000000.000000001)
    assert stamp_seconds("1700000000_500000000-1") == pytest.approx(1700000000.5)
    assert stamp_seconds("frame_a") is None and stamp_seconds("f3") is None


def test_evaluate_cli_refuses_a_figure_in_a_missing_folder_before_evaluating(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--weights", str(tmp_path / "never_loaded.safetensors"),
              "--data", "folder:/nowhere", "--figure", str(tmp_path / "no" / "eval.png")])
    assert exit_info.value.code == 2
    assert "no/eval.png: its folder does not exist" in capsys.readouterr().err


def _near_minus_far_column(png: np.ndarray) -> float:
    """Mean column of near-coloured minus far-coloured pixels, left of the colour bar."""
    left = png[:, : int(png.shape[1] * 0.85)]
    near = np.argwhere(np.abs(left.astype(int) - NEAR_BGR).max(axis=2) <= 3)[:, 1]
    far = np.argwhere(np.abs(left.astype(int) - FAR_BGR).max(axis=2) <= 3)[:, 1]
    assert near.size > 50 and far.size > 50
    return float(near.mean() - far.mean())


@pytest.mark.parametrize("kind, near_side", [("depth", "left"), ("disparity", "right")])
def test_training_loop_draws_samples_png_as_the_stage_says_depth_or_disparity(
        tmp_path, kind, near_side):
    from torch import nn

    from depth_anything_ros.training.config import OptimSection
    from depth_anything_ros.training.loop import RunOptions, Source, StageSpec, train

    def load(index, rng):
        return {"x": np.ones(2, np.float32)}

    def loss(model, batch):
        value = model(batch["s"]["x"]).pow(2).mean()
        return value, {}

    rows = [(np.zeros((H, W, 3), np.uint8), GT, GT)]  # values grow to the right
    spec = StageSpec("toy", nn.Linear(2, 1), [Source("s", 4, load, 2)], loss,
                     OptimSection(steps=2, batch_size=2, log_every=1, checkpoint_every=2),
                     tmp_path, preview=lambda model, batch: rows, preview_kind=kind)
    train(spec, RunOptions(device="cpu", progress=False))
    png = cv2.imread(str(tmp_path / "samples.png"))
    # depth: small = near = red on the left; disparity: large = near = red on the right
    assert (_near_minus_far_column(png) < 0) == (near_side == "left")


def test_ground_truth_outside_the_scored_range_is_not_drawn_and_does_not_stretch_the_colours(
        tmp_path):
    # Robot depth often has far readings (sky through a window, a sensor's max-range value)
    # beyond the range a metric model is scored on. Drawn as valid, a 50 m wall would pull the
    # shared colour scale out to 50 m and flatten every depth panel into one colour.
    root = tmp_path / "far"
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    gt = GT.copy()
    gt[:, -12:] = 50.0  # 30 % of the frame beyond max_depth = 10 m
    rgb = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    cv2.imwrite(str(root / "rgb" / "f0.png"), rgb)
    np.save(root / "depth" / "f0.npy", gt)
    weights = save_pico(tmp_path / "metric.safetensors", "metric")  # max_depth 10 m
    estimator = DepthEstimator.from_weights(weights, device="cpu")
    recorder = EvaluationFigure()
    result = evaluate_estimator(estimator, f"folder:{root}", on_frame=recorder)
    assert result["max_depth"] == 10.0
    (frame,) = recorder.frames
    shown = frame.gt.astype(np.float32)
    assert np.isnan(shown[:, -12:]).all()
    np.testing.assert_allclose(shown[:, :-12], GT[:, :-12], rtol=1e-3)
    assert recorder.shared_range() == pytest.approx(color_range(GT[:, :-12]), rel=1e-3)
