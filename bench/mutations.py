"""Do the tests catch the bugs that matter? Apply small deliberate bugs, one at a time, to a
temporary copy of the repository and run the test files that should catch each.

Every mutation is an exact search → replace on one file (the MUTATIONS table below is data:
when code moves, update the snippet). A snippet that is not found exactly once is an error
that names the mutation, the file and the snippet, so the table cannot rot silently; CI runs
``--check`` (test/test_bench_mutations.py), which only looks the snippets up.

    python bench/mutations.py                  # all 63: ~12 min on 2 cores (63/63 caught)
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
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str  # relative to the repository root
    old: str   # must occur exactly once in `file`
    new: str
    tests: tuple[str, ...]  # pytest node ids or files expected to catch it
    select: str = ""        # optional pytest -k expression to keep the run short


MUTATIONS: tuple[Mutation, ...] = (
    # --- training: learning and the loop --------------------------------------------------
    Mutation("teacher label shift (each image paired with the previous image's label)",
             "training/stages/teacher.py",
             'target, valid = part["disparity"].float(), part["valid"]',
             'target, valid = part["disparity"].roll(1, 0).float(), part["valid"]',
             ("test/test_training_learning.py",), "teacher"),
    Mutation("student pseudo-label shift",
             "training/stages/student.py",
             'pseudo = unl["pseudo"].float()',
             'pseudo = unl["pseudo"].roll(1, 0).float()',
             ("test/test_training_learning.py",), "student"),
    Mutation("metric label shift",
             "training/stages/metric.py",
             'silog_loss(pred.float(), part["depth"].float(), part["valid"]',
             'silog_loss(pred.float(), part["depth"].roll(1, 0).float(), part["valid"].roll(1, 0)',
             ("test/test_training_learning.py",), "metric"),
    Mutation("rank shard overlap (every DDP rank loads the whole global batch)",
             "training/loop.py",
             "for pos in range(lo, lo + per_rank)",
             "for pos in range(s.batch_size)",
             ("test/test_training_loop.py",)),
    Mutation("RNG state not restored on resume",
             "training/loop.py",
             '_set_rng_state(state["rng"])',
             'pass  # RNG restore removed',
             ("test/test_training_loop.py",)),
    Mutation("optimiser state not restored on resume",
             "training/loop.py",
             'optimizer.load_state_dict(state["optimizer"])',
             'pass  # optimiser restore removed',
             ("test/test_training_loop.py",), "kill or resume"),
    Mutation("checkpoint written in place (a kill mid-write destroys the previous one)",
             "training/loop.py",
             "    with atomic_path(path, durable=True) as tmp:  # a kill mid-write keeps the "
             "previous one\n        torch.save(state, tmp)",
             "    torch.save(state, path)",
             ("test/test_training_kill_resume.py",), "while_writing"),
    Mutation("pseudo-labels stored under the wrong item",
             "training/stages/pseudo_label.py",
             "for i, disparity in zip(chunk, values):",
             "for i, disparity in zip(chunk[1:] + chunk[:1], values):",
             ("test/test_training_stages.py",), "pseudo_labels"),
    # --- training geometry ----------------------------------------------------------------
    Mutation("crop principal point +1 px (cy)",
             "training/data/transforms.py",
             "[fx, fy, cx - left, cy - top]",
             "[fx, fy, cx - left, cy - top + 1]",
             ("test/test_training_data_transforms.py",)),
    Mutation("crop principal point -1 px (cx)",
             "training/data/transforms.py",
             "[fx, fy, cx - left, cy - top]",
             "[fx, fy, cx - left - 1, cy - top]",
             ("test/test_training_data_transforms.py",)),
    Mutation("resize ignores the pixel-centre offset",
             "training/data/samples.py",
             "(cx + 0.5) * sx - 0.5, (cy + 0.5) * sy - 0.5",
             "cx * sx, cy * sy",
             ("test/test_training_data_transforms.py",)),
    Mutation("flip mirrors cx about W instead of W - 1",
             "training/data/transforms.py",
             'sample["image"].shape[1] - 1 - cx',
             'sample["image"].shape[1] - cx',
             ("test/test_training_data_transforms.py",)),
    # --- geometry shared by node and bag --------------------------------------------------
    Mutation("cx/cy swap when reading K",  # the camera model node and bag use (since #9)
             "depth_anything_ros/geometry/camera_model.py",
             "fx, cx, fy, cy = self.k[0], self.k[2], self.k[4], self.k[5]",
             "fx, cy, fy, cx = self.k[0], self.k[2], self.k[4], self.k[5]",
             ("test/test_geometry_camera_model.py", "test/test_ros_node_geometry.py")),
    Mutation("range limits exclusive instead of inclusive",
             "depth_anything_ros/geometry/pointcloud.py",
             "(z < min_range) | (z > max_range)",
             "(z <= min_range) | (z >= max_range)",
             ("test/test_geometry_pointcloud.py", "test/test_ros_node_geometry.py")),
    Mutation("stride off by one (cloud columns start at u = 1)",
             "depth_anything_ros/geometry/rays.py",
             "x = ((np.arange(width, dtype=np.float64) - cx) / fx)",
             "x = ((np.arange(1, width + 1, dtype=np.float64) - cx) / fx)",
             ("test/test_geometry_pointcloud.py",)),
    Mutation("strided size rounds down (drops the last row/column)",
             "depth_anything_ros/geometry/camera.py",
             "-(-self.width // stride)",
             "self.width // stride",
             ("test/test_geometry_pointcloud.py",)),
    Mutation("resized intrinsics scale cx by the height ratio",
             "depth_anything_ros/geometry/camera.py",
             "self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy",
             "self.fx * sx, self.fy * sy, self.cx * sy, self.cy * sy",
             ("test/test_geometry_pointcloud.py",)),
    # --- node ----------------------------------------------------------------------------
    Mutation("node: header stamp not copied to the outputs",
             "depth_anything_ros/ros/node.py",
             "        header = frame.msg.header\n",
             "        header = type(frame.msg.header)(frame_id=frame.msg.header.frame_id)\n",
             ("test/test_ros_node_end_to_end.py",), "stamp"),
    Mutation("node: bgr/rgb swap before the model",
             "depth_anything_ros/ros/node.py",
             "result = self._estimator.predict(np.ascontiguousarray(rgb), fx=frame_camera.fx)",
             "result = self._estimator.predict(np.ascontiguousarray(rgb[..., ::-1]), fx=frame_camera.fx)",
             ("test/test_ros_node_end_to_end.py", "test/test_demo.py"), "estimator or shipped"),
    Mutation("node: bgr8 input not converted to RGB",
             "depth_anything_ros/conversions/image_codec.py",
             "return cv2.cvtColor(np.ascontiguousarray(view), cv2.COLOR_BGR2RGB)",
             "return np.ascontiguousarray(view)",
             ("test/test_conversions_image_codec.py", "test/test_ros_node_end_to_end.py")),
    Mutation("node: republished CameraInfo keeps the calibration's K for a resized image",
             "depth_anything_ros/geometry/camera_model.py",
             "    sx = image_width / window_w / bx\n    sy = image_height / window_h / by",
             "    sx = 1.0 / bx\n    sy = 1.0 / by",
             ("test/test_ros_node_end_to_end.py",), "camera_info"),
    Mutation("node and bag: invalid 32FC1 depth written as 0.0 instead of NaN",
             "depth_anything_ros/conversions/depth_codec.py",
             "values = np.where(valid, depth, np.nan).astype(\"<f4\", copy=False)",
             "values = np.where(valid, depth, 0.0).astype(\"<f4\", copy=False)",
             ("test/test_conversions_image_codec.py",)),
    Mutation("node: inference runs with no subscriber (lazy mode broken)",
             "depth_anything_ros/ros/node.py",
             "        if not wanted:\n            self.stats.frame_skipped_lazy()",
             "        if False:\n            self.stats.frame_skipped_lazy()",
             ("test/test_ros_node_runtime.py",), "lazy or subscriber"),
    # --- bag -----------------------------------------------------------------------------
    Mutation("bag: output header drops the nanoseconds of the input stamp",
             "depth_anything_ros/bag/messages.py",
             "stamp=self._Time(sec=stamp.sec, nanosec=stamp.nanosec)",
             "stamp=self._Time(sec=stamp.sec, nanosec=0)",
             ("test/test_bag_process.py",)),
    Mutation("bag: CameraInfo paired by bag time, not by the image's stamp",
             "depth_anything_ros/bag/camera_info.py",
             "        if stamp_ns in self._by_stamp:\n",
             "        if False:\n",
             ("test/test_bag_camera_info.py", "test/test_bag_process.py")),
    Mutation("bag and node: 16UC1 millimetres truncated instead of rounded",
             "depth_anything_ros/conversions/depth_codec.py",
             "mm = np.round(np.asarray(depth, dtype=np.float32) * 1000.0)",
             "mm = np.floor(np.asarray(depth, dtype=np.float32) * 1000.0)",
             ("test/test_conversions_image_codec.py", "test/test_bag_process.py")),
    Mutation("backend torchscript quietly runs eager (the GIL is held per operator again)",
             "depth_anything_ros/inference/traced.py",
             "            graph = self.graphs[key] = self._trace(x)",
             "            graph = self.graphs[key] = self.model",
             ("test/test_inference_traced.py",), "gil"),
    # --- metric scale: the anchors' line ---------------------------------------------------
    Mutation("metric line extrapolated beyond its span (a near obstacle pushed away)",
             "depth_anything_ros/scale/fit.py",
             "factor = scale + shift / np.clip(p, np.float32(span[0]), np.float32(span[1]))",
             "factor = scale + shift / p",
             ("test/test_scale_fit.py",), "span"),
    Mutation("metric line taken even where one scale explains as many anchors",
             "depth_anything_ros/scale/fit.py",
             "        if agree_line <= agree_plain:\n",
             "        if False:\n",
             ("test/test_scale_fit.py", "test/test_scale_ground_plane.py")),
    Mutation("metric lines smoothed by their slope (a switch to one scale trips the gate)",
             "depth_anything_ros/scale/corrector.py",
             "            event = self.filter.update(stamp_s, fit.scale + fit.shift / self._reference,\n"
             "                                       fit.shift / fit.scale, fit.span)",
             "            event = self.filter.update(stamp_s, fit.scale, fit.shift, fit.span)",
             ("test/test_scale_corrector.py",), "switch or far or blend"),
    Mutation("metric line's filter reference never moves (a later line applied at the old one)",
             "depth_anything_ros/scale/corrector.py",
             "            cleared = self._move_reference(math.sqrt(fit.span[0] * fit.span[1]))",
             "            cleared = False",
             ("test/test_scale_corrector.py",), "far or blend"),
    Mutation("ground plane takes the densest band of votes, not the lowest supported one",
             "depth_anything_ros/scale/ground_plane.py",
             "    lowest = usable[int(np.argmax(counts >= need))]",
             "    lowest = usable[int(np.argmax(counts))]",
             ("test/test_scale_ground_plane.py",), "table_top"),
    Mutation("ground plane takes any correction (a desk that fills the view passes for the floor)",
             "depth_anything_ros/scale/ground_plane.py",
             "        if factor > config.max_correction:",
             "        if False:",
             ("test/test_scale_ground_plane.py",), "desk"),
    Mutation("ground plane limits downward corrections too (a model reading far is not fixed)",
             "depth_anything_ros/scale/ground_plane.py",
             "        if factor > config.max_correction:",
             "        if not 1 / config.max_correction <= factor <= config.max_correction:",
             ("test/test_scale_ground_plane.py",), "desk"),
    Mutation("node drops the ground_max_correction parameter",
             "depth_anything_ros/ros/metric_scale.py",
             "        min_anchors=s.scale_min_anchors, scale_model=s.scale_model,\n"
             "        ground_max_correction=s.ground_max_correction)",
             "        min_anchors=s.scale_min_anchors, scale_model=s.scale_model)",
             ("test/test_ros_node_metric_scale.py",), "ground_plane"),
    Mutation("backends bench counts FLOPs as torch does (attention on the CPU counted as 0)",
             "bench/backends.py",
             "    with torch.inference_mode(), FlopCounterMode(display=False,\n"
             "                                                 custom_mapping=attention) as counter:",
             "    with torch.inference_mode(), FlopCounterMode(display=False) as counter:",
             ("test/test_bench_backends.py",)),
    Mutation("TUM floor normal read from the rotation's column, not its row",
             "training/data/tum.py",
             "        up = np.array([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)])",
             "        up = np.array([2 * (x * z + y * w), 2 * (y * z - x * w), 1 - 2 * (x * x + y * y)])",
             ("test/test_training_data_tum.py",), "mocap"),
    Mutation("demo blames the node for a depth image lost beside its cloud",
             "depth_anything_ros/demo/summary.py",
             "    processed = depth | (published & set(cloud_stamps))",
             "    processed = depth",
             ("test/test_demo.py",), "accounting"),
    Mutation("train CLI shortens every exception, bugs included",
             "training/__main__.py",
             "        if not isinstance(exc, _input_errors()):",
             "        if False:",
             ("test/test_training_cli_errors.py",)),
    # --- real cameras and drivers: focal length, stamps, logging ----------------------------
    Mutation("a camera_info with an unusable D loses the focal correction too",
             "depth_anything_ros/geometry/camera_model.py",
             "fx: float | None = focal_length(calibration, image_width, image_height, source)",
             "fx: float | None = None",
             ("test/test_ros_node_cameras.py", "test/test_bag_process.py"), "canonical"),
    Mutation("the scale filter keeps its state when the focal factor changes",
             "depth_anything_ros/scale/corrector.py",
             "        if self._units is not None and not math.isclose(units, self._units, rel_tol=1e-6):",
             "        if False:",
             ("test/test_scale_corrector.py",), "focal_factor"),
    Mutation("throttled warnings and errors logged from one rclpy call site",
             "depth_anything_ros/ros/throttled_log.py",
             "        log_at(self._logger, level, text)",
             "        getattr(self._logger, level)(text)",
             ("test/test_ros_log_bridge.py",), "warnings_and_errors"),
    Mutation("sparse depth of equal stamps paired with the oldest message",
             "depth_anything_ros/ros/metric_scale.py",
             "for t, m in reversed(self._messages)),",
             "for t, m in self._messages),",
             ("test/test_ros_node_metric_scale.py",), "does_not_stamp"),
    Mutation("frames stamped zero time the scale filter by their stamp",
             "depth_anything_ros/ros/metric_scale.py",
             "        stamp_ns = _ns(header.stamp) or self._clock.now().nanoseconds",
             "        stamp_ns = _ns(header.stamp)",
             ("test/test_ros_node_metric_scale.py",), "does_not_stamp"),
    Mutation("bag --overwrite replaces any folder",
             "depth_anything_ros/bag/staging.py",
             "        problem = None if replaceable is None else replaceable(final)",
             "        problem = None",
             ("test/test_bag_process.py",), "overwrite"),
    Mutation("a frame stamped zero counted in the latency statistics",
             "depth_anything_ros/ros/diagnostics.py",
             "            if latency_s is not None:\n                self._latencies.append(latency_s)",
             "            self._latencies.append(latency_s if latency_s is not None else 1.8e9)",
             ("test/test_ros_diagnostics.py",)),
    Mutation("the latency of a negative stamp through rclpy's Time (ends the publisher thread)",
             "depth_anything_ros/ros/node.py",
             "        ns = int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)",
             "        from rclpy.time import Time\n        ns = Time.from_msg(stamp).nanoseconds",
             ("test/test_ros_node_bad_input.py",), "negative"),
    Mutation("diagnostics keep 'intrinsics assumed' after a frame without a model",
             "depth_anything_ros/ros/camera_geometry.py",
             "        self.assumed = False  # until this frame's model says so\n",
             "",
             ("test/test_ros_node_cameras.py",), "stop_being"),
    Mutation("unstamped frames taken for copies while two subscriptions overlap",
             "depth_anything_ros/ros/input_qos.py",
             "            if recent is not None and (stamp.sec or stamp.nanosec):",
             "            if recent is not None:",
             ("test/test_ros_input_qos.py",)),
    Mutation("launch file drops the sparse_depth remap",
             "launch/depth.launch.py",
             '            ("sparse_depth", arg["sparse_depth"]),\n',
             "",
             ("test/test_launch_files.py",), "remapped"),
    # --- training resume, fleet outputs, core edge cases -------------------------------------
    Mutation("pseudo-labels of another unlabeled set or teacher resumed as if they matched",
             "training/stages/pseudo_label.py",
             "    if old == key:\n        return\n",
             "    return\n",
             ("test/test_training_stages.py",), "another_unlabeled"),
    Mutation("every stage's fingerprint holds the whole data section",
             "training/stages/common.py",
             "items() if k in STAGE_DATA[stage]}",
             'items() if k != "workers"}',
             ("test/test_training_cli_errors.py",), "resuming"),
    Mutation("pipeline opens its dataset specs only when each stage starts",
             "training/stages/pipeline.py",
             "    check_specs(config)\n",
             "",
             ("test/test_training_cli_errors.py",), "bad_input"),
    Mutation("bags: a bare output folder counts as a finished bag",
             "depth_anything_ros/bag/fleet.py",
             '    complete = [(outputs[0] / "metadata.yaml").is_file()] + present[1:]',
             "    complete = present",
             ("test/test_bag_fleet.py",), "metadata"),
    Mutation("a zero-pixel camera window divides by zero",
             "depth_anything_ros/geometry/camera_model.py",
             "    if window_w <= 0 or window_h <= 0:",
             "    if False:",
             ("test/test_geometry_camera_model.py",), "binning_that"),
    Mutation("a compressed image of unknown size decoded despite the pixel limit",
             "depth_anything_ros/conversions/image_codec.py",
             "    if max_pixels is not None and size is None:",
             "    if False:",
             ("test/test_conversions_camera_formats.py",), "pixel_limit"),
    Mutation("a fit after the held scale expired is gated by the stale state",
             "depth_anything_ros/scale/corrector.py",
             "            if self.filter.stamp_s is not None and stamp_s - self.filter.stamp_s > s.max_age_s:",
             "            if False:",
             ("test/test_scale_corrector.py",), "expired"),
    Mutation("a camera_info's unusable P republished as it came (fx = 0 for image_geometry)",
             "depth_anything_ros/geometry/camera_model.py",
             "    if not _usable_p(p):  # republished",
             "    if False:  # republished",
             ("test/test_geometry_camera_model.py",), "p_from_k"),
    # --- weights and predict ------------------------------------------------------------------
    Mutation("predict writes over its input images",
             "depth_anything_ros/commands/predict.py",
             "            if target in given:",
             "            if False:",
             ("test/test_cli_predict_info.py",), "over_its_inputs"),
    Mutation("a Hugging Face folder takes a contradicting variant",
             "depth_anything_ros/model/hf_checkpoint.py",
             "    _require(variant is None or variant == hf_type, path,",
             "    _require(True, path,",
             ("test/test_model_hf_fidelity.py",), "contradicting"),
    Mutation("NaN weights load",
             "depth_anything_ros/model/checkpoints.py",
             "        if not bool(torch.isfinite(value).all()):",
             "        if False:",
             ("test/test_model_checkpoints.py",), "wrong_kind"),
    Mutation("no limit on an image's aspect ratio",
             "depth_anything_ros/inference/preprocess.py",
             "    if max(height, width) > MAX_ASPECT * min(height, width):",
             "    if False:",
             ("test/test_inference_preprocess.py",), "strip"),
    Mutation("the node loads weights:=~/x without expanding ~",
             "depth_anything_ros/ros/node.py",
             "                os.path.expanduser(s.weights) if s.weights else None,",
             "                s.weights or None,",
             ("test/test_ros_node_end_to_end.py",), "home_folder"),
)


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
    names = [m.name for m in MUTATIONS]
    problems += [f"duplicate mutation name {n!r}" for n in sorted(set(names)) if names.count(n) > 1]
    return problems


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
    if not failed and done.returncode not in (0, 5):
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
