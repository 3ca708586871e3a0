"""ONNX Runtime and OpenVINO backends: `export`, exported files as weights, the export cache and
the bad inputs around them — on a real TUM RGB-D frame, with a random `vitpico` (fast, real).

Each export takes ~10-20 s on 2 CPU cores, so the module exports three times in all: one fixed
ONNX and one dynamic OpenVINO file through the CLI (shared), and one through the cache.
"""
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch
from safetensors.torch import save_file

from depth_anything_ros.cli import main
from depth_anything_ros.inference import DepthEstimator
from depth_anything_ros.inference.export import max_relative_difference
from depth_anything_ros.inference.export_cache import cache_entry, weights_digest
from depth_anything_ros.inference.runtimes import read_onnx, read_openvino
from depth_anything_ros.model import DepthAnything, ModelConfig
from depth_anything_ros.model.checkpoints import FORMAT

INPUT_SIZE = 56  # a 640×480 frame runs at 70×56: every forward pass in milliseconds
CANONICAL_FOCAL = "0.866"
TUM = Path(os.environ.get("DAR_TUM_DIR", Path(__file__).resolve().parents[1] / ".." / "shared"
                          / "data" / "tum_fr1_rpy"))


def tum_frame_path() -> Path:
    """The first colour frame of TUM fr1_rpy (640×480 JPEG; CC BY 4.0, Sturm et al. 2012)."""
    lines = [line.split() for line in (TUM / "rgb.txt").read_text().splitlines()
             if line and not line.startswith("#")]
    return TUM / lines[0][1]


