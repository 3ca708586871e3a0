"""`depth-anything-ros bags`: a folder of real bags (sqlite3, MCAP, a lone .mcap and a broken
one) in one process and under torchrun, compared bag by bag with `depth-anything-ros bag`."""
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from bag_helpers import (
    FLOOR_FRAME, depth_messages, save_tiny_model, topic_counts, tree_digest, write_camera_bag,
    write_fleet, write_tf_bag,
)
from depth_anything_ros.bag.errors import BagError
from depth_anything_ros.bag.fleet import FleetBag, find_bags, shard_by_size
from depth_anything_ros.bag.fleet_job import BagRecord
from depth_anything_ros.bag.fleet_summary import summary_dict, table_lines
from depth_anything_ros.bag.options import BagJobOptions
from depth_anything_ros.bag.ranks import Counters, Ranks, Totals, rank_device
from depth_anything_ros.cli import build_parser, main
from depth_anything_ros.commands.bags import merge_gathered

CAM = "/cam/image_raw"
GOOD = ("lone.mcap", "site_a/run1", "site_a/run2")
OUTPUT_OF = {"lone.mcap": "lone", "site_a/run1": "site_a/run1", "site_a/run2": "site_a/run2"}
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    root = tmp_path_factory.mktemp("fleet") / "drives"
    root.mkdir()
    write_fleet(root)
    return root


@pytest.fixture(scope="module")
def reference(fleet, weights, tmp_path_factory):
    """Each good bag through `depth-anything-ros bag`: its depth images."""
    out_root = tmp_path_factory.mktemp("reference")
    depth = {}
    for name in GOOD:
        out = out_root / name.replace("/", "_")
        assert main(["bag", str(fleet / name), str(out), *_job_args(weights)]) == 0
        depth[name] = depth_messages(out)
        assert len(depth[name]) >= 4
    return depth


def _job_args(weights, *extra):
    return ["--image-topic", CAM, "--weights", str(weights), "--device", "cpu",
            "--batch-size", "2", "--quiet", *extra]


