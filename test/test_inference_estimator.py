"""DepthEstimator = official preprocessing + model + official upsampling, with explicit kinds."""
import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from depth_anything_ros.inference import DepthEstimator, DepthKind, DepthResult
from depth_anything_ros.model import CheckpointError, DepthAnything, ModelConfig, save_model

INPUT_SIZE = 56  # tiny network input keeps every forward pass in milliseconds
MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


def tiny_model(version="v2", variant="relative", max_depth=None, seed=0) -> DepthAnything:
    torch.manual_seed(seed)
    config = ModelConfig.preset(
        "vitpico", version=version, variant=variant, max_depth=max_depth, input_size=INPUT_SIZE
    )
    model = DepthAnything(config).eval()
    # Random init leaves the head's output nearly flat; spread it so the comparisons below see
    # real spatial structure (every value still comes out of the real network).
    with torch.no_grad():
        model.depth_head.scratch.output_conv2[2].weight.mul_(50.0)
    return model


def frames(count=1, height=30, width=40, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(count, height, width, 3), dtype=np.uint8)


def reference_depth(model: DepthAnything, rgb: np.ndarray, align_corners: bool) -> np.ndarray:
    """Written out by hand: lower_bound size, float64 cv2 cubic, mean/std, forward, bilinear."""
    height, width = rgb.shape[:2]
    scale = max(INPUT_SIZE / height, INPUT_SIZE / width)
    sides = []
    for side in (height, width):
        n = int(np.round(scale * side / 14) * 14)
        sides.append(n if n >= INPUT_SIZE else int(np.ceil(scale * side / 14) * 14))
    net_h, net_w = sides
    image = cv2.resize(rgb / 255.0, (net_w, net_h), interpolation=cv2.INTER_CUBIC)
    x = torch.from_numpy(((image - MEAN) / STD).transpose(2, 0, 1)[None].astype(np.float32))
    with torch.no_grad():
        out = model(x)
    up = F.interpolate(out[:, None], (height, width), mode="bilinear", align_corners=align_corners)
    return up[0, 0].numpy()


def assert_close_to(values: np.ndarray, expected: np.ndarray) -> None:
    scale = np.abs(expected).max()
    assert scale > 0
    np.testing.assert_allclose(values, expected, rtol=0, atol=1e-5 * scale)


def test_v2_prediction_equals_hand_written_reference_at_camera_resolution():
    model = tiny_model()
    rgb = frames()[0]
    result = DepthEstimator(model, device="cpu").predict(rgb)
    assert isinstance(result, DepthResult)
    assert result.values.shape == (30, 40) and result.values.dtype == np.float32
    assert result.kind is DepthKind.RELATIVE_DISPARITY and not result.is_metric
    assert result.model_time_s > 0
    expected = reference_depth(model, rgb, align_corners=True)
    assert expected.std() > 1e-3 * np.abs(expected).max()  # the reference is not flat
    assert_close_to(result.values, expected)
    assert (result.values >= 0).all()  # relative disparity is non-negative


def test_v1_upsamples_with_align_corners_false():
    model = tiny_model(version="v1")
    rgb = frames(height=22, width=50, seed=5)[0]
    values = DepthEstimator(model, device="cpu").predict(rgb).values
    assert_close_to(values, reference_depth(model, rgb, align_corners=False))
    aligned = reference_depth(model, rgb, align_corners=True)
    assert np.abs(values - aligned).max() > 1e-3 * np.abs(aligned).max()


def test_metric_model_gives_metres_within_zero_and_max_depth():
    model = tiny_model(variant="metric", max_depth=20.0)
    estimator = DepthEstimator(model, device="cpu")
    assert estimator.kind is DepthKind.METRIC_DEPTH
    result = estimator.predict(frames(seed=2)[0])
    assert result.is_metric
    assert (result.values > 0).all() and (result.values <= 20.0).all()
    assert result.values.std() > 0


def test_batch_equals_frame_by_frame():
    model = tiny_model()
    estimator = DepthEstimator(model, device="cpu")
    batch = frames(count=3, seed=3)
    together = estimator.predict_batch(batch)
    assert together.values.shape == (3, 30, 40)
    for i in range(3):
        np.testing.assert_allclose(
            together.values[i], estimator.predict(batch[i]).values, rtol=0, atol=1e-5
        )


def test_input_array_is_never_modified_and_views_are_accepted():
    estimator = DepthEstimator(tiny_model(), device="cpu")
    bgr = frames(seed=4)[0]
    rgb_view = bgr[..., ::-1]  # a negative-stride view, as from a BGR→RGB flip
    before = bgr.copy()
    result = estimator.predict(rgb_view)
    np.testing.assert_array_equal(bgr, before)
    np.testing.assert_allclose(
        result.values, estimator.predict(np.ascontiguousarray(rgb_view)).values, atol=0
    )


def test_channels_last_and_bf16_stay_close_to_fp32():
    model = tiny_model()
    rgb = frames(seed=6)[0]
    reference = DepthEstimator(model, device="cpu").predict(rgb).values
    channels_last = DepthEstimator(model, device="cpu", channels_last=True).predict(rgb).values
    assert_close_to(channels_last, reference)
    bf16 = DepthEstimator(model, device="cpu", precision="bf16").predict(rgb).values
    assert bf16.dtype == np.float32
    assert np.abs(bf16 - reference).max() < 0.05 * np.abs(reference).max()