def save_checkpoint(path: Path, seed: int = 0) -> DepthAnything:
    """Our .safetensors of a random metric vitpico, with a canonical_focal entry in its metadata
    (as checkpoints that record their training camera carry)."""
    torch.manual_seed(seed)
    model = DepthAnything(ModelConfig.preset("vitpico", variant="metric", max_depth=10.0,
                                             input_size=INPUT_SIZE)).eval()
    with torch.no_grad():  # spread the random head's output so comparisons see structure
        model.depth_head.scratch.output_conv2[2].weight.mul_(50.0)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={
        "format": FORMAT, "config": json.dumps(model.config.to_dict()),
        "provenance": json.dumps({"purpose": "test_inference_backends"}),
        "canonical_focal": CANONICAL_FOCAL})
    return model


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The checkpoint, a fixed-shape ONNX for 640×480 and a dynamic OpenVINO .xml, both written
    by the `export` command (whose printed check is kept)."""
    root = tmp_path_factory.mktemp("backends")
    checkpoint = root / "pico.safetensors"
    model = save_checkpoint(checkpoint)
    printed = {}
    for fmt, name, extra in (("onnx", "pico.onnx", []), ("openvino", "pico.xml", ["--dynamic"])):
        proc = subprocess.run(
            [sys.executable, "-m", "depth_anything_ros.cli", "export", "--weights",
             str(checkpoint), "--format", fmt, "--out", str(root / name), *extra],
            capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        printed[fmt] = proc.stdout
    return {"root": root, "checkpoint": checkpoint, "model": model, "onnx": root / "pico.onnx",
            "xml": root / "pico.xml", "printed": printed}


def predict_npy(tmp_path: Path, image: Path, *args: str) -> np.ndarray:
    out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
    assert main(["predict", str(image), "--device", "cpu", "--out", str(out), *args]) == 0
    return np.load(out / f"{image.stem}.npy")


@pytest.mark.parametrize("values, reference, expected", [
    ([1.0, 3.0], [1.0, 4.0], 0.25),  # relative to the reference's largest magnitude
    ([0.0, 0.0], [0.0, 0.0], 0.0),  # two all-zero outputs agree (a random model after ReLU)
    ([0.0, 1e-9], [0.0, 0.0], float("inf")),  # anything against an all-zero reference: no scale
    ([1.0, float("nan")], [1.0, 1.0], float("inf")),
    ([1.0], [1.0, 1.0], float("inf")),
])
def test_max_relative_difference(values, reference, expected):
    assert max_relative_difference(np.array(values), np.array(reference)) == expected


def test_export_prints_its_check_against_pytorch_and_writes_nothing_else(files):
    onnx_out, xml_out = files["printed"]["onnx"], files["printed"]["openvino"]
    assert "input 1x3x56x70 (a 640x480 camera at input size 56)" in onnx_out
    assert "input any batch and size (dynamic)" in xml_out
    for text, bound in ((onnx_out, 1e-4), (xml_out, 2e-2)):
        line = next(x for x in text.splitlines() if x.startswith("max relative difference"))
        assert float(line.split(": ")[1].split()[0]) < bound
    assert sorted(p.name for p in files["root"].iterdir()) == [
        "pico.bin", "pico.onnx", "pico.safetensors", "pico.xml"]  # no temporary left over


def test_onnx_export_predicts_like_pytorch_on_a_real_tum_frame(files, tmp_path):
    image = tum_frame_path()
    torch_depth = predict_npy(tmp_path, image, "--weights", str(files["checkpoint"]))
    onnx_depth = predict_npy(tmp_path, image, "--weights", str(files["onnx"]))
    assert onnx_depth.shape == (480, 640)
    assert np.nanstd(torch_depth) > 1e-3 * np.nanmax(torch_depth)  # not a flat map
    assert max_relative_difference(onnx_depth, torch_depth) < 1e-3


def test_dynamic_openvino_export_predicts_like_pytorch_at_two_sizes(files, tmp_path):
    image = tum_frame_path()
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), cv2.resize(cv2.imread(str(image)), (400, 300)))
    for picture in (image, small):
        torch_depth = predict_npy(tmp_path, picture, "--weights", str(files["checkpoint"]))
        ov_depth = predict_npy(tmp_path, picture, "--weights", str(files["xml"]))
        assert max_relative_difference(ov_depth, torch_depth) < 2e-2


def test_exports_carry_config_kind_normalisation_and_the_checkpoints_canonical_focal(files):
    for reader, path in ((read_onnx, files["onnx"]), (read_openvino, files["xml"])):
        info, _ = reader(path)
        meta = info.metadata
        assert info.ours and info.config == files["model"].config
        assert meta["kind"] == "metric_depth" and float(meta["max_depth"]) == 10.0
        assert json.loads(meta["normalisation"])["mean"] == [0.485, 0.456, 0.406]
        assert info.canonical_focal == float(CANONICAL_FOCAL)
        assert json.loads(meta["source"])["weights_sha256"] == weights_digest(files["model"])
    assert read_onnx(files["onnx"])[0].input_shape == (1, 3, 56, 70)
    assert read_openvino(files["xml"])[0].input_shape == (None, 3, None, None)


def test_backend_option_exports_on_first_use_into_the_cache_and_reuses_it(files, tmp_path,
                                                                          caplog):
    rgb = cv2.cvtColor(cv2.imread(str(tum_frame_path())), cv2.COLOR_BGR2RGB)
    reference = DepthEstimator.from_weights(files["checkpoint"], device="cpu").predict(rgb)
    cache = tmp_path / "cache"
    with caplog.at_level(logging.WARNING, "depth_anything_ros.inference.export_cache"):
        first = DepthEstimator.from_weights(files["checkpoint"], backend="onnxruntime",
                                            cache_dir=cache)
        values = first.predict(rgb).values
    assert "exporting" in caplog.text
    entry = first.network.entry((56, 70))
    assert list(cache.iterdir()) == [entry] and entry.name.startswith("vitpico_56x70_fp32_onnx")
    assert max_relative_difference(values, reference.values) < 1e-3
    assert read_onnx(entry)[0].canonical_focal == float(CANONICAL_FOCAL)
    stamp = entry.stat().st_mtime_ns

    caplog.clear()
    with caplog.at_level(logging.WARNING, "depth_anything_ros.inference.export_cache"):
        again = DepthEstimator.from_weights(files["checkpoint"], backend="onnxruntime",
                                            cache_dir=cache)
        np.testing.assert_array_equal(again.predict(rgb).values, values)
    assert "exporting" not in caplog.text and entry.stat().st_mtime_ns == stamp

    entry.write_bytes(entry.read_bytes()[:5000])  # a truncated entry is exported again
    repaired = DepthEstimator.from_weights(files["checkpoint"], backend="onnxruntime",
                                           cache_dir=cache)
    np.testing.assert_array_equal(repaired.predict(rgb).values, values)
    assert read_onnx(entry)[0].ours


def test_cache_entries_differ_by_weights_shape_and_backend(files, tmp_path):
    digest = weights_digest(files["model"])
    other = weights_digest(save_checkpoint(tmp_path / "other.safetensors", seed=1))
    assert other != digest
    entries = {cache_entry(tmp_path, d, "vitpico", backend, shape)
               for d in (digest, other) for backend in ("onnxruntime", "openvino")
               for shape in ((56, 70), (70, 56))}
    assert len(entries) == 8


def test_an_upgraded_runtime_does_not_reuse_the_old_runtimes_export(tmp_path, monkeypatch):
    """The installed runtime's version is part of the key. Upgrading onnxruntime cannot happen
    inside a test, so its version lookup is what is replaced here."""
    from depth_anything_ros.inference import export_cache

    entries = set()
    for version in ("1.18.0", "1.22.0"):
        monkeypatch.setattr(export_cache.package_metadata, "version", lambda _name: version)
        entries.add(cache_entry(tmp_path, "digest", "vitpico", "onnxruntime", (56, 70)))
    assert len(entries) == 2


# ------------------------------------------------------------------------------- bad input

def run_cli(*args: str, capsys) -> tuple[int, str]:
    status = main(list(args))
    return status, capsys.readouterr().err


def test_an_onnx_without_our_metadata_needs_version_variant_and_max_depth(files, tmp_path,
                                                                        capsys):
    proto = onnx.load(str(files["onnx"]))
    del proto.metadata_props[:]
    foreign = tmp_path / "foreign.onnx"
    onnx.save(proto, str(foreign))
    image = tum_frame_path()
    status, err = run_cli("predict", str(image), "--weights", str(foreign), "--out",
                          str(tmp_path / "o"), capsys=capsys)
    assert status == 2 and str(foreign) in err and "--version, --variant" in err
    assert len(err.strip().splitlines()) == 1
    status, err = run_cli("predict", str(image), "--weights", str(foreign), "--out",
                          str(tmp_path / "o"), "--version", "v2", "--variant", "metric",
                          capsys=capsys)
    assert status == 2 and "--max-depth" in err
    depth = predict_npy(tmp_path, image, "--weights", str(foreign), "--version", "v2",
                        "--variant", "metric", "--max-depth", "10")
    reference = predict_npy(tmp_path, image, "--weights", str(files["onnx"]))
    np.testing.assert_array_equal(depth, reference)


@pytest.mark.parametrize("which", ["onnx", "bin", "xml"])
def test_a_truncated_export_is_refused_naming_the_file(files, tmp_path, capsys, which):
    if which == "onnx":
        broken = tmp_path / "cut.onnx"
        broken.write_bytes(files["onnx"].read_bytes()[:20000])
        named = broken
    else:
        broken = tmp_path / "cut.xml"
        xml, weights = files["xml"].read_bytes(), files["xml"].with_suffix(".bin").read_bytes()
        broken.write_bytes(xml[: len(xml) // 2] if which == "xml" else xml)
        broken.with_suffix(".bin").write_bytes(weights if which == "xml"
                                               else weights[: len(weights) // 2])
        named = broken
    status, err = run_cli("predict", str(tum_frame_path()), "--weights", str(broken), "--out",
                          str(tmp_path / "o"), capsys=capsys)
    assert status == 2 and str(named) in err and "truncated or corrupt" in err
    assert len(err.strip().splitlines()) == 1


def test_a_fixed_shape_export_refuses_another_image_size_with_the_fix(files, tmp_path, capsys):
    image = tmp_path / "wide.png"
    cv2.imwrite(str(image), np.zeros((240, 640, 3), np.uint8))
    status, err = run_cli("predict", str(image), "--weights", str(files["onnx"]), "--out",
                          str(tmp_path / "o"), capsys=capsys)
    assert status == 2 and str(files["onnx"]) in err and "export again" in err


def test_a_missing_backend_is_one_line_naming_the_extra(files, tmp_path):
    code = ("import sys; sys.modules['openvino'] = None; from depth_anything_ros.cli import main;"
            f" sys.exit(main(['predict', {str(tum_frame_path())!r}, '--weights', "
            f"{str(files['xml'])!r}, '--out', {str(tmp_path)!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "depth-anything-ros predict: error: openvino is not installed: "
        "pip install 'depth_anything_ros[openvino]' (or pip install openvino)"]


@pytest.mark.parametrize("args, message", [
    (["--format", "onnx", "--out", "model.xml"], "must be named *.onnx"),
    (["--format", "onnx", "--precision", "bf16", "--out", "m.onnx"], "bf16 ONNX"),
    (["--format", "openvino", "--out", "m.xml", "--input-size", "50"], "multiple of 14"),
])
def test_export_refuses_bad_options_before_loading(tmp_path, capsys, args, message):
    status, err = run_cli("export", "--weights", str(tmp_path / "absent.pth"), *args,
                          capsys=capsys)
    assert status == 2 and message in err
    assert not list(tmp_path.iterdir())


def test_an_openvino_export_never_writes_its_bin_over_the_checkpoint(tmp_path, capsys):
    weights = tmp_path / "pytorch_model.bin"  # HF's file name; the .xml's .bin would be it
    weights.write_bytes(b"not even read")
    status, err = run_cli("export", "--weights", str(weights), "--format", "openvino",
                          "--out", str(tmp_path / "pytorch_model.xml"), capsys=capsys)
    assert status == 2 and "which is the checkpoint being exported" in err
    assert weights.read_bytes() == b"not even read"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pytorch_model.bin"]


def test_a_pytorch_backend_cannot_run_an_export(files, tmp_path, capsys):
    status, err = run_cli("predict", str(tum_frame_path()), "--weights", str(files["onnx"]),
                          "--backend", "torch", "--out", str(tmp_path), capsys=capsys)
    assert status == 2 and "runs with backend onnxruntime or openvino" in err


def test_an_export_refuses_another_max_depth_naming_it(files, tmp_path, capsys):
    # max_depth is a constant inside the exported graph: accepting --max-depth 20 for a 10 m
    # export would label the output 20 m-scaled while every value stays 10 m-scaled.
    status, err = run_cli("predict", str(tum_frame_path()), "--weights", str(files["onnx"]),
                          "--max-depth", "20", "--out", str(tmp_path / "o"), capsys=capsys)
    assert status == 2 and str(files["onnx"]) in err
    assert "max_depth 10.0 m is part of the exported graph" in err and "max_depth 20.0" in err
    assert not list((tmp_path / "o").glob("*.npy"))  # no depth written at the wrong scale


def test_an_openvino_xml_with_backend_onnxruntime_is_refused_as_needing_openvino(
        files, tmp_path, capsys):
    # ONNX Runtime cannot read an OpenVINO .xml: the user must be told to pick openvino, not
    # that a perfectly good file is "truncated or corrupt".
    status, err = run_cli("predict", str(tum_frame_path()), "--weights", str(files["xml"]),
                          "--backend", "onnxruntime", "--out", str(tmp_path / "o"),
                          capsys=capsys)
    assert status == 2 and str(files["xml"]) in err
    assert "needs backend 'openvino'" in err and "corrupt" not in err


def test_openvino_batch_through_a_fixed_shape_export_keeps_each_frames_output(files):
    # A batch-1 export runs a batch frame by frame through one infer request whose output
    # buffer is reused: each frame's depth must be copied out before the next one overwrites it.
    rgb = cv2.cvtColor(cv2.imread(str(tum_frame_path())), cv2.COLOR_BGR2RGB)
    frames = [rgb, np.ascontiguousarray(rgb[:, ::-1])]  # two different real frames
    estimator = DepthEstimator.from_weights(files["onnx"], backend="openvino")
    assert estimator.network.info.fixed_batch == 1
    batch = estimator.predict_batch(frames).values
    singles = [estimator.predict(frame).values for frame in frames]
    assert not np.allclose(batch[0], batch[1])
    np.testing.assert_allclose(batch, np.stack(singles), rtol=1e-6, atol=0)


def test_bag_job_runs_an_exported_model_like_the_checkpoint(files, tmp_path):
    from bag_helpers import read_bag, write_camera_bag

    from depth_anything_ros.conversions import decode_depth

    source = tmp_path / "in"
    write_camera_bag(source, frames=3, storage="mcap")
    depths = {}
    for name, weights in (("torch", files["checkpoint"]), ("openvino", files["xml"])):
        out = tmp_path / name
        assert main(["bag", str(source), str(out), "--image-topic", "/cam/image_raw",
                     "--weights", str(weights), "--device", "cpu", "--quiet"]) == 0
        depths[name] = [decode_depth(m.msg.encoding, m.msg.height, m.msg.width, m.msg.step,
                                     bool(m.msg.is_bigendian), bytes(m.msg.data))
                        for m in read_bag(out, ("/cam/depth/image",))["/cam/depth/image"]]
    assert len(depths["openvino"]) == 3
    for ov_depth, torch_depth in zip(depths["openvino"], depths["torch"]):
        assert max_relative_difference(ov_depth, torch_depth) < 2e-2


def test_an_openvino_model_freed_on_another_thread_leaves_signal_handling_working(files):
    # OpenVINO's CPU plugin gives the compiling thread its own signal stack and unmaps it when
    # the model is freed; freed on another thread (the garbage collector, a node's worker), the
    # compiling thread kept a stack on unmapped memory and the next Python signal handler there
    # killed the process with SIGSEGV (CI's pytest died so). In a child: it must not kill ours.
    code = f"""if True:
        import gc, os, signal, threading
        from depth_anything_ros.inference.runtimes import open_network
        network = open_network({str(files['xml'])!r}, "openvino", threads=1, precision=None)
        held = [network]
        del network
        freeing = threading.Thread(target=held.clear)
        freeing.start()
        freeing.join()
        gc.collect()
        signal.signal(signal.SIGUSR1, lambda *_: print("handled", flush=True))
        os.kill(os.getpid(), signal.SIGUSR1)
        print("alive", flush=True)
    """
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.split() == ["handled", "alive"]
