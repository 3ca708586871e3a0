"""`depth-anything-ros predict` and `info` on checkpoints the tests save with `save_model`."""
import json
import re
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from depth_anything_ros.cli import main
from depth_anything_ros.inference import DepthEstimator
from depth_anything_ros.model import DepthAnything, ModelConfig, save_model

INPUT_SIZE = 56


def save_tiny(path: Path, **config) -> DepthAnything:
    torch.manual_seed(0)
    model = DepthAnything(ModelConfig.preset("vitpico", input_size=INPUT_SIZE, **config)).eval()
    save_model(model, path, provenance={"trained_by": "test_cli_predict_info"})
    return model


@pytest.fixture(scope="module")
def metric_weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "metric.safetensors"
    save_tiny(path, variant="metric", max_depth=10.0)
    return path


@pytest.fixture(scope="module")
def relative_weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "relative.safetensors"
    save_tiny(path)
    return path


def write_image(path: Path, height: int, width: int, seed: int) -> np.ndarray:
    """Writes a BGR PNG and returns the RGB array a reader should see."""
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return rgb


def test_predict_writes_npy_mm_png_and_preview_for_metric_model(tmp_path, metric_weights):
    rgb_a = write_image(tmp_path / "a.png", 30, 40, seed=1)
    rgb_b = write_image(tmp_path / "frame.001.png", 24, 52, seed=2)
    out = tmp_path / "out"
    status = main(["predict", str(tmp_path / "a.png"), str(tmp_path / "frame.001.png"),
                   "--weights", str(metric_weights), "--device", "cpu", "--out", str(out)])
    assert status == 0
    estimator = DepthEstimator.from_weights(metric_weights, device="cpu")
    for stem, rgb in (("a", rgb_a), ("frame.001", rgb_b)):
        values = np.load(out / f"{stem}.npy")
        assert values.dtype == np.float32 and values.shape == rgb.shape[:2]
        expected = estimator.predict(rgb).values
        np.testing.assert_allclose(values, expected, rtol=0, atol=1e-5 * np.abs(expected).max())
        assert (values > 0).all() and (values <= 10.0).all()
        millimetres = cv2.imread(str(out / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        assert millimetres.dtype == np.uint16
        assert np.abs(millimetres.astype(np.int64) - np.round(values * 1000)).max() <= 1
        preview = cv2.imread(str(out / f"{stem}_preview.png"), cv2.IMREAD_UNCHANGED)
        assert preview.ndim == 3 and preview.dtype == np.uint8  # test_cli_predict_preview.py
    names = sorted(p.name for p in out.iterdir())
    assert names == ["a.npy", "a.png", "a_preview.png",
                     "frame.001.npy", "frame.001.png", "frame.001_preview.png"]


def test_predict_relative_model_writes_no_millimetre_png(tmp_path, relative_weights, capsys):
    write_image(tmp_path / "img.jpg", 28, 28, seed=3)
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "img.jpg"), "--weights", str(relative_weights),
                 "--device", "cpu", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["img.npy", "img_preview.png"]
    assert (np.load(out / "img.npy") >= 0).all()
    assert "relative disparity" in capsys.readouterr().out


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_predict_missing_image_fails_naming_the_file(tmp_path, metric_weights, capsys):
    missing = tmp_path / "nope.png"
    status = main(["predict", str(missing), "--weights", str(metric_weights), "--out", str(tmp_path / "o")])
    assert status == 2
    assert str(missing) in error_line(capsys)


def test_predict_a_folder_says_it_is_a_folder_not_a_missing_file(tmp_path, metric_weights,
                                                                  capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    status = main(["predict", str(folder), "--weights", str(metric_weights),
                   "--out", str(tmp_path / "o")])
    assert status == 2
    line = error_line(capsys)
    assert str(folder) in line and "is a folder" in line and "no such" not in line


def test_predict_unreadable_image_fails_naming_the_file(tmp_path, metric_weights, capsys):
    broken = tmp_path / "broken.png"
    broken.write_text("this is not a PNG")
    status = main(["predict", str(broken), "--weights", str(metric_weights), "--device", "cpu",
                   "--out", str(tmp_path / "o")])
    assert status == 2
    line = error_line(capsys)
    assert str(broken) in line and "cannot read" in line


def test_predict_bad_weights_fail_naming_the_checkpoint(tmp_path, capsys):
    write_image(tmp_path / "a.png", 20, 20, seed=4)
    weights = tmp_path / "garbage.safetensors"
    weights.write_bytes(b"\x00" * 100)
    status = main(["predict", str(tmp_path / "a.png"), "--weights", str(weights), "--out", str(tmp_path / "o")])
    assert status == 2
    assert str(weights) in error_line(capsys)


def test_predict_refuses_two_images_with_the_same_stem(tmp_path, metric_weights, capsys):
    (tmp_path / "x").mkdir()
    write_image(tmp_path / "a.png", 20, 20, seed=5)
    write_image(tmp_path / "x" / "a.png", 20, 20, seed=6)
    status = main(["predict", str(tmp_path / "a.png"), str(tmp_path / "x" / "a.png"),
                   "--weights", str(metric_weights), "--out", str(tmp_path / "o")])
    assert status == 2
    line = error_line(capsys)
    assert "would both write" in line and "a.npy" in line


def test_predict_never_writes_over_its_inputs(tmp_path, metric_weights, capsys):
    # --out the images' own folder: photo.png became its own 16-bit depth map, exit 0
    write_image(tmp_path / "photo.png", 20, 20, seed=5)
    before = (tmp_path / "photo.png").read_bytes()
    base = ["--weights", str(metric_weights), "--out", str(tmp_path)]
    assert main(["predict", str(tmp_path / "photo.png"), *base]) == 2
    assert "would overwrite the input" in error_line(capsys)
    assert (tmp_path / "photo.png").read_bytes() == before
    # one image's outputs over another's: a_preview.png is a.png's preview
    write_image(tmp_path / "a.png", 20, 20, seed=6)
    write_image(tmp_path / "a_preview.png", 20, 20, seed=7)
    assert main(["predict", str(tmp_path / "a.png"), str(tmp_path / "a_preview.png"),
                 "--weights", str(metric_weights), "--out", str(tmp_path / "o")]) == 2
    assert "would both write" in error_line(capsys)
    # the ground truth is an input too: out/a.npy given as --gt for a.png
    (tmp_path / "o").mkdir()
    truth = tmp_path / "o" / "a.npy"
    np.save(truth, np.full((20, 20), 2.0, np.float32))
    before = truth.read_bytes()
    assert main(["predict", str(tmp_path / "a.png"), "--gt", str(truth), "--weights",
                 str(metric_weights), "--out", str(tmp_path / "o")]) == 2
    assert "would overwrite the input" in error_line(capsys)
    assert truth.read_bytes() == before


def test_predict_fp16_on_cpu_is_a_user_error(tmp_path, metric_weights, capsys):
    write_image(tmp_path / "a.png", 20, 20, seed=7)
    status = main(["predict", str(tmp_path / "a.png"), "--weights", str(metric_weights), "--device", "cpu",
                   "--precision", "fp16", "--out", str(tmp_path / "o")])
    assert status == 2
    assert "fp16" in error_line(capsys)


def test_info_prints_architecture_variant_and_parameter_count(metric_weights, capsys):
    assert main(["info", "--weights", str(metric_weights)]) == 0
    text = capsys.readouterr().out
    model = DepthAnything(ModelConfig.preset("vitpico", variant="metric", max_depth=10.0))
    total = sum(p.numel() for p in model.parameters())
    assert "vitpico (dim 64, depth 4, heads 2, ffn mlp)" in text
    assert "metric, max_depth 10 m" in text
    assert "input size:  56 (a 640×480 frame runs at 70×56)" in text  # width × height
    assert f"{total:,}" in text
    assert "test_cli_predict_info" in text  # provenance
    assert "focal:       not declared" in text


def test_info_json_holds_config_parameters_and_provenance(relative_weights, capsys):
    assert main(["info", "--weights", str(relative_weights), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    model = DepthAnything(ModelConfig.preset("vitpico"))
    assert info["config"] == {**model.config.to_dict(), "input_size": INPUT_SIZE}
    assert info["parameters"]["total"] == sum(p.numel() for p in model.parameters())
    assert info["parameters"]["encoder"] == sum(p.numel() for p in model.pretrained.parameters())
    assert info["provenance"] == {"trained_by": "test_cli_predict_info"}
    assert info["network_input_for_640x480"] == [70, INPUT_SIZE]  # W, H


def test_info_missing_weights_fail_naming_the_file(tmp_path, capsys):
    missing = tmp_path / "missing.safetensors"
    assert main(["info", "--weights", str(missing)]) == 2
    assert str(missing) in error_line(capsys)


def test_console_script_predicts_and_reports_errors(tmp_path, metric_weights):
    script = Path(sys.executable).with_name("depth-anything-ros")
    assert script.exists(), "the package's console script is not installed next to this Python"
    write_image(tmp_path / "cam.png", 30, 40, seed=8)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ok = subprocess.run([str(script), "predict", str(tmp_path / "cam.png"), "--weights", str(metric_weights),
                         "--device", "cpu", "--out", str(tmp_path / "out")],
                        capture_output=True, text=True, timeout=120, env=env)
    assert ok.returncode == 0, ok.stderr
    assert np.load(tmp_path / "out" / "cam.npy").shape == (30, 40)
    bad = subprocess.run([str(script), "info", "--weights", str(tmp_path / "none.pth")],
                         capture_output=True, text=True, timeout=120, env=env)
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("depth-anything-ros info: error:")
    assert "none.pth" in bad.stderr


def test_predict_corrects_a_canonical_focal_model_by_fx_or_hfov(tmp_path, capsys):
    from depth_anything_ros.geometry.focal import CANONICAL

    weights = tmp_path / "canonical.safetensors"
    save_tiny(weights, variant="metric", max_depth=10.0, canonical_focal=0.5,
              focal_origin=CANONICAL)
    rgb = write_image(tmp_path / "a.png", 30, 40, seed=3)
    base = ["predict", str(tmp_path / "a.png"), "--weights", str(weights), "--device", "cpu"]
    assert main(base + ["--out", str(tmp_path / "plain")]) == 0
    # without a focal length the depth is the canonical camera's, and the command says so
    assert "note: no --fx/--hfov: this model's depth is for its canonical camera" in \
        capsys.readouterr().err
    assert main(base + ["--out", str(tmp_path / "fx"), "--fx", "45"]) == 0
    assert "note:" not in capsys.readouterr().err
    assert main(base + ["--out", str(tmp_path / "hfov"), "--hfov", "90"]) == 0
    assert main(base + ["--out", str(tmp_path / "off"), "--fx", "45",
                        "--focal-correction", "off"]) == 0
    plain = np.load(tmp_path / "plain" / "a.npy")
    np.testing.assert_allclose(plain, DepthEstimator.from_weights(weights, device="cpu")
                               .predict(rgb).values, rtol=1e-6)
    # f = 45 / 30 (shorter side) = 1.5, f_c = 0.5: three times the canonical depth
    np.testing.assert_allclose(np.load(tmp_path / "fx" / "a.npy"), plain * 3.0, rtol=1e-5)
    # 90° over 40 px: fx = 20, f = 20 / 30
    np.testing.assert_allclose(np.load(tmp_path / "hfov" / "a.npy"), plain * (20 / 30) / 0.5,
                               rtol=1e-5)
    np.testing.assert_array_equal(np.load(tmp_path / "off" / "a.npy"), plain)
    assert main(["info", "--weights", str(weights)]) == 0
    assert "focal:       canonical 0.500 (fx / shorter side)" in capsys.readouterr().out


@pytest.mark.parametrize("flags, message", [
    (["--fx", "0"], "--fx 0.0: must be > 0 pixels"),
    (["--hfov", "180"], "--hfov 180.0: must be within \\(0, 180\\) degrees"),
])
def test_predict_refuses_impossible_lenses(tmp_path, metric_weights, capsys, flags, message):
    write_image(tmp_path / "a.png", 30, 40, seed=3)
    status = main(["predict", str(tmp_path / "a.png"), "--weights", str(metric_weights),
                   "--device", "cpu", "--out", str(tmp_path / "o"), *flags])
    assert status == 2
    assert re.search(message, capsys.readouterr().err)