def test_input_size_option_changes_network_resolution():
    estimator = DepthEstimator(tiny_model(), device="cpu", input_size=70)
    assert estimator.input_size == 70
    assert estimator.network_size(30, 40) == (70, 98)
    assert estimator.predict(frames()[0]).values.shape == (30, 40)


def test_warmup_runs_before_first_frame():
    model = tiny_model()
    calls = []
    model.register_forward_hook(lambda *args: calls.append(1))
    DepthEstimator(model, device="cpu", warmup=2, warmup_shape=(20, 30))
    assert len(calls) == 2


@pytest.mark.parametrize(
    ("rgb", "error", "message"),
    [
        (np.zeros((30, 40, 3), np.float32), TypeError, "uint8"),
        (np.zeros((30, 40, 4), np.uint8), ValueError, "3 RGB channels"),
        (np.zeros((30, 40), np.uint8), ValueError, "3 RGB channels"),
        (np.zeros((0, 40, 3), np.uint8), ValueError, "empty"),
        ([[0, 0, 0]], TypeError, "numpy uint8"),
    ],
)
def test_predict_rejects_bad_images_with_specific_errors(rgb, error, message):
    estimator = DepthEstimator(tiny_model(), device="cpu")
    with pytest.raises(error, match=message):
        estimator.predict(rgb)


def test_predict_batch_rejects_frames_of_different_sizes():
    estimator = DepthEstimator(tiny_model(), device="cpu")
    with pytest.raises(ValueError, match="same shape"):
        estimator.predict_batch([frames()[0], frames(height=20)[0]])
    with pytest.raises(ValueError, match="B×H×W×3"):
        estimator.predict_batch(frames()[0])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"precision": "fp16"}, "fp16' needs a CUDA device"),
        ({"precision": "int8"}, "precision must be one of"),
        ({"input_size": 500}, "multiple of 14"),
        ({"device": "tpu"}, "device 'tpu'"),
        ({"preprocess": "pil"}, "preprocess must be"),
        ({"backend": "tensorrt"}, "backend must be one of"),
    ],
)
def test_bad_options_are_refused_with_the_reason(options, message):
    options = {"device": "cpu", **options}
    with pytest.raises(ValueError, match=message):
        DepthEstimator(tiny_model(), **options)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_request_without_cuda_is_refused():
    with pytest.raises(ValueError, match="CUDA is not available"):
        DepthEstimator(tiny_model(), device="cuda")


def test_from_weights_loads_a_saved_checkpoint_with_options(tmp_path):
    model = tiny_model(variant="metric", max_depth=10.0)
    path = tmp_path / "tiny.safetensors"
    save_model(model, path, provenance={"test": "estimator"})
    estimator = DepthEstimator.from_weights(path, device="cpu", channels_last=True)
    assert estimator.config == model.config
    assert estimator.kind is DepthKind.METRIC_DEPTH
    rgb = frames(seed=7)[0]
    assert_close_to(estimator.predict(rgb).values, reference_depth(model, rgb, align_corners=True))


def test_from_weights_input_size_override_reaches_the_model(tmp_path):
    path = tmp_path / "tiny.safetensors"
    save_model(tiny_model(), path)
    estimator = DepthEstimator.from_weights(path, device="cpu", input_size=70)
    assert estimator.input_size == 70


def test_from_weights_without_path_and_without_shipped_model_says_to_pass_weights(
    tmp_path, monkeypatch
):
    import depth_anything_ros.model as model_package

    missing = tmp_path / "models" / "default.safetensors"
    monkeypatch.setattr(model_package, "default_weights_path", lambda: missing)
    with pytest.raises(CheckpointError, match="--weights"):
        DepthEstimator.from_weights(device="cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_with_device_preprocessing_matches_cpu():
    model = tiny_model()
    rgb = frames(height=48, width=64, seed=8)[0]
    cpu = DepthEstimator(model, device="cpu").predict(rgb).values
    gpu = DepthEstimator(tiny_model(), device="cuda", warmup=1)
    assert gpu.device.type == "cuda"
    result = gpu.predict(rgb)
    assert np.abs(result.values - cpu).max() < 2e-3 * np.abs(cpu).max()
    for precision in ("bf16", "fp16"):
        low = DepthEstimator(tiny_model(), device="cuda", precision=precision, channels_last=True)
        values = low.predict(rgb).values
        assert np.isfinite(values).all()
        assert np.abs(values - cpu).max() < 0.05 * np.abs(cpu).max()


@pytest.mark.slow
def test_compiled_backend_matches_eager():
    """torch.compile (with CPU freezing) must give the eager numbers; compiling takes ~20 s."""
    model = tiny_model()
    rgb = frames(seed=9)[0]
    eager = DepthEstimator(model, device="cpu").predict(rgb).values
    compiled = DepthEstimator(tiny_model(), device="cpu", backend="compile", channels_last=True, warmup=1,
                              warmup_shape=rgb.shape[:2])
    assert compiled.backend == "compile"
    assert_close_to(compiled.predict(rgb).values, eager)
