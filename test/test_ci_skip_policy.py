""".ci/check_junit.py: CI fails on a failure, on no pass, and on any skip not on the allow-list."""
import subprocess
import sys
from pathlib import Path

import pytest

CHECK = Path(__file__).resolve().parents[1] / ".ci" / "check_junit.py"


def _report(tmp_path, cases: str, tests: int, skipped: int = 0, failures: int = 0):
    path = tmp_path / "junit.xml"
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">'
        f'<testsuite name="pytest" errors="0" failures="{failures}" skipped="{skipped}" '
        f'tests="{tests}">{cases}</testsuite></testsuites>')
    return path


def _check(path):
    return subprocess.run([sys.executable, str(CHECK), str(path)], capture_output=True, text=True)


def _case(name, skip_message=None):
    inner = (f'<skipped type="pytest.skip" message="{skip_message}">x.py:1: {skip_message}'
             '</skipped>' if skip_message else "")
    return f'<testcase classname="test.test_x" name="{name}" time="0.1">{inner}</testcase>'


@pytest.mark.parametrize("reason", [
    "needs CUDA",
    "launch/launch_ros are not installed here (no ROS 2 install; not on PyPI): see docs",
])
def test_allowed_skips_pass(tmp_path, reason):
    done = _check(_report(tmp_path, _case("test_a") + _case("test_b", reason), 2, skipped=1))
    assert done.returncode == 0, done.stdout
    assert "1 passed, 0 failed, 1 skipped" in done.stdout


@pytest.mark.parametrize("reason", [
    "could not import 'transformers': No module named 'transformers'",
    "config/depth.yaml not written yet",
    "needs CUDA for speed",  # an allowed phrase with more after it is another reason
])
def test_a_skip_for_any_other_reason_fails_ci_and_is_named(tmp_path, reason):
    done = _check(_report(tmp_path, _case("test_a") + _case("test_hidden", reason), 2, skipped=1))
    assert done.returncode == 1
    assert f"unexpected skip: test.test_x::test_hidden: {reason}" in done.stdout


def test_no_pass_or_a_failure_fails_ci(tmp_path):
    assert _check(_report(tmp_path, _case("test_a", "needs CUDA"), 1, skipped=1)).returncode == 1
    failed = _report(tmp_path, _case("test_a") + _case("test_b"), 2, failures=1)
    assert _check(failed).returncode == 1


def test_a_run_that_left_no_report_fails_with_a_line_not_a_traceback(tmp_path):
    # a pytest process killed mid-run (SIGSEGV, the OOM killer) writes no junit report
    done = _check(tmp_path / "junit.xml")
    assert done.returncode == 1
    assert "pytest did not finish" in done.stdout and "Traceback" not in done.stderr
