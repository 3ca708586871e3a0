"""A real SIGKILL of `depth-anything-ros train student` (strong perturbations, CutMix, feature
alignment to a frozen encoder, a data-loader worker), then a resume: the weights are
bit-identical to an uninterrupted run's. A kill in the middle of writing a checkpoint leaves the
previous checkpoint loadable, and resuming from it again matches the uninterrupted run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from depth_anything_ros.training.config import load_config
from depth_anything_ros.training.loop import RunOptions, train
from depth_anything_ros.training.stages.common import export_stage_model
from depth_anything_ros.training.stages.pseudo_label import run_pseudo_label
from depth_anything_ros.training.stages.teacher import teacher_spec

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "training" / "configs" / "tiny.yaml"
DATA = "synthetic:{}:{}?n=8&size=56&cache=0"
STEPS, EVERY = 16, 4
pytestmark = pytest.mark.timeout(1200)  # four CLI runs; slow only on a machine shared with others

# Kill the process while it is inside torch.save of the checkpoint due at step 2·EVERY: half of
# the bytes are on disk, then SIGKILL — no Python clean-up, no `finally`, as with `kill -9`.
DIE_IN_SECOND_CHECKPOINT = """
import io, os, signal, sys, torch
real_save, seen = torch.save, []
def dying_save(obj, target, *args, **kwargs):
    if "checkpoint.pt" not in str(target):
        return real_save(obj, target, *args, **kwargs)
    seen.append(target)
    if len(seen) < 2:
        return real_save(obj, target, *args, **kwargs)
    buffer = io.BytesIO()
    real_save(obj, buffer)
    with open(target, "wb") as handle:
        handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        handle.flush()
    os.kill(os.getpid(), signal.SIGKILL)
torch.save = dying_save
from depth_anything_ros.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _data_overrides() -> list[str]:
    return ["model.encoder=vitpico", "data.crop=42",
            f"data.labeled={DATA.format('indoor', 'train')}",
            f"data.unlabeled={DATA.format('outdoor', 'train')}"]


@pytest.fixture(scope="module")
def teacher_and_labels(tmp_path_factory):
    """A few-step teacher and its pseudo-labels: what the student stage reads."""
    out = tmp_path_factory.mktemp("teacher")
    config = load_config(TINY, [f"out_dir={out}", "device=cpu", *_data_overrides(),
                                "teacher.steps=2", "teacher.batch_size=2"])
    model = train(teacher_spec(config), RunOptions(device="cpu", progress=False))
    weights = export_stage_model(model, config, "teacher", {})
    return weights, run_pseudo_label(config, teacher_weights=weights, device="cpu")


def student_argv(out: Path, teacher_and_labels) -> list[str]:
    weights, manifest = teacher_and_labels
    return ["train", "student", "--config", str(TINY), "--out", str(out), "--device", "cpu",
            *_data_overrides(), f"student.steps={STEPS}", "student.batch_size=2",
            f"student.checkpoint_every={EVERY}", "student.log_every=1", "student.warmup_steps=2",
            f"student.teacher_weights={weights}", f"student.pseudo_labels={manifest}"]


def run_cli(args: list[str], *, prefix: list[str] | None = None) -> subprocess.CompletedProcess:
    argv = [sys.executable, *(prefix or ["-m", "depth_anything_ros.cli"]), *args]
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, teacher_and_labels) -> dict[str, torch.Tensor]:
    out = tmp_path_factory.mktemp("uninterrupted")
    done = run_cli(student_argv(out, teacher_and_labels))
    assert done.returncode == 0, done.stderr[-3000:]
    return load_file(out / "student" / "model.safetensors")


def assert_same_weights(out: Path, reference: dict[str, torch.Tensor]) -> None:
    resumed = load_file(out / "student" / "model.safetensors")
    assert resumed.keys() == reference.keys()
    different = [k for k in reference if not torch.equal(resumed[k], reference[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


def logged_steps(out: Path) -> list[int]:
    lines = (out / "student" / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["step"] for line in lines]


def test_student_sigkilled_after_a_checkpoint_resumes_bit_identically(
        tmp_path, teacher_and_labels, uninterrupted):
    checkpoint = tmp_path / "student" / "checkpoint.pt"
    argv = [sys.executable, "-m", "depth_anything_ros.cli", *student_argv(tmp_path,
                                                                          teacher_and_labels)]
    # Own process group: after the kill, the orphaned data-loader worker is ended too.
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not checkpoint.exists():  # appears by rename: complete when it exists
            assert proc.poll() is None, f"training ended early: {proc.stderr.read()[-3000:]}"
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.stderr.close()
    killed_at = torch.load(checkpoint, map_location="cpu", weights_only=True)["step"]
    assert EVERY <= killed_at < STEPS and not (tmp_path / "student" / "model.safetensors").exists()

    resumed = run_cli(student_argv(tmp_path, teacher_and_labels))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from {checkpoint} at step {killed_at}" in resumed.stderr
    assert_same_weights(tmp_path, uninterrupted)
    assert logged_steps(tmp_path) == list(range(1, STEPS + 1))  # no step lost or logged twice


def test_a_kill_while_writing_a_checkpoint_keeps_the_previous_one_usable(
        tmp_path, teacher_and_labels, uninterrupted):
    folder = tmp_path / "student"
    died = run_cli(student_argv(tmp_path, teacher_and_labels),
                   prefix=["-c", DIE_IN_SECOND_CHECKPOINT])
    assert died.returncode == -signal.SIGKILL, died.stderr[-3000:]
    previous = torch.load(folder / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert previous["step"] == EVERY
    leftovers = list(folder.glob(".checkpoint.pt.*.tmp"))
    assert len(leftovers) == 1  # the half-written second checkpoint, never renamed into place

    resumed = run_cli(student_argv(tmp_path, teacher_and_labels))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"at step {EVERY}" in resumed.stderr
    assert_same_weights(tmp_path, uninterrupted)
    assert not list(folder.glob(".checkpoint.pt.*.tmp")), "stale temporary left behind"
