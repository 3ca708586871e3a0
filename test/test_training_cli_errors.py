"""`depth-anything-ros train`: a wrong config key, dataset spec or weights path is the user's
input, so it gets one `error:` line naming it and exit status 2 (as `bag` and `predict` do), not
a traceback; nothing is written."""
from __future__ import annotations

from pathlib import Path

import pytest

from depth_anything_ros.cli import main as cli

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "training" / "configs" / "default_model.yaml"
SHIPPED = REPO / "models" / "default.safetensors"


@pytest.mark.parametrize("argv, named", [
    (["metric", "--config", str(CONFIG), "metric.no_such_key=1"], "no_such_key"),
    (["metric", "--config", "missing.yaml"], "missing.yaml"),
    (["evaluate", "--weights", str(SHIPPED), "--data", "synthetic:indor:test"], "'indor'"),
    (["evaluate", "--weights", str(SHIPPED), "--data", "synthetic:indoor:tst?n=2"], "'tst'"),
    (["evaluate", "--weights", "missing.safetensors", "--data", "synthetic:indoor:test"],
     "missing.safetensors"),
    (["evaluate", "--weights", str(SHIPPED), "--data", "synthetic:indoor:test?n=2&size=64",
      "--min-depth", "100", "--max-depth", "200"], "valid depth pixels within 100–200 m"),
    # values checked when the config loads, not after the first training step
    (["metric", "--config", str(CONFIG), "teacher.log_every=0"], "teacher.log_every: 0"),
    (["metric", "--config", str(CONFIG), "device=cpuu"], "device: 'cpuu'"),
    (["metric", "--config", str(CONFIG), "model.encoder=vitpic"], "unknown encoder 'vitpic'"),
    # a typo in the last stage's data is found before the first stage trains (tiny stages, so
    # that without the check the run ends soon, having created the run folder)
    (["pipeline", "--config", str(CONFIG), "data.metric_eval=synthetic:indor:test",
      "device=cpu", "model.encoder=vitpico", "data.crop=42", "data.metric_mix=null",
      "metric.mix_batch_size=0", "evaluate.num=2",
      *[f"data.{key}=synthetic:{domain}?n=4&size=56&cache=0" for key, domain in (
          ("labeled", "indoor:train"), ("unlabeled", "outdoor:train"),
          ("metric_train", "indoor:train"), ("eval_relative", "outdoor:test"))],
      *[f"{stage}.{key}={value}" for stage in ("teacher", "student", "metric")
        for key, value in (("steps", 1), ("batch_size", 2))]], "'indor'"),
])
def test_a_bad_input_is_one_line_naming_it_and_exit_status_2(argv, named, tmp_path, capsys,
                                                             monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli(["train", *argv, *(["--out", str(tmp_path / "run")]
                                  if argv[0] in ("metric", "pipeline") else [])]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and f"train {argv[0]}: error:" in lines[0] and named in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_a_count_below_one_is_a_usage_error(capsys):
    # --num 0 used to reach the evaluation and end in a TypeError on its empty table
    with pytest.raises(SystemExit) as exit_info:
        cli(["train", "evaluate", "--weights", str(SHIPPED), "--data", "synthetic:indoor:test",
             "--num", "0"])
    assert exit_info.value.code == 2
    assert "argument --num: 0: must be ≥ 1" in capsys.readouterr().err


def test_a_bug_keeps_its_traceback(monkeypatch):
    """Only input errors are shortened: an unexpected exception still propagates."""
    import depth_anything_ros.training.stages.evaluate as evaluate

    def broken(*_args, **_kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(evaluate, "evaluate_weights", broken)
    with pytest.raises(ZeroDivisionError):
        cli(["train", "evaluate", "--weights", str(SHIPPED), "--data", "synthetic:indoor:test"])


TINY = ["device=cpu", "model.encoder=vitpico", "data.crop=42",
        "data.labeled=synthetic:indoor:train?n=4&size=56&cache=0", "teacher.steps=2",
        "teacher.batch_size=2", "teacher.checkpoint_every=1"]


def test_resuming_a_stage_with_other_settings_is_one_line(tmp_path, capsys):
    out = ["--out", str(tmp_path / "run")]
    assert cli(["train", "teacher", "--config", str(CONFIG), *out, *TINY]) == 0
    capsys.readouterr()
    assert cli(["train", "teacher", "--config", str(CONFIG), *out, *TINY,
                "teacher.lr_decoder=1e-3"]) == 2
    err = capsys.readouterr().err
    assert "train teacher: error:" in err and "different teacher settings" in err
    assert "Traceback" not in err
    # what the teacher does not read (evaluation sets, other stages' data) does not block it
    assert cli(["train", "teacher", "--config", str(CONFIG), *out, *TINY,
                "data.metric_eval=synthetic:indoor:test?n=2"]) == 0


@pytest.mark.parametrize("override, message", [
    # YAML reads `teacher.steps=true` (a slip for a number) as a bool, and Python's bool is an
    # int: accepted, it would quietly train the teacher for exactly one step
    pytest.param("teacher.steps=true", "teacher.steps: expected an integer, got True",
                 id="boolean_step_count"),
    # metric.log_every=0 would end the metric stage in a ZeroDivisionError after the teacher and
    # student have trained: the metric section is checked when the config loads, like the others
    pytest.param("metric.log_every=0", "metric.log_every: 0", id="bad_metric_section"),
])
def test_a_bad_config_value_is_refused_naming_it_before_any_stage_trains(tmp_path, capsys,
                                                                          override, message):
    out = ["--out", str(tmp_path / "run")]
    assert cli(["train", "teacher", "--config", str(CONFIG), *out, *TINY, override]) == 2
    err = capsys.readouterr().err
    assert "train teacher: error:" in err and message in err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()
