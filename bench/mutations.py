"""Do the tests catch the bugs that matter? Apply small deliberate bugs, one at a time, to a
temporary copy of the repository and run the test files that should catch each.

Every mutation is an exact search → replace on one file (the MUTATIONS table, data, lives in
`bench/mutation_rows_<area>.py`, joined in `bench/mutation_table.py`: when code moves, update
the snippet there). A snippet that is not
found exactly once is an error that names the mutation, the file and the snippet, so the table cannot rot silently; CI runs
``--check`` (test/test_bench_mutations.py), which only looks the snippets up.

    python bench/mutations.py                  # all 283: ~40 min on 2 cores (282/283 on 8a4d2c3; the
                                               # one left caught since, 3 of 3 runs)
    python bench/mutations.py --only label     # mutations whose name contains "label"
    python bench/mutations.py --check          # snippets only, no tests (seconds)
    python bench/mutations.py --list

The copy is imported through PYTHONPATH, so subprocesses (the depth_node executable, the CLI)
run the mutated code too; synthetic-data caches are shared with this checkout. Ends with
``N/N mutations caught``; exits 1 if any mutation survived or a snippet is missing.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutation_table import MUTATIONS, Mutation  # noqa: E402  (the table: data, its own file)

__all__ = ["MUTATIONS", "Mutation", "apply", "check_snippets"]


class SnippetError(RuntimeError):
    pass


def apply(mutation: Mutation, root: Path) -> str:
    """Write the mutated file under ``root``; return the original text (to restore)."""
    path = root / mutation.file
    if not path.is_file():
        raise SnippetError(f"mutation {mutation.name!r}: file {mutation.file} does not exist")
    text = path.read_text(encoding="utf-8")
    problem = _snippet_problem(mutation, text)
    if problem:
        raise SnippetError(f"mutation {mutation.name!r}: {problem}; update MUTATIONS in "
                           "bench/mutations.py")
    path.write_text(text.replace(mutation.old, mutation.new), encoding="utf-8")
    return text


def _snippet_problem(mutation: Mutation, text: str) -> str | None:
    """Why the snippet cannot be applied to `text` (not exactly once), or None."""
    count = text.count(mutation.old)
    if count == 1:
        return None
    where = "not found" if count == 0 else f"found {count} times"
    return f"snippet {where} in {mutation.file}: {mutation.old!r}"


def check_snippets(root: Path = REPO) -> list[str]:
    """Problems with the table (missing snippets, unknown test files); [] when all is well."""
    problems = []
    for mutation in MUTATIONS:
        text_path = root / mutation.file
        text = text_path.read_text(encoding="utf-8") if text_path.is_file() else ""
        problem = _snippet_problem(mutation, text)
        if problem:
            problems.append(f"{mutation.name}: {problem}")
        for test in mutation.tests:
            if not (root / test.split("::")[0]).is_file():
                problems.append(f"{mutation.name}: test file {test} does not exist")
        problems += [f"{mutation.name}: -k word {word!r} is in none of its test files"
                     for word in _unmatched_select_words(mutation, root)]
    names = [m.name for m in MUTATIONS]
    problems += [f"duplicate mutation name {n!r}" for n in sorted(set(names)) if names.count(n) > 1]
    return problems


def _unmatched_select_words(mutation: Mutation, root: Path) -> list[str]:
    """Words of the -k expression found in no test file: a misspelt selector selects nothing,
    and a mutation whose tests never ran would read "SURVIVED"."""
    texts = "".join((root / t.split("::")[0]).read_text(encoding="utf-8")
                    for t in mutation.tests if (root / t.split("::")[0]).is_file())
    words = [w for w in mutation.select.replace("(", " ").replace(")", " ").split()
             if w not in ("and", "or", "not")]
    return [w for w in words if w not in texts]


def copy_repository(destination: Path) -> None:
    """Tracked and untracked-but-not-ignored files (no .venv, no caches), symlinks kept."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, check=True).stdout.split(b"\0")
    for raw in filter(None, listed):
        relative = raw.decode()
        source, target = REPO / relative, destination / relative
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
        else:
            shutil.copy2(source, target)


def run_tests(mutation: Mutation, root: Path, timeout: float) -> tuple[list[str], str, float]:
    """(failed test ids, last output lines, seconds) of the mutation's tests in ``root``."""
    report = root / ".mutation-junit.xml"
    report.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--maxfail=5",
            f"--junitxml={report}", *mutation.tests]
    if mutation.select:
        argv += ["-k", mutation.select]
    env = dict(os.environ, PYTHONPATH=str(root), PYTHONDONTWRITEBYTECODE="1",
               DEPTH_ANYTHING_CACHE=os.environ.get(
                   "DEPTH_ANYTHING_CACHE", str(REPO / ".cache" / "depth_anything_ros")))
    start = time.monotonic()
    try:
        done = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True,
                              timeout=timeout)
        output = done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        return ["(timed out: counted as caught only if a test had failed)"], str(exc), \
            time.monotonic() - start
    failed = []
    if report.is_file():
        for case in ET.parse(report).getroot().iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed.append(f"{case.get('classname')}::{case.get('name')}")
    if not failed and done.returncode == 5:  # not caught, and said why
        output += "\n(pytest exit 5: the test ids or -k selected no test)"
    if not failed and done.returncode != 0:
        failed.append(f"(pytest exit {done.returncode}: collection or import error)")
    return failed, "\n".join(output.strip().splitlines()[-3:]), time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="run mutations whose name contains this")
    parser.add_argument("--check", action="store_true", help="only check that snippets exist")
    parser.add_argument("--list", action="store_true", help="list the mutations")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per mutation")
    args = parser.parse_args(argv)

    if args.list:
        for m in MUTATIONS:
            print(f"{m.name}  [{m.file}]  -> {', '.join(m.tests)}"
                  + (f" -k '{m.select}'" if m.select else ""))
        return 0
    problems = check_snippets()
    for problem in problems:
        print(f"MISSING: {problem}", file=sys.stderr)
    if args.check or problems:
        print(f"{len(MUTATIONS)} mutations, {len(problems)} problem(s) in the table")
        return 1 if problems else 0

    chosen = [m for m in MUTATIONS if args.only.lower() in m.name.lower()]
    caught = 0
    begin = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mutations-") as tmp:
        root = Path(tmp) / "repo"
        copy_repository(root)
        for i, mutation in enumerate(chosen, 1):
            original = apply(mutation, root)
            try:
                failed, tail, seconds = run_tests(mutation, root, args.timeout)
            finally:
                (root / mutation.file).write_text(original, encoding="utf-8")
            verdict = "CAUGHT" if failed else "SURVIVED"
            caught += bool(failed)
            print(f"[{i}/{len(chosen)}] {verdict} in {seconds:.0f} s: {mutation.name}", flush=True)
            for test in failed[:5]:
                print(f"      by {test}", flush=True)
            if not failed:
                print(f"      tests run: {' '.join(mutation.tests)}\n      {tail}", flush=True)
    print(f"{caught}/{len(chosen)} mutations caught "
          f"({(time.monotonic() - begin) / 60:.1f} min)")
    return 0 if caught == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
