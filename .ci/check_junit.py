"""CI verdict from pytest's JUnit report: no failure, at least one pass, and no unexpected skip.

A skip hides whatever it skipped, so only the reasons below may skip on CI: things this 2-core
machine without ROS 2 or GPU cannot have. Any other skip (a missing test dependency, a
`pytest.skip` left in a test, an xfail) fails the run and is listed by test id and reason.

    python .ci/check_junit.py REPORT.xml
"""
from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

# (pattern searched in the skip message, why CI may skip it)
ALLOWED_SKIPS: tuple[tuple[str, str], ...] = (
    (r"^needs CUDA$", "no GPU on CI"),
    (r"^checks the error on a machine without CUDA$", "the inverse, on a GPU machine"),
    (r"^launch/launch_ros are not installed here", "no ROS 2 launch on PyPI"),
    (r"is not in the ament index \(not built/installed here\)",
     "launch present, package not built"),
)


def unexpected_skips(root: ET.Element) -> list[tuple[str, str]]:
    """(test id, reason) of every skipped test case whose reason is not allowed."""
    found = []
    for case in root.iter("testcase"):
        skipped = case.find("skipped")
        if skipped is None:
            continue
        reason = skipped.get("message", "") or (skipped.text or "")
        if not any(re.search(pattern, reason) for pattern, _ in ALLOWED_SKIPS):
            found.append((f"{case.get('classname')}::{case.get('name')}", reason))
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    if not Path(argv[0]).is_file():  # pytest was killed (a signal, the OOM killer) mid-run
        print(f"ci: no test report at {argv[0]}: pytest did not finish; its last lines are "
              "above (a crash shows as make's 'Segmentation fault' or 'Killed')")
        return 1
    root = ET.parse(argv[0]).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    total = sum(int(s.get("tests", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    passed = total - skipped - failed
    print(f"ci: {passed} passed, {failed} failed, {skipped} skipped")
    bad = unexpected_skips(root)
    for test_id, reason in bad:
        print(f"ci: unexpected skip: {test_id}: {reason}")
    if passed <= 0 or failed:
        print("ci: no test passed or a test failed; refusing a green run")
        return 1
    if bad:
        print(f"ci: {len(bad)} skip(s) not on the allow-list in .ci/check_junit.py; "
              "refusing a green run")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