def _bags(capsys, src, out, weights, *extra):
    code = main(["bags", str(src), str(out), *_job_args(weights, *extra)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _summary(out) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    return {r["input"]: r for r in summary["records"]} | {"_": summary}


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*")]


def test_bags_are_found_by_folder_or_lone_file_and_named_by_relative_path(tmp_path):
    write_camera_bag(tmp_path / "site" / "r1", frames=1, notes=False)
    (tmp_path / "site" / "r1" / "extra.mcap").write_bytes(b"x")  # part of the bag r1
    (tmp_path / "site" / "x.mcap").write_bytes(b"x")
    (tmp_path / "y.db3").write_bytes(b"x")
    (tmp_path / ".out.abc.partial").mkdir()  # a killed run's staging folder: hidden
    (tmp_path / ".out.abc.partial" / "z.db3").write_bytes(b"x")
    (tmp_path / "site" / ".w.mcap").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not a bag")

    found = [(b.input.relative_to(tmp_path).as_posix(), b.relative.as_posix(), b.size_bytes)
             for b in find_bags(tmp_path)]
    r1_size = sum(p.stat().st_size for p in (tmp_path / "site" / "r1").iterdir())
    assert found == [("site/r1", "site/r1", r1_size), ("site/x.mcap", "site/x", 1),
                     ("y.db3", "y", 1)]

    (tmp_path / "y.mcap").write_bytes(b"x")
    with pytest.raises(BagError, match=r"y.db3 and .*y.mcap would both be written to <out>/y"):
        find_bags(tmp_path)
    (tmp_path / "y.mcap").unlink()
    # `site.db3` beside the folder `site/` of bags: <out>/site would hold <out>/site/x, and a
    # failed site.db3 then looked finished on the next run
    (tmp_path / "site.db3").write_bytes(b"x")
    with pytest.raises(BagError, match=r"site.db3 and .*site/r1 would be written to <out>/site "
                                       r"and <out>/site/r1, one inside the other"):
        find_bags(tmp_path)


def test_an_output_folder_without_metadata_is_not_a_finished_bag(tmp_path):
    from depth_anything_ros.bag.fleet import output_state

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.db3").write_bytes(b"x")
    (bag,) = find_bags(tmp_path / "in")
    out = tmp_path / "out"
    assert output_state(bag, out, None) == "missing"
    (out / "a").mkdir(parents=True)  # e.g. left as the parent of another output
    assert output_state(bag, out, None) == "partial"
    (out / "a" / "metadata.yaml").write_text("rosbag2_bagfile_information: {}")
    assert output_state(bag, out, None) == "complete"


def test_bags_are_shared_out_by_size_so_ranks_finish_together():
    bags = [FleetBag(Path(f"b{i}"), Path(f"b{i}"), size)
            for i, size in enumerate([100, 90, 60, 50, 40, 10, 5])]
    shards = shard_by_size(bags, 2)
    assert [[b.relative.name for b in shard] for shard in shards] == [
        ["b0", "b3", "b4"], ["b1", "b2", "b5", "b6"]]  # 190 and 165 bytes; in path order
    assert [sum(b.size_bytes for b in shard) for shard in shard_by_size(bags, 3)] == [115, 130, 110]
    assert shard_by_size(bags, 1) == [bags] and shard_by_size(bags[:1], 3)[1:] == [[], []]


def test_each_rank_takes_its_own_gpu_and_shares_them_round_robin_when_there_are_more_ranks():
    assert [rank_device("cuda", r, gpus=4) for r in range(6)] == [
        "cuda:0", "cuda:1", "cuda:2", "cuda:3", "cuda:0", "cuda:1"]
    assert rank_device("auto", 3, gpus=2) == "cuda:1" and rank_device("auto", 3, gpus=0) == "cpu"
    assert rank_device("cpu", 1, gpus=2) == "cpu" and rank_device("cuda:1", 0, gpus=2) == "cuda:1"


def test_the_heartbeat_reports_totals_passes_a_strict_stop_on_and_ends_with_the_run():
    """The heartbeat thread is how a --strict failure reaches every rank (`stop_requested`),
    and `finish_progress` is where a run waits for all ranks: once this (only) rank is
    finished it must return the final totals at once, not wait for ranks that do not exist."""
    ranks, seen, counters = Ranks(), [], Counters()
    ranks.start_progress(counters, seen.append)
    counters.bags_done, counters.frames_done, counters.failed = 2, 11, 1
    counters.stop = True  # what a rank's --strict failure sets on its own counters
    deadline = time.monotonic() + 5
    while not ranks.stop_requested:
        assert time.monotonic() < deadline, "a --strict stop never reached stop_requested"
        time.sleep(0.01)
    done = []
    finisher = threading.Thread(target=lambda: done.append(ranks.finish_progress(counters)),
                                daemon=True)
    finisher.start()
    finisher.join(timeout=3 * 0.5 + 2)
    assert done == [Totals(bags_done=2, frames_done=11, failed=1, finished=1, stop=1)]
    assert seen[-1] == done[0] and all(isinstance(t, Totals) for t in seen)


def test_the_summary_and_table_count_this_runs_bags_and_print_each_bags_lines_under_its_row():
    """A re-run with one bag done, one failed and one finished earlier: the earlier one is
    only counted (no row, and its frames are not frames this run wrote), and each bag's error
    and skipped-frame reasons are printed under its own row, not its neighbour's."""
    records = [  # as gathered: not in path order
        BagRecord("c_bad", "c_bad", "failed", frames=0, frames_in=8, seconds=0.5, rank=0,
                  error="none of the 8 frames produced depth",
                  problems=["8 frames skipped: cannot decode image"]),
        BagRecord("b_old", "b_old", "already_done", frames=100),
        BagRecord("a_good", "a_good", "done", frames=5, frames_in=6, frames_skipped=1,
                  seconds=2.0, rank=1, problems=["1 frame skipped: cannot decode image"]),
    ]
    summary = summary_dict(records, in_dir=Path("in"), out_dir=Path("out"),
                           options=BagJobOptions(CAM), world_size=2, seconds=4.0)
    assert summary["bags"] == {"done": 1, "already_done": 1, "failed": 1, "not_run": 0}
    assert (summary["frames_written"], summary["frames_per_second"]) == (5, 1.25)
    assert [r["input"] for r in summary["records"]] == ["a_good", "b_old", "c_bad"]
    assert not summary["ok"] and summary["options"]["image_topic"] == CAM

    lines = table_lines(records, 4.0)
    assert [line.split() for line in (lines[0], lines[1], lines[3])] == [
        ["bag", "status", "frames", "seconds", "frames/s", "rank"],
        ["a_good", "done", "5/6", "2.0", "2.50", "1"],
        ["c_bad", "failed", "0/8", "0.5", "-", "0"]]
    assert lines[2] == "    1 frame skipped: cannot decode image"
    assert lines[4:6] == ["    error: none of the 8 frames produced depth",
                          "    8 frames skipped: cannot decode image"]
    assert lines[6:] == ["1 bag done, 1 failed: 5 frames with depth in 4.0 s, 1.25 frames/s",
                         "1 bag already done, skipped (--overwrite redoes them)",
                         "failed: c_bad"]


def test_bags_takes_every_option_of_bag():
    subparsers = build_parser()._subparsers._group_actions[0].choices
    dests = {name: {a.dest for a in subparsers[name]._actions if a.option_strings}
             for name in ("bag", "bags")}
    assert dests["bag"] == dests["bags"]
    assert {"points_stride", "strict", "overwrite", "verbose"} <= dests["bags"]


def test_bags_in_one_process_equal_bag_bag_by_bag_and_name_the_broken_one(
        tmp_path, fleet, weights, reference, capsys):
    before = tree_digest(fleet)
    out = tmp_path / "out"
    code, stdout, err = _bags(capsys, fleet, out, weights)

    assert code == 1  # one bag failed
    assert "failed: broken.db3" in stdout and "broken.db3: cannot open bag" in stdout
    for name in GOOD:
        assert depth_messages(out / OUTPUT_OF[name]) == reference[name], name
    records = _summary(out)
    assert {name: records[name]["status"] for name in GOOD} == dict.fromkeys(GOOD, "done")
    assert records["broken.db3"]["status"] == "failed"
    assert "not a database" in records["broken.db3"]["error"]
    assert records["site_a/run1"]["frames"] == 6 and records["lone.mcap"]["frames"] == 5
    assert not records["_"]["ok"] and records["_"]["bags"]["failed"] == 1
    model = records["_"]["model"]  # which model made these outputs
    assert model["weights"] == str(weights)
    assert model["sha256"] == hashlib.sha256(Path(weights).read_bytes()).hexdigest()
    assert model["resolved"]["encoder"] == "vitpico" and model["device"] == "cpu"
    assert not _leftovers(out) and not (out / "broken").exists()
    assert tree_digest(fleet) == before


def test_bags_under_torchrun_shares_the_bags_between_two_ranks_with_the_same_depth(
        tmp_path, fleet, weights, reference):
    out = tmp_path / "out"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "OMP_NUM_THREADS": str(torch.get_num_threads())}  # as the reference: same sums
    result = subprocess.run(
        [str(BIN / "torchrun"), "--standalone", "--nproc_per_node", "2", "--no-python",
         "depth-anything-ros", "bags", str(fleet), str(out), *_job_args(weights)],
        capture_output=True, text=True, env=env, timeout=240)

    assert result.returncode != 0, result.stderr[-3000:]
    assert "failed: broken.db3" in result.stdout, result.stdout + result.stderr[-3000:]
    assert "on 2 processes" in result.stdout
    records = _summary(out)
    assert records["_"]["world_size"] == 2
    assert {records[name]["rank"] for name in (*GOOD, "broken.db3")} == {0, 1}
    assert records["_"]["model"]["resolved"]["encoder"] == "vitpico"
    for name in GOOD:
        assert records[name]["status"] == "done"
        assert depth_messages(out / OUTPUT_OF[name]) == reference[name], name
    assert records["broken.db3"]["status"] == "failed"
    assert not _leftovers(out)


def test_a_rerun_skips_finished_bags_and_overwrite_redoes_them(tmp_path, fleet, weights, capsys):
    out = tmp_path / "out"
    assert _bags(capsys, fleet, out, weights)[0] == 1
    inodes = {name: (out / OUTPUT_OF[name]).stat().st_ino for name in GOOD}
    digests = {name: tree_digest(out / OUTPUT_OF[name]) for name in GOOD}

    code, stdout, _ = _bags(capsys, fleet, out, weights)
    assert code == 1  # the broken bag is tried again, and fails again
    assert "3 of 4 bags already done, skipping them" in stdout and "1 bag to run" in stdout
    records = _summary(out)
    assert [records[name]["status"] for name in GOOD] == ["already_done"] * 3
    assert records["site_a/run1"]["frames"] == 6  # read back from the finished bag
    assert {name: (out / OUTPUT_OF[name]).stat().st_ino for name in GOOD} == inodes
    assert {name: tree_digest(out / OUTPUT_OF[name]) for name in GOOD} == digests

    code, stdout, _ = _bags(capsys, fleet, out, weights, "--overwrite")
    assert "already done" not in stdout and "4 bags to run" in stdout
    assert all(_summary(out)[name]["status"] == "done" for name in GOOD)
    assert all((out / OUTPUT_OF[name]).stat().st_ino != inodes[name] for name in GOOD)


def test_a_rerun_with_every_bag_done_keeps_the_model_that_made_the_outputs(tmp_path, capsys):
    """A run that has nothing to do loads no model and makes nothing: summary.json keeps the
    previous run's model block (file, sha256, options, what it resolved to), whatever this
    invocation names, even the same path retrained; a run that makes outputs replaces it."""
    src, out = tmp_path / "in", tmp_path / "out"
    weights = save_tiny_model(tmp_path / "model.safetensors")
    write_camera_bag(src / "only", frames=2, notes=False)
    assert _bags(capsys, src, out, weights)[0] == 0
    first = _summary(out)["_"]["model"]
    assert first["resolved"]["encoder"] == "vitpico"

    code, stdout, _ = _bags(capsys, src, out, weights)
    assert code == 0 and "0 bags to run" in stdout
    assert _summary(out)["_"]["model"] == first
    assert _bags(capsys, src, out, weights, "--backend", "torch")[0] == 0
    assert _summary(out)["_"]["model"] == first  # the outputs were not made on torch
    save_tiny_model(weights, seed=1)  # retrained at the same path
    assert _bags(capsys, src, out, weights)[0] == 0
    assert _summary(out)["_"]["model"] == first  # nor by the new file

    assert _bags(capsys, src, out, weights, "--overwrite", "--backend", "torch")[0] == 0
    model = _summary(out)["_"]["model"]
    assert model["sha256"] != first["sha256"] and model["resolved"]["backend"] == "torch"


def test_the_resolved_model_comes_from_the_lowest_rank_that_loaded_one():
    """Under torchrun rank 0 may have had no bags (and no model); every rank's records are kept
    in rank order."""
    gathered = [([], None), (["b1"], {"device": "cuda:1"}), (["b2", "b3"], {"device": "cuda:2"})]
    assert merge_gathered(gathered) == (["b1", "b2", "b3"], {"device": "cuda:1"})
    assert merge_gathered([([], None), ([], None)]) == ([], None)


def test_a_bag_without_any_usable_frame_fails_with_its_reasons_counted_like_bag(
        tmp_path, weights, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    write_camera_bag(src / "good", frames=3, corrupt={1: "short_data"})
    write_camera_bag(src / "unusable", frames=8, corrupt=dict.fromkeys(range(8), "short_data"))
    code, stdout, _ = _bags(capsys, src, out, weights)

    assert code == 1
    records = _summary(out)
    assert records["good"]["status"] == "done" and records["good"]["frames_skipped"] == 1
    assert records["good"]["problems"][0].startswith("1 frame skipped: cannot decode image")
    unusable = records["unusable"]
    assert unusable["status"] == "failed" and unusable["frames"] == 0 and unusable["frames_in"] == 8
    assert "none of the 8 frames on /cam/image_raw produced depth" in unusable["error"]
    assert unusable["problems"] == [line for line in unusable["problems"]
                                    if line.startswith("8 frames skipped: cannot decode image")]
    assert len(unusable["problems"]) == 1
    assert "    8 frames skipped: cannot decode image" in stdout  # under its row of the table
    assert not (out / "unusable").exists() and not _leftovers(out)


def test_strict_stops_at_the_first_failed_bag(tmp_path, fleet, weights, capsys):
    out = tmp_path / "out"
    code, stdout, _ = _bags(capsys, fleet, out, weights, "--strict")
    assert code == 1
    records = _summary(out)
    assert records["broken.db3"]["status"] == "failed"  # first in path order
    assert [records[name]["status"] for name in GOOD] == ["not_run"] * 3
    assert "3 not run (--strict)" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]


def test_a_killed_run_leaves_no_half_output_and_a_rerun_completes(tmp_path, weights):
    src, out = tmp_path / "in", tmp_path / "out"
    write_camera_bag(src / "a_short", frames=3, notes=False)
    write_camera_bag(src / "b_long", frames=120, notes=False, storage="mcap")
    command = [sys.executable, "-m", "depth_anything_ros.cli", "bags", str(src), str(out),
               *_job_args(weights), "--batch-size", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 120
    while not ((out / "a_short").exists() and list(out.glob(".b_long.*.partial/b_long/*"))):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)  # no chance to clean up
    proc.communicate(timeout=60)
    assert not (out / "b_long").exists()  # nothing half-written at a final path
    assert _leftovers(out)  # only a hidden staging folder, which the re-run removes

    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "1 of 2 bags already done" in result.stdout
    assert "removed 1 leftovers of an interrupted run" in result.stdout
    assert topic_counts(out / "b_long")["/cam/depth/image"] == 120
    assert not _leftovers(out)
    assert _summary(out)["b_long"]["status"] == "done"


def test_each_robot_of_a_fleet_gets_the_ground_plane_of_its_own_mount(tmp_path, weights,
                                                                     capsys):
    """`bags --ground-frame`: every bag reads its camera's mount from its own /tf_static, so a
    fleet of robots with cameras at different heights needs no per-robot option; summary.json
    records each bag's mount, and `bag` prints it as the node's parameters."""
    for name, height in (("tall", 1.2), ("short", 0.5)):
        write_tf_bag(tmp_path / "robots" / name, height, frames=2)
    code, stdout, err = _bags(capsys, tmp_path / "robots", tmp_path / "out", weights,
                              "--ground-frame", FLOOR_FRAME)
    assert code == 0, stdout + err
    records = _summary(tmp_path / "out")
    mount = "base_footprint → cam_optical_frame: camera_height {} m, camera_pitch_deg 90.0, " \
            "camera_roll_deg 0.0"
    assert records["tall"]["camera_mounts"] == [mount.format("1.200")]
    assert records["short"]["camera_mounts"] == [mount.format("0.500")]
    code = main(["bag", str(tmp_path / "robots" / "short"), str(tmp_path / "one"),
                 *_job_args(weights, "--ground-frame", FLOOR_FRAME)])
    stdout = capsys.readouterr().out
    assert code == 0
    assert f"camera mount from the static transforms: {mount.format('0.500')}" in stdout


def test_missing_or_empty_input_folder_is_a_one_line_error(tmp_path, weights, capsys):
    code, _, err = _bags(capsys, tmp_path / "nope", tmp_path / "out", weights)
    assert code == 2 and "input folder" in err and "does not exist" in err
    (tmp_path / "empty").mkdir()
    code, _, err = _bags(capsys, tmp_path / "empty", tmp_path / "out", weights)
    assert code == 2 and "no bags found" in err and err.count("\n") == 1


def test_a_relative_model_is_refused_in_one_line_before_any_bag(tmp_path, fleet, capsys):
    """Bag jobs write metres: a relative (disparity) checkpoint is one clear error up front,
    not every bag of the fleet failing on its own with the same reason."""
    weights = save_tiny_model(tmp_path / "relative.safetensors", variant="relative")
    out = tmp_path / "out"
    code, _, err = _bags(capsys, fleet, out, weights)
    assert code == 2 and "relative disparity" in err and err.count("\n") == 1
    assert not out.exists() or list(out.iterdir()) == []  # no bag output, no summary.json


def test_an_export_folder_inside_the_output_folder_is_refused_before_any_bag(tmp_path, fleet,
                                                                               weights, capsys):
    """One clear line up front, not every bag failing on its own (or an export tree mixed
    into the fleet's outputs)."""
    out = tmp_path / "out"
    code, stdout, err = _bags(capsys, fleet, out, weights, "--export-dir", str(out / "frames"))
    assert code == 2
    assert f"export folder {out / 'frames'} overlaps the output folder {out}" in err
    assert not out.exists()
