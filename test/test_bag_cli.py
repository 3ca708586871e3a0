"""`depth-anything-ros bag`: argument handling, one-line errors, exit codes, the summary."""
import os
import subprocess
import sys

import pytest

from bag_helpers import read_bag, save_tiny_model, tree_digest, write_camera_bag
from depth_anything_ros.cli import main


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture
def bag(tmp_path):
    path = tmp_path / "in"
    write_camera_bag(path, frames=3, storage="mcap", corrupt={1: "short_data"})
    return path


def _run(capsys, *argv):
    code = main(["bag", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_bag_command_writes_the_bag_and_prints_a_summary(tmp_path, bag, weights, capsys):
    out = tmp_path / "out"
    code, stdout, _ = _run(capsys, bag, out, "--image-topic", "/cam/image_raw", "--weights", weights,
                           "--device", "cpu", "--storage", "sqlite3", "--quiet")
    assert code == 0
    assert "2 of 3 frames with depth, 1 skipped" in stdout and "frames/s" in stdout
    assert "1 frame skipped: cannot decode image" in stdout and "(first: frame 1," in stdout
    assert len(read_bag(out, ("/cam/depth/points",))["/cam/depth/points"]) == 2


def test_strict_exits_non_zero_with_one_line_and_writes_nothing(tmp_path, bag, weights, capsys):
    before = tree_digest(bag)
    code, _, err = _run(capsys, bag, tmp_path / "out", "--image-topic", "/cam/image_raw",
                        "--weights", weights, "--device", "cpu", "--strict", "--quiet")
    assert code == 2
    line = err.strip().splitlines()[-1]
    assert line.startswith("depth-anything-ros bag: error: /cam/image_raw message 1")
    assert not (tmp_path / "out").exists() and tree_digest(bag) == before


def test_missing_topic_is_one_line_listing_the_image_topics(tmp_path, bag, weights, capsys):
    code, _, err = _run(capsys, bag, tmp_path / "out", "--image-topic", "/front/image",
                        "--weights", weights, "--device", "cpu")
    assert code == 2
    assert err.count("\n") == 1
    assert "no topic '/front/image'" in err and "/cam/image_raw (sensor_msgs/msg/Image)" in err


@pytest.mark.parametrize("extra, message", [
    (["--batch-size", "0"], "--batch-size must be >= 1"),
    (["--points-stride", "0"], "--points-stride must be >= 1"),
    (["--copy-topics", " , "], "--copy-topics"),
    (["--camera-height", "-1"], "--camera-height -1.0: must be > 0"),
    (["--camera-height", "1", "--sparse-depth-topic", "/cam/image_raw"], "two scale sources"),
    (["--sparse-depth-topic", "/lidar"], "--sparse-depth-topic: bag"),
])
def test_bad_arguments_are_one_line_errors_before_the_model_loads(tmp_path, bag, capsys, extra, message):
    # no --weights: the shipped model may be absent, so reaching the model would fail differently
    code, _, err = _run(capsys, bag, tmp_path / "out", "--image-topic", "/cam/image_raw", *extra)
    assert code == 2 and message in err and err.count("\n") == 1


def test_camera_height_on_a_bag_without_camera_info_is_refused_before_the_model_loads(
        tmp_path, capsys):
    """The ground plane needs the camera's intrinsics: on a bag with no CameraInfo beside the
    image, --camera-height is one line naming the fix before the model loads (no --weights:
    reaching the model would fail differently), and nothing is written."""
    write_camera_bag(tmp_path / "in", frames=2, info_topic=None)
    code, _, err = _run(capsys, tmp_path / "in", tmp_path / "out", "--image-topic",
                        "/cam/image_raw", "--camera-height", "1.2")
    assert code == 2 and err.count("\n") == 1
    assert "--camera-height: the ground plane needs the camera's intrinsics" in err
    assert "--camera-info-topic" in err and not (tmp_path / "out").exists()


def test_missing_input_and_existing_output_are_refused(tmp_path, bag, weights, capsys):
    code, _, err = _run(capsys, tmp_path / "nope", tmp_path / "out", "--image-topic", "/x")
    assert code == 2 and "input bag" in err and "does not exist" in err
    (tmp_path / "out").mkdir()
    code, _, err = _run(capsys, bag, tmp_path / "out", "--image-topic", "/cam/image_raw",
                        "--weights", weights, "--device", "cpu")
    assert code == 2 and "already exists (pass --overwrite" in err


def test_unknown_choice_is_rejected_by_argparse(tmp_path, bag):
    result = subprocess.run(
        [sys.executable, "-m", "depth_anything_ros.cli", "bag", str(bag), str(tmp_path / "o"),
         "--image-topic", "/cam/image_raw", "--storage", "bag1"],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=60)
    assert result.returncode != 0 and "invalid choice: 'bag1'" in result.stderr
    assert not (tmp_path / "o").exists()


def test_sigterm_mid_run_exits_130_leaving_no_output_and_the_input_unchanged(tmp_path, weights):
    import signal
    import time

    src, out = tmp_path / "in", tmp_path / "out"
    write_camera_bag(src, frames=400, notes=False)
    before = tree_digest(src)
    proc = subprocess.Popen(
        [sys.executable, "-m", "depth_anything_ros.cli", "bag", str(src), str(out),
         "--image-topic", "/cam/image_raw", "--weights", str(weights), "--device", "cpu",
         "--batch-size", "1", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".out.*.partial/out/*")):  # the staged bag is being written
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]
    assert tree_digest(src) == before


def test_a_bag_of_only_unusable_frames_fails_in_a_few_lines_and_writes_nothing(tmp_path, weights, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    corrupt = {i: "short_data" if i % 3 else "truncated_cdr" for i in range(60)}
    write_camera_bag(src, frames=60, corrupt=corrupt, notes=False)
    code, stdout, err = _run(capsys, src, out, "--image-topic", "/cam/image_raw", "--weights",
                             weights, "--device", "cpu", "--quiet")
    assert code == 2 and stdout == ""
    lines = err.strip().splitlines()
    assert len(lines) <= 5, lines  # not one line per frame
    assert lines[0].startswith("40 frames skipped: cannot decode image")
    assert lines[1].startswith("20 frames skipped: cannot deserialize")
    assert lines[-1].startswith("depth-anything-ros bag: error: input bag")
    assert "none of the 60 frames on /cam/image_raw produced depth" in lines[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no output, no staging left


def test_skipped_frames_are_counted_by_reason_and_verbose_lists_each(tmp_path, weights, capsys, caplog):
    src = tmp_path / "in"
    write_camera_bag(src, frames=12, corrupt={i: "short_data" for i in range(1, 12, 2)})
    args = (src, tmp_path / "out", "--image-topic", "/cam/image_raw", "--weights", weights,
            "--device", "cpu", "--quiet")

    def per_frame_lines():
        return [r.getMessage().split(" message ")[1].split(" ")[0] for r in caplog.records
                if "skipping /cam/image_raw" in r.getMessage()]

    code, stdout, err = _run(capsys, *args)
    assert code == 0
    assert stdout.count("skipped: ") == 1 and "6 frames skipped: cannot decode image" in stdout
    assert per_frame_lines() == [] and "skipping" not in err

    caplog.clear()
    code, stdout, err = _run(capsys, *args, "--overwrite", "--verbose")
    assert code == 0 and stdout.count("skipped: ") == 1
    assert per_frame_lines() == ["1", "3", "5", "7", "9", "11"]


@pytest.mark.parametrize("command", ["bag", "bags"])
def test_without_rosbags_the_bag_tools_say_what_to_install(tmp_path, command):
    # rosbags is a pip-only dependency the node does not need; sys.modules[name] = None makes
    # its import fail exactly as if it were not installed
    code = ("import sys; sys.modules['rosbags'] = None\n"
            "from depth_anything_ros.cli import main\n"
            f"sys.exit(main([{command!r}, {str(tmp_path / 'in')!r}, {str(tmp_path / 'out')!r}, "
            "'--image-topic', '/cam/image_raw']))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 2, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "pip install rosbags" in lines[0], run.stderr


def test_bag_runs_a_checkpoint_traced_on_the_cpu_and_predict_eager(tmp_path, bag, weights):
    """backend auto: a bag is a stream of one image size, so on the CPU it runs the trace
    (GIL-free beside the bag's writer and pool threads); `predict`'s few images run eager."""
    from depth_anything_ros.cli import build_parser
    from depth_anything_ros.commands.bag import load_job_estimator
    from depth_anything_ros.commands.predict import load_estimator

    parser = build_parser()
    bag_args = parser.parse_args(["bag", str(bag), str(tmp_path / "out"), "--image-topic",
                                  "/cam/image_raw", "--weights", str(weights), "--device", "cpu"])
    assert load_job_estimator(bag_args).backend == "torchscript"
    predict_args = parser.parse_args(["predict", str(tmp_path / "x.png"), "--out",
                                      str(tmp_path / "p"), "--weights", str(weights),
                                      "--device", "cpu"])
    assert load_estimator(predict_args, device="cpu").backend == "torch"
